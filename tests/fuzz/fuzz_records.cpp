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
//   - a second put keeps created_at (and an app's `registered`), raises the
//     revision, and bumps a memory block's version by one.
// Anything else escaping the library (nlohmann exceptions, std::out_of_range,
// a crash, a sanitizer report) is a finding.
//
// Input layout: byte 0 picks the record kind (b % 4: app, pool,
// memory_block, config) and what to do with it ((b >> 2) % 4: put; put twice;
// create then remove; put then remove). The rest is the JSON text. So the
// seed "0{\"id\":\"a\"}" puts an app. One in-memory registry per process,
// reused across inputs, holds the pools "p", "pool" and "default" for blocks.
#include <cstddef>
#include <cstdint>
#include <string>
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

// Per record kind: the store, the key, and the kind-specific checks.
struct Apps {
  using Record = cairn::App;
  static cairn::AppStore store() { return registry().apps(); }
  static const std::string& key(const Record& r) { return r.id; }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::AppQuery{.after = after, .limit = 1});
  }
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
  static void check_second_put(const Record&, const Record&) {}
};

struct Blocks {
  using Record = cairn::MemoryBlock;
  static cairn::MemoryBlockStore store() { return registry().blocks(); }
  static const std::string& key(const Record& r) { return r.id; }
  static std::vector<Record> list_from(const std::string& after) {
    return store().list(cairn::MemoryBlockQuery{.after = after, .limit = 1});
  }
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
  static void check_second_put(const Record& first, const Record& second) {
    auto loaded = fuzz::call("config load", {}, [&] { return store().load(first.key); });
    fuzz::check(loaded && *loaded && fuzz::text(**loaded) == fuzz::text(second.value),
                "config: load() differs from the stored value");
  }
};

// A string that sorts right before `key` with no valid key in between, so
// that list(after = it, limit = 1) must return `key`: the last byte lowered by
// one, then 0xff (a byte no key may hold). Keys sort bytewise.
std::string key_before(const std::string& key) {
  std::string before = key;
  before.back() = static_cast<char>(before.back() - 1);
  return before + '\xff';
}

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

  if (mode == 1) {
    auto second = fuzz::call("second put", {}, [&] { return K::store().put(record); });
    fuzz::check(second->revision > first->revision, "a second put did not raise the revision");
    fuzz::check(second->created_at == first->created_at, "a second put changed created_at");
    K::check_second_put(*first, *second);
    check_reads<K>(*second, "second put");
  }
  if (mode >= 2) {
    auto removed = fuzz::call("remove", {}, [&] { return K::store().remove(K::key(record)); });
    fuzz::check(*removed, "remove() of a stored record returned false");
    auto found = fuzz::call("find", {}, [&] { return K::store().find(K::key(record)); });
    fuzz::check(!found->has_value(), "find() still sees a removed record");
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
