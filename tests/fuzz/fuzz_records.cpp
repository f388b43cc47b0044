// Fuzz target: JSON record payloads, the way a server or `cairn put` hands
// them to the library.
//
// Proves: for any bytes, parsing them as JSON (plain nlohmann::json::parse,
// whose parser is iterative: no depth guard in front of the library), reading
// a record with from_json and writing it with put/create either fails with a
// cairn::Error that fits the call (invalid_argument, constraint...), or
// stores a record that reads back exactly as put() returned it:
//   - get(), find() and the store's list() give the same JSON, byte for byte;
//   - the change-log event's `after` image is that same JSON;
//   - to_json -> from_json -> to_json is the identity on it;
//   - the kind's queries agree with it: apps by pool (the membership index)
//     and their counts, pools by type, blocks by pool and type;
//   - a second put of an edited copy (an app leaves a pool, a block moves to
//     another pool...) keeps created_at (and an app's `registered`), raises
//     the revision, bumps a memory block's version by one, and the queries
//     follow the move.
// Anything else escaping the library (nlohmann exceptions, std::out_of_range,
// a crash, a sanitizer report) is a finding.
//
// Input layout: byte 0 picks the record kind (below 0x80, b % 4: app, pool,
// memory_block, config; from 0x80, b % 4: torrent, kv entry, torrent session,
// torrent session) and what to do with it ((b >> 2) % 4: put; put an edited
// copy after it; create then remove; put then remove). The rest is the JSON text. So the
// seed "0{\"id\":\"a\"}" puts an app. One in-memory registry per process,
// reused across inputs, holds the pools "p", "pool" and "default" for blocks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "fuzz_common.h"

namespace {

using cairn::errc;
using nlohmann::json;

// Codes a write of parsed input may fail with in an in-memory registry:
// validation, a missing pool, create() of a present key.
// conflict: a KV or session "create" (a write expecting no record) of one
// that exists.
constexpr std::initializer_list<errc> kWriteErrors = {errc::invalid_argument, errc::constraint,
                                                      errc::already_exists, errc::conflict};

// max_json_bytes is lowered from 64 KiB to 4 KiB so that inputs at and beyond
// the size limit stay small enough to mutate quickly; the check is the same.
constexpr std::size_t kMaxJsonBytes = 4096;

cairn::Registry& registry() {
  static cairn::Registry reg = [] {
    cairn::Options options = fuzz::fuzz_options();
    options.max_json_bytes = kMaxJsonBytes;
    cairn::Registry r = cairn::Registry::open_in_memory(options);
    for (const char* name : {"p", "pool", "default"}) r.pools().put(cairn::Pool{.name = name});
    return r;
  }();
  return reg;
}

// A string that sorts right before `key` with no valid key in between, so
// that list(after = it, limit = 1) must return `key`: the last byte lowered by
// one, then 0xff (a byte no key may hold). Keys sort bytewise.
std::string key_before(const std::string& key) {
  std::string before = key;
  before.back() = static_cast<char>(before.back() - 1);
  return before + '\xff';
}

const std::string& key_of(const cairn::App& r) { return r.id; }
const std::string& key_of(const cairn::Pool& r) { return r.name; }
const std::string& key_of(const cairn::MemoryBlock& r) { return r.id; }
const std::string& key_of(const cairn::Torrent& r) { return r.info_hash; }

// Whether `q` (a query with after and limit) finds the record keyed `key`,
// asked for exactly that key's position; and, when the query matches few
// records, that count() agrees with the full list.
template <class Store, class Query>
bool query_finds(const Store& store, Query q, const std::string& key) {
  const auto counted = *fuzz::call("count(query)", {}, [&] { return store.count(q); });
  if (counted <= 100) {
    auto all = fuzz::call("list(query)", {}, [&] { return store.list(q); });
    fuzz::check(all->size() == counted, "count(query) differs from list(query).size()");
  }
  q.after = key_before(key);
  q.limit = 1;
  auto one = fuzz::call("list(query after)", {}, [&] { return store.list(q); });
  if (one->empty()) return false;
  fuzz::check(std::string_view(key_before(key)) < key_of(one->front()),
              "list(query) is not after `after`");
  return key_of(one->front()) == key;
}

template <class R>
json to_json_of(const R& r) {
  json j;
  to_json(j, r);
  return j;
}

// The verbs every keyed store shares; a kind's traits inherit them and
// override what differs (KV entries and the torrent session).
template <class K>
struct Keyed {
  static constexpr bool listable = true;
  template <class R>
  static R write(const R& r, bool create_first) {
    return create_first ? K::store().create(r) : K::store().put(r);
  }
  static auto get(const std::string& key) { return K::store().get(key); }
  static auto find(const std::string& key) { return K::store().find(key); }
  static bool remove(const std::string& key) { return K::store().remove(key); }
  template <class R>
  static std::string event_id(const R& r) {
    return K::key(r);
  }
  template <class... A>
  static std::vector<std::string> refs(const A&...) {
    return {};
  }
  template <class... A>
  static void check_second_put(const A&...) {}
  template <class... A>
  static void check_queries(const A&...) {}
  // The change event's image of a record: its JSON form.
  template <class R>
  static json event_image(const R& r) {
    return to_json_of(r);
  }
};

// Per record kind: the store, the key, an edit for the second write, and the
// kind's queries, which must agree with the stored record.
struct Apps : Keyed<Apps> {
  using Record = cairn::App;
  static cairn::AppStore store() { return registry().apps(); }
  static const std::string& key(const Record& r) { return r.id; }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::AppQuery{.after = after, .limit = 1});
  }
  // Drops the last pool (or joins "p"), so the membership index changes.
  static void edit(Record& r) {
    if (r.pools.empty()) {
      r.pools = {"p"};
    } else {
      r.pools.pop_back();
    }
  }
  // The membership index agrees with pools[]: the query by pool (and its count)
  // find the app in each of its pools, and not in `left` (pools it left).
  static void check_queries(const Record& r, const std::vector<std::string>& left) {
    for (const auto& pool : r.pools) {
      fuzz::check(query_finds(store(), cairn::AppQuery{.pool = pool}, r.id),
                  "app: the query by pool \"" + pool + "\" misses it");
    }
    for (const auto& pool : left) {
      if (std::find(r.pools.begin(), r.pools.end(), pool) != r.pools.end()) continue;
      fuzz::check(!query_finds(store(), cairn::AppQuery{.pool = pool}, r.id),
                  "app: the query by pool \"" + pool + "\" still finds it after it left");
    }
  }
  static std::vector<std::string> refs(const Record& r) { return r.pools; }
  static void check_second_put(const Record& first, const Record& second) {
    fuzz::check(second.registered == first.registered, "app: registered changed on update");
  }
};

