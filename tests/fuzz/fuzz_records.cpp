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
// Input layout: byte 0 picks the record kind (b % 4: app, pool,
// memory_block, config) and what to do with it ((b >> 2) % 4: put; put twice;
// create then remove; put then remove). The rest is the JSON text. So the
// seed "0{\"id\":\"a\"}" puts an app. One in-memory registry per process,
// reused across inputs, holds the pools "p", "pool" and "default" for blocks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <string_view>
#include <vector>

#include "fuzz_common.h"

namespace {

using cairn::errc;
using nlohmann::json;

// Codes a write of parsed input may fail with in an in-memory registry:
// validation, a missing pool, create() of a present key.
constexpr std::initializer_list<errc> kWriteErrors = {errc::invalid_argument, errc::constraint,
                                                      errc::already_exists};

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
  fuzz::check(std::string_view(key_before(key)) < key_of(one->front()), "list(query) is not after `after`");
  return key_of(one->front()) == key;
}


// Per record kind: the store, the key, an edit for the second write, and the
// kind's queries, which must agree with the stored record.
struct Apps {
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

struct Pools {
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
  static std::vector<std::string> refs(const Record&) { return {}; }
  static void check_second_put(const Record&, const Record&) {}
};

struct Blocks {
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

struct Configs {
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
  static std::vector<std::string> refs(const Record&) { return {}; }
  static void check_second_put(const Record&, const Record&) {}
};

template <class R>
json to_json_of(const R& r) {
  json j;
  to_json(j, r);
  return j;
}

// Everything that reads the stored record back agrees with what the write
// returned.
template <class K>
void check_reads(const typename K::Record& stored, const char* verb) {
  const std::string& key = K::key(stored);
  const std::string expected = fuzz::text(to_json_of(stored));
  const std::string who = std::string(verb) + " \"" + fuzz::shown(key) + "\": ";

  auto got = fuzz::call("get", {}, [&] { return K::store().get(key); });
  fuzz::check(fuzz::text(to_json_of(*got)) == expected,
              who + "get() returned\n  " + fuzz::text(to_json_of(*got)) + "\nbut the write returned\n  " +
                  expected);

  auto found = fuzz::call("find", {}, [&] { return K::store().find(key); });
  fuzz::check(found->has_value(), who + "find() found nothing");
  fuzz::check(fuzz::text(to_json_of(**found)) == expected, who + "find() differs from get()");

  auto listed = fuzz::call("list", {}, [&] { return K::list_from(key_before(key)); });
  fuzz::check(listed->size() == 1 && K::key(listed->front()) == key,
              who + "list(after = the key before it, limit 1) did not return it");
  fuzz::check(fuzz::text(to_json_of(listed->front())) == expected, who + "list() differs from get()");

  // The change log's image of the write is the record's JSON form.
  auto events = fuzz::call("changes", {}, [&] { return registry().changes(stored.revision); });
  bool seen = false;
  for (const auto& e : *events) {
    if (e.id != key) continue;
    seen = true;
    fuzz::check(e.after.has_value(), who + "the change event has no after image");
    fuzz::check(fuzz::text(*e.after) == expected,
                who + "the change event's after image\n  " + fuzz::text(*e.after) +
                    "\ndiffers from the record\n  " + expected);
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
  auto first = fuzz::call(create_first ? "create" : "put", kWriteErrors, [&] {
    return create_first ? K::store().create(record) : K::store().put(record);
  });
  if (!first) return;
  fuzz::check(K::key(*first) == K::key(record), "the write changed the key");
  fuzz::check(first->revision == registry().revision(),
              "the write's revision is not the registry's last revision");
  check_reads<K>(*first, create_first ? "create" : "put");
  K::check_queries(*first, {});

  if (mode == 1) {
    Record edited = *first;
    K::edit(edited);
    auto second = fuzz::call("second put", {}, [&] { return K::store().put(edited); });
    fuzz::check(second->revision > first->revision, "a second put did not raise the revision");
    fuzz::check(second->created_at == first->created_at, "a second put changed created_at");
    K::check_second_put(*first, *second);
    check_reads<K>(*second, "second put");
    K::check_queries(*second, K::refs(*first));
  }
  if (mode >= 2) {
    auto removed = fuzz::call("remove", {}, [&] { return K::store().remove(K::key(record)); });
    fuzz::check(*removed, "remove() of a stored record returned false");
    auto found = fuzz::call("find", {}, [&] { return K::store().find(K::key(record)); });
    fuzz::check(!found->has_value(), "find() still sees a removed record");
    if constexpr (std::is_same_v<K, Apps>) {
      for (const auto& pool : first->pools) {
        fuzz::check(!query_finds(K::store(), cairn::AppQuery{.pool = pool}, first->id),
                    "app: the query by pool still finds a removed app");
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
  switch (selector % 4) {
    case 0: run<Apps>(input, mode); break;
    case 1: run<Pools>(input, mode); break;
    case 2: run<Blocks>(input, mode); break;
    default: run<Configs>(input, mode); break;
  }

  // Keep the in-memory change log short over millions of inputs.
  static unsigned runs = 0;
  if (++runs % 1000 == 0) {
    fuzz::call("compact_change_log", {}, [] { return registry().compact_change_log(); });
  }
  return 0;
}