struct Pools : Keyed<Pools> {
  using Record = cairn::Pool;
  static cairn::PoolStore store() { return registry().pools(); }
  static const std::string& key(const Record& r) { return r.name; }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::PoolQuery{.after = after, .limit = 1});
  }
  static void edit(Record& r) {
    r.type = r.type == cairn::PoolType::local ? cairn::PoolType::global : cairn::PoolType::local;
  }
  static void check_queries(const Record& r, const std::vector<std::string>&) {
    fuzz::check(query_finds(store(), cairn::PoolQuery{.type = r.type}, r.name),
                "pool: the query by type misses it");
    fuzz::check(r.type != cairn::PoolType::encrypted || r.encrypted,
                "pool: type encrypted stored with encrypted = false");
  }
};

struct Blocks : Keyed<Blocks> {
  using Record = cairn::MemoryBlock;
  static cairn::MemoryBlockStore store() { return registry().blocks(); }
  static const std::string& key(const Record& r) { return r.id; }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::MemoryBlockQuery{.after = after, .limit = 1});
  }
  // Moves the block to another existing pool, and changes its type.
  static void edit(Record& r) {
    r.pool = r.pool == "p" ? "pool" : "p";
    r.type = r.type == cairn::BlockType::binary ? cairn::BlockType::json : cairn::BlockType::binary;
  }
  static void check_queries(const Record& r, const std::vector<std::string>& left) {
    for (const auto& q : {cairn::MemoryBlockQuery{.pool = r.pool},
                          cairn::MemoryBlockQuery{.pool = r.pool, .type = r.type},
                          cairn::MemoryBlockQuery{.type = r.type}}) {
      fuzz::check(query_finds(store(), q, r.id), "memory_block: a query by pool/type misses it");
    }
    for (const auto& pool : left) {
      if (pool == r.pool) continue;
      fuzz::check(!query_finds(store(), cairn::MemoryBlockQuery{.pool = pool}, r.id),
                  "memory_block: the query by its old pool still finds it");
    }
  }
  static std::vector<std::string> refs(const Record& r) { return {r.pool}; }
  static void check_second_put(const Record& first, const Record& second) {
    fuzz::check(second.version == first.version + 1,
                "memory_block: version " + std::to_string(first.version) + " then " +
                    std::to_string(second.version) + " on update");
  }
};

struct Configs : Keyed<Configs> {
  using Record = cairn::ConfigEntry;
  static cairn::ConfigStore store() { return registry().config(); }
  static const std::string& key(const Record& r) { return r.key; }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::ConfigQuery{.after = after, .limit = 1});
  }
  // null <-> 1: always within the limits.
  static void edit(Record& r) { r.value = r.value.is_null() ? json(1) : json(nullptr); }
  static void check_queries(const Record& r, const std::vector<std::string>&) {
    auto loaded = fuzz::call("config load", {}, [&] { return store().load(r.key); });
    fuzz::check(loaded->has_value() && fuzz::text(**loaded) == fuzz::text(r.value),
                "config: load() differs from the stored value");
  }
};

struct Torrents : Keyed<Torrents> {
  using Record = cairn::Torrent;
  // Change events carry the metainfo's size, not the bytes (lib/records/records_json.h:
  // a counter update must not copy a 16 MiB .torrent into the change log).
  static json event_image(const Record& r) {
    json j = to_json_of(r);
    j.erase("metainfo_base64");
    j["metainfo_bytes"] = r.metainfo.size();
    return j;
  }
  static cairn::TorrentStore store() { return registry().torrents(); }
  static const std::string& key(const Record& r) { return r.info_hash; }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::TorrentQuery{.after = after, .limit = 1});
  }
  // Counters change, the state stays (always an allowed change).
  static void edit(Record& r) {
    r.downloaded = r.downloaded == 0 ? 1 : 0;
    r.trackers.push_back({"udp://tracker.example:6969/announce"});
  }
  static void check_queries(const Record& r, const std::vector<std::string>&) {
    fuzz::check(query_finds(store(), cairn::TorrentQuery{.state = r.state}, r.info_hash),
                "torrent: the query by state misses it");
  }
};

// KV entries: written with put(key, value) into the entry's namespace (a
// "create" is a put that expects the entry absent). expires_at and version
// in the input are the registry's to set, like timestamps: TTLs are left out
// because expiry follows the clock.
struct Kvs {
  using Record = cairn::KvEntry;
  static inline std::string name_space{};
  static constexpr bool listable = true;
  static cairn::KvStore store() { return registry().kv(name_space); }
  static const std::string& key(const Record& r) { return r.key; }
  static Record write(const Record& r, bool create_first) {
    name_space = r.name_space;
    cairn::KvWriteOptions options;
    if (create_first) options.expect_version = 0;
    return store().put(r.key, r.value, options);
  }
  static Record get(const std::string& key) { return store().get(key); }
  static std::optional<Record> find(const std::string& key) { return store().find(key); }
  static bool remove(const std::string& key) { return store().erase(key); }
  static std::string event_id(const Record& r) { return r.name_space + "/" + r.key; }
  static json event_image(const Record& r) { return to_json_of(r); }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::KvQuery{.after = after, .limit = 1});
  }
  static void edit(Record& r) { r.value = r.value.empty() ? "x" : ""; }
  static std::vector<std::string> refs(const Record&) { return {}; }
  static void check_second_put(const Record& first, const Record& second) {
    fuzz::check(second.version == first.version + 1, "kv: version did not go up by one");
  }
  static void check_queries(const Record& r, const std::vector<std::string>&) {
    auto listed = fuzz::call("kv list(prefix)", {}, [&] {
      return store().list(cairn::KvQuery{.prefix = r.key, .limit = 1});
    });
    fuzz::check(listed->size() == 1 && listed->front().key == r.key,
                "kv: list(prefix = key) does not start with it");
    auto exists = fuzz::call("kv exists", {}, [&] { return store().exists(r.key); });
    fuzz::check(*exists, "kv: exists() is false for a stored entry");
  }
};

// The torrent session: one document, saved and loaded whole.
struct Sessions {
  using Record = cairn::TorrentSession;
  static constexpr bool listable = false;
  static cairn::TorrentSessionStore store() { return registry().torrent_session(); }
  static const std::string& key(const Record&) {
    static const std::string kKey = "session";
    return kKey;
  }
  static Record write(const Record& r, bool create_first) {
    if (create_first) return store().save(r, cairn::Expect{.revision = 0});
    return store().save(r);
  }
  static Record get(const std::string&) { return store().load(); }
  static std::optional<Record> find(const std::string&) { return store().find(); }
  static std::string event_id(const Record&) { return "session"; }
  static json event_image(const Record& r) { return to_json_of(r); }
  static std::vector<Record> list_from(const std::string&) { return {}; }
  static void edit(Record& r) { r.peer_port = r.peer_port == 1 ? 2 : 1; }
  static std::vector<std::string> refs(const Record&) { return {}; }
  static void check_second_put(const Record&, const Record&) {}
  static void check_queries(const Record&, const std::vector<std::string>&) {}
};

// Everything that reads the stored record back agrees with what the write
// returned.
template <class K>
void check_reads(const typename K::Record& stored, const char* verb) {
  const std::string& key = K::key(stored);
  const std::string expected = fuzz::text(to_json_of(stored));
  const std::string who = std::string(verb) + " \"" + fuzz::shown(key) + "\": ";

  auto got = fuzz::call("get", {}, [&] { return K::get(key); });
  fuzz::check(fuzz::text(to_json_of(*got)) == expected,
              who + "get() returned\n  " + fuzz::text(to_json_of(*got)) +
                  "\nbut the write returned\n  " + expected);

  auto found = fuzz::call("find", {}, [&] { return K::find(key); });
  fuzz::check(found->has_value(), who + "find() found nothing");
  fuzz::check(fuzz::text(to_json_of(**found)) == expected, who + "find() differs from get()");

  if constexpr (K::listable) {
    auto listed = fuzz::call("list", {}, [&] { return K::list_from(key_before(key)); });
    fuzz::check(listed->size() == 1 && K::key(listed->front()) == key,
                who + "list(after = the key before it, limit 1) did not return it");
    fuzz::check(fuzz::text(to_json_of(listed->front())) == expected,
                who + "list() differs from get()");
  }

  // The change log's image of the write is the record's JSON form (for a
  // torrent, with the metainfo's size in place of its bytes).
  auto events = fuzz::call("changes", {}, [&] { return registry().changes(stored.revision); });
  bool seen = false;
  for (const auto& e : *events) {
    if (e.id != K::event_id(stored)) continue;
    seen = true;
    fuzz::check(e.after.has_value(), who + "the change event has no after image");
    const std::string image = fuzz::text(K::event_image(stored));
    fuzz::check(fuzz::text(*e.after) == image, who + "the change event's after image\n  " +
                                                   fuzz::text(*e.after) +
                                                   "\ndiffers from the record's\n  " + image);
  }
  fuzz::check(seen, who + "no change event for the write");

  // The JSON form reads back as the same record.
  typename K::Record again;
  auto read = fuzz::call("from_json of to_json", {}, [&] {
    from_json(to_json_of(stored), again);
    return true;
  });
  fuzz::check(read.has_value() && fuzz::text(to_json_of(again)) == expected,
              who + "from_json(to_json(record)) is not the record");
}

template <class K>
void run(const json& input, unsigned mode) {
  using Record = typename K::Record;
  Record record;
  auto parsed = fuzz::call("from_json", {errc::invalid_argument}, [&] {
    from_json(input, record);
    return true;
  });
  if (!parsed) return;

  const bool create_first = mode == 2;
  auto first = fuzz::call(create_first ? "create" : "put", kWriteErrors,
                          [&] { return K::write(record, create_first); });
  if (!first) return;
  fuzz::check(K::key(*first) == K::key(record), "the write changed the key");
  fuzz::check(first->revision == registry().revision(),
              "the write's revision is not the registry's last revision");
  check_reads<K>(*first, create_first ? "create" : "put");
  K::check_queries(*first, {});

  if (mode == 1) {
    Record edited = *first;
    K::edit(edited);
    auto second = fuzz::call("second put", {}, [&] { return K::write(edited, false); });
    fuzz::check(second->revision > first->revision, "a second put did not raise the revision");
    fuzz::check(second->created_at == first->created_at, "a second put changed created_at");
    K::check_second_put(*first, *second);
    check_reads<K>(*second, "second put");
    K::check_queries(*second, K::refs(*first));
  }
  // The torrent session is a singleton: nothing to remove.
  if constexpr (!std::is_same_v<K, Sessions>) {
    if (mode >= 2) {
      auto removed = fuzz::call("remove", {}, [&] { return K::remove(K::key(record)); });
      fuzz::check(*removed, "remove() of a stored record returned false");
      auto found = fuzz::call("find", {}, [&] { return K::find(K::key(record)); });
      fuzz::check(!found->has_value(), "find() still sees a removed record");
      if constexpr (std::is_same_v<K, Apps>) {
        for (const auto& pool : first->pools) {
          fuzz::check(!query_finds(K::store(), cairn::AppQuery{.pool = pool}, first->id),
                      "app: the query by pool still finds a removed app");
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const unsigned selector = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  // The caller's parse, as a user would write it. A parse error is the
  // caller's business, not the library's.
  const json input = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (input.is_discarded()) return 0;

  const unsigned mode = (selector >> 2) % 4;
  switch (selector % 4 + (selector >= 0x80 ? 4 : 0)) {
    case 0:
      run<Apps>(input, mode);
      break;
    case 1:
      run<Pools>(input, mode);
      break;
    case 2:
      run<Blocks>(input, mode);
      break;
    case 3:
      run<Configs>(input, mode);
      break;
    case 4:
      run<Torrents>(input, mode);
      break;
    case 5:
      run<Kvs>(input, mode);
      break;
    default:
      run<Sessions>(input, mode);
      break;
  }

  // Keep the in-memory change log short over millions of inputs.
  static unsigned runs = 0;
  if (++runs % 1000 == 0) {
    fuzz::call("compact_change_log", {}, [] { return registry().compact_change_log(); });
  }
  return 0;
}
