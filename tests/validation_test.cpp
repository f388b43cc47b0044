// What a careless or hostile caller sends, for every kind of record. Each
// must be refused with errc::invalid_argument and a message that names the
// record and the field, before anything is written.
#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::App;
using cairn::BlockType;
using cairn::ConfigEntry;
using cairn::errc;
using cairn::MemoryBlock;
using cairn::Pool;
using cairn::PoolType;
using nlohmann::json;
using test::make_app;

namespace {

// True when `word` occurs in `text` as a whole word ("id" is not in "invalid").
bool mentions(std::string_view text, std::string_view word) {
  auto is_word_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
  };
  for (auto pos = text.find(word); pos != std::string_view::npos; pos = text.find(word, pos + 1)) {
    bool starts = pos == 0 || !is_word_char(text[pos - 1]);
    auto end = pos + word.size();
    bool ends = end == text.size() || !is_word_char(text[end]);
    if (starts && ends) return true;
  }
  return false;
}

// How a message may name each kind of record.
const std::vector<std::string_view> kApp = {"app"};
const std::vector<std::string_view> kPool = {"pool"};
const std::vector<std::string_view> kBlock = {"memory_block", "block", "memory block"};
const std::vector<std::string_view> kConfig = {"config"};

bool mentions_any(std::string_view text, const std::vector<std::string_view>& words) {
  for (auto w : words) {
    if (mentions(text, w)) return true;
  }
  return false;
}

// Checks that `e` is an invalid_argument error naming the record and the field.
void check_refused(const std::optional<cairn::Error>& e,
                   const std::vector<std::string_view>& record, std::string_view field) {
  REQUIRE_MESSAGE(e.has_value(), "the call was accepted");
  const std::string what = e->what();
  INFO("message: ", what.size() > 300 ? what.substr(0, 300) + "..." : what);
  CHECK(test::code(*e) == errc::invalid_argument);
  CHECK(mentions_any(what, record));
  CHECK(mentions(what, field));
}

// What a refused write must leave untouched.
struct Snapshot {
  cairn::Revision revision;
  std::size_t apps, pools, blocks, config, changes;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(cairn::Registry& reg) {
  return {reg.revision(),       reg.apps().count(),   reg.pools().count(),
          reg.blocks().count(), reg.config().count(), reg.changes(1).size()};
}

// A registry holding one record of each kind, so that refused writes can be
// new records or replacements of existing ones.
struct Seeded : test::Fixture<test::InMemory> {
  Snapshot before;
  Seeded() {
    reg.apps().put(make_app("a"));
    reg.pools().put(pool("p"));
    reg.blocks().put(block("b"));
    reg.config().save("c", 1);
    before = snapshot(reg);
  }
  static Pool pool(std::string name) {
    Pool p;
    p.name = std::move(name);
    return p;
  }
  static MemoryBlock block(std::string id) {
    MemoryBlock b;
    b.id = std::move(id);
    b.pool = "p";
    return b;
  }
  void check_unchanged() { CHECK(snapshot(reg) == before); }
};

std::string with_nul(std::string_view a, std::string_view b) {
  std::string s(a);
  s.push_back('\0');
  s.append(b);
  return s;
}

// Keys that break the rule "1-128 bytes of [A-Za-z0-9._:@/-], not starting
// with '.' or '/'".
std::vector<std::string> hostile_keys() {
  return {
      "",
      std::string(10 * 1024, 'a'),
      std::string(129, 'a'),
      "quote\"d",
      "single'quote",
      "semi;colon",
      "x'; DROP TABLE apps; --",
      "robert\"); DELETE FROM pools; --",
      "with space",
      " leading",
      "trailing ",
      "tab\there",
      "new\nline",
      with_nul("nul", "byte"),
      with_nul("", ""),
      with_nul("trailing", ""),
      ".hidden",
      "..",
      "/absolute",
      "/",
      "caf\xc3\xa9",
      "back\\slash",
      "star*",
      "percent%",
      "\xff\xfe",
  };
}

// Keys that look odd but follow the rule, and must round-trip exactly.
std::vector<std::string> odd_but_valid_keys() {
  return {"--",           "a--b",  "-",  "x",   "_",
          "@home",        "a/b/c", "a.", "1:2", std::string(128, 'z'),
          "A.b_c:d@e/f-g"};
}

std::string invalid_utf8_samples(int i) {
  switch (i) {
    case 0:
      return "\xff";
    case 1:
      return "ok \xc3\x28 broken";
    case 2:
      return "truncated \xe2\x82";
    default:
      return "overlong \xc0\xaf";
  }
}

}  // namespace

TEST_CASE("validation: hostile keys are refused for every kind") {
  Seeded f;
  for (const auto& key : hostile_keys()) {
    CAPTURE(key);
    check_refused(test::error_of([&] { f.reg.apps().put(make_app(key)); }), kApp, "id");
    check_refused(test::error_of([&] { f.reg.apps().create(make_app(key)); }), kApp, "id");
    check_refused(test::error_of([&] { f.reg.pools().put(Seeded::pool(key)); }), kPool, "name");
    check_refused(test::error_of([&] { f.reg.pools().create(Seeded::pool(key)); }), kPool, "name");
    check_refused(test::error_of([&] { f.reg.blocks().put(Seeded::block(key)); }), kBlock, "id");
    check_refused(test::error_of([&] { f.reg.blocks().create(Seeded::block(key)); }), kBlock, "id");
    check_refused(test::error_of([&] { f.reg.config().save(key, 1); }), kConfig, "key");
    ConfigEntry e;
    e.key = key;
    e.value = 1;
    check_refused(test::error_of([&] { f.reg.config().put(e); }), kConfig, "key");
    f.check_unchanged();
  }
}

TEST_CASE("validation: references with hostile names are refused") {
  Seeded f;
  for (const auto& key : hostile_keys()) {
    CAPTURE(key);
    App a = make_app("a2");
    a.pools = {"p", key};
    check_refused(test::error_of([&] { f.reg.apps().put(a); }), kApp, "pools");

    MemoryBlock b = Seeded::block("b2");
    b.pool = key;
    // A malformed pool name is bad input, not a missing pool.
    check_refused(test::error_of([&] { f.reg.blocks().put(b); }), kBlock, "pool");
    f.check_unchanged();
  }
}

TEST_CASE("validation: odd but valid keys round-trip exactly") {
  Seeded f;
  for (const auto& key : odd_but_valid_keys()) {
    CAPTURE(key);
    CHECK(f.reg.apps().put(make_app(key)).id == key);
    CHECK(f.reg.apps().get(key).id == key);
    CHECK(f.reg.pools().put(Seeded::pool(key)).name == key);
    CHECK(f.reg.pools().get(key).name == key);
    CHECK(f.reg.blocks().put(Seeded::block(key)).id == key);
    CHECK(f.reg.blocks().get(key).id == key);
    f.reg.config().save(key, key);
    CHECK(f.reg.config().load(key) == json(key));
  }
  // Nothing else was touched: the seeded records and the new ones are all there.
  const auto n = odd_but_valid_keys().size();
  CHECK(f.reg.apps().count() == n + 1);
  CHECK(f.reg.pools().count() == n + 1);
  CHECK(f.reg.blocks().count() == n + 1);
  CHECK(f.reg.config().count() == n + 1);
}

TEST_CASE("validation: free-form fields that are not objects are refused") {
  Seeded f;
  for (const json& not_object :
       {json::array({1, 2}), json("text"), json(7), json(nullptr), json(true)}) {
    CAPTURE(not_object.dump());
    App a = make_app("a");
    a.meta = not_object;
    check_refused(test::error_of([&] { f.reg.apps().put(a); }), kApp, "meta");

    Pool p = Seeded::pool("p");
    p.config = not_object;
    check_refused(test::error_of([&] { f.reg.pools().put(p); }), kPool, "config");

    MemoryBlock b = Seeded::block("b");
    b.permissions = not_object;
    check_refused(test::error_of([&] { f.reg.blocks().put(b); }), kBlock, "permissions");

    MemoryBlock c = Seeded::block("b");
    c.config = not_object;
    check_refused(test::error_of([&] { f.reg.blocks().put(c); }), kBlock, "config");

    check_refused(
        test::error_of([&] { f.reg.apps().update("a", [&](App& x) { x.meta = not_object; }); }),
        kApp, "meta");
    f.check_unchanged();
  }

  SUBCASE("a config value may be any JSON value") {
    CHECK(f.reg.config().save("list", json::array({1, 2})).value == json::array({1, 2}));
  }
}

TEST_CASE("validation: JSON nested 100,000 levels deep is refused, not a crash") {
  Seeded f;
  constexpr int kDeep = 100'000;

  SUBCASE("app meta") {
    App a = make_app("a");
    a.meta = test::nested_object(kDeep);
    check_refused(test::error_of([&] { f.reg.apps().put(std::move(a)); }), kApp, "meta");
  }
  SUBCASE("an array deep inside app meta") {
    App a = make_app("a");
    a.meta = json::object();
    a.meta["list"] = test::nested_array(kDeep);
    check_refused(test::error_of([&] { f.reg.apps().put(std::move(a)); }), kApp, "meta");
  }
  SUBCASE("app meta, through update") {
    check_refused(test::error_of([&] {
                    f.reg.apps().update("a", [](App& a) { a.meta = test::nested_object(kDeep); });
                  }),
                  kApp, "meta");
  }
  SUBCASE("pool config") {
    Pool p = Seeded::pool("p2");
    p.config = test::nested_object(kDeep);
    check_refused(test::error_of([&] { f.reg.pools().put(std::move(p)); }), kPool, "config");
  }
  SUBCASE("block permissions") {
    MemoryBlock b = Seeded::block("b2");
    b.permissions = test::nested_object(kDeep);
    check_refused(test::error_of([&] { f.reg.blocks().put(std::move(b)); }), kBlock, "permissions");
  }
  SUBCASE("block config") {
    MemoryBlock b = Seeded::block("b2");
    b.config = test::nested_object(kDeep);
    check_refused(test::error_of([&] { f.reg.blocks().put(std::move(b)); }), kBlock, "config");
  }
  SUBCASE("config value") {
    check_refused(test::error_of([&] { f.reg.config().save("deep", test::nested_array(kDeep)); }),
                  kConfig, "value");
  }
  f.check_unchanged();
}

TEST_CASE("validation: JSON over 64 KiB is refused") {
  Seeded f;
  const std::string big(70 * 1024, 'x');

  SUBCASE("one large string in app meta") {
    App a = make_app("a");
    a.meta = json{{"blob", big}};
    check_refused(test::error_of([&] { f.reg.apps().put(a); }), kApp, "meta");
  }
  SUBCASE("many small keys in pool config") {
    Pool p = Seeded::pool("p");
    for (int i = 0; i < 8000; ++i) p.config["key-" + std::to_string(i)] = i;
    REQUIRE(p.config.dump().size() > 64 * 1024);
    check_refused(test::error_of([&] { f.reg.pools().put(p); }), kPool, "config");
  }
  SUBCASE("block permissions") {
    MemoryBlock b = Seeded::block("b");
    b.permissions = json{{"read", json::array()}};
    for (int i = 0; i < 7000; ++i) b.permissions["read"].push_back("app-" + std::to_string(i));
    REQUIRE(b.permissions.dump().size() > 64 * 1024);
    check_refused(test::error_of([&] { f.reg.blocks().put(b); }), kBlock, "permissions");
  }
  SUBCASE("config value") {
    check_refused(test::error_of([&] { f.reg.config().save("c", big); }), kConfig, "value");
  }
  f.check_unchanged();

  SUBCASE("just under the limit is accepted") {
    App a = make_app("a");
    a.meta = json{{"blob", std::string(60 * 1024, 'x')}};
    CHECK(f.reg.apps().put(a).meta == a.meta);
  }
}

TEST_CASE("validation: the JSON limits come from Options") {
  test::TempDir dir;
  test::TestClock clock;

  SUBCASE("max_json_bytes") {
    cairn::Options small;
    small.max_json_bytes = 1024;
    auto reg = cairn::Registry::open_in_memory(small);
    App a = make_app("a");
    a.meta = json{{"blob", std::string(2000, 'x')}};
    check_refused(test::error_of([&] { reg.apps().put(a); }), kApp, "meta");
    CHECK(reg.apps().count() == 0);
    check_refused(test::error_of([&] { reg.config().save("k", std::string(2000, 'x')); }), kConfig,
                  "value");
    a.meta = json{{"blob", std::string(500, 'x')}};
    CHECK(reg.apps().put(a).meta == a.meta);

    cairn::Options large;
    large.max_json_bytes = 1 << 20;
    auto roomy = cairn::Registry::open_in_memory(large);
    a.meta = json{{"blob", std::string(200 * 1024, 'x')}};
    CHECK(roomy.apps().put(a).meta == a.meta);
  }

  SUBCASE("max_json_depth") {
    cairn::Options shallow;
    shallow.max_json_depth = 4;
    auto reg = cairn::Registry::open_in_memory(shallow);
    App a = make_app("a");
    a.meta = test::nested_object(10);
    check_refused(test::error_of([&] { reg.apps().put(a); }), kApp, "meta");
    CHECK(reg.apps().count() == 0);
    a.meta = test::nested_object(2);
    CHECK(reg.apps().put(a).meta == a.meta);

    auto defaults = cairn::Registry::open_in_memory();
    a.meta = test::nested_object(10);
    CHECK(defaults.apps().put(a).meta == a.meta);
    a.meta = test::nested_object(40);
    check_refused(test::error_of([&] { defaults.apps().put(a); }), kApp, "meta");

    cairn::Options deep;
    deep.max_json_depth = 100;
    auto deeper = cairn::Registry::open_in_memory(deep);
    a.meta = test::nested_object(40);
    CHECK(deeper.apps().put(a).meta == a.meta);
  }
}

TEST_CASE("validation: invalid UTF-8 in a string field is refused") {
  Seeded f;
  for (int i = 0; i < 4; ++i) {
    const std::string bad = invalid_utf8_samples(i);
    CAPTURE(i);

    App a = make_app("a");
    a.meta = json{{"note", bad}};
    check_refused(test::error_of([&] { f.reg.apps().put(a); }), kApp, "meta");

    App k = make_app("a");
    k.meta = json::object();
    k.meta[bad] = 1;
    check_refused(test::error_of([&] { f.reg.apps().put(k); }), kApp, "meta");

    App v = make_app("a");
    v.protocol_version = bad;
    check_refused(test::error_of([&] { f.reg.apps().put(v); }), kApp, "protocol_version");

    Pool p = Seeded::pool("p");
    p.description = bad;
    check_refused(test::error_of([&] { f.reg.pools().put(p); }), kPool, "description");

    Pool c = Seeded::pool("p");
    c.config = json{{"nested", {{"deeper", json::array({"fine", bad})}}}};
    check_refused(test::error_of([&] { f.reg.pools().put(c); }), kPool, "config");

    MemoryBlock b = Seeded::block("b");
    b.name = bad;
    check_refused(test::error_of([&] { f.reg.blocks().put(b); }), kBlock, "name");

    check_refused(test::error_of([&] { f.reg.config().save("c", bad); }), kConfig, "value");
    f.check_unchanged();
  }
}

TEST_CASE("validation: block sizes outside 0 to 2^50 are refused") {
  Seeded f;
  for (std::int64_t size :
       {std::int64_t{-1}, std::numeric_limits<std::int64_t>::min(), (std::int64_t{1} << 50) + 1,
        std::int64_t{1} << 62, std::numeric_limits<std::int64_t>::max()}) {
    CAPTURE(size);
    MemoryBlock b = Seeded::block("b2");
    b.size = size;
    check_refused(test::error_of([&] { f.reg.blocks().put(b); }), kBlock, "size");
    check_refused(
        test::error_of([&] { f.reg.blocks().update("b", [&](MemoryBlock& x) { x.size = size; }); }),
        kBlock, "size");
    f.check_unchanged();
  }
}

TEST_CASE("validation: text fields over their length limits are refused") {
  Seeded f;

  SUBCASE("protocol_version: at most 64 bytes") {
    App a = make_app("a");
    a.protocol_version = std::string(65, 'v');
    check_refused(test::error_of([&] { f.reg.apps().put(a); }), kApp, "protocol_version");
    f.check_unchanged();
    a.protocol_version = std::string(64, 'v');
    CHECK(f.reg.apps().put(a).protocol_version == a.protocol_version);
  }
  SUBCASE("pool description: at most 4 KiB") {
    Pool p = Seeded::pool("p");
    p.description = std::string(4097, 'd');
    check_refused(test::error_of([&] { f.reg.pools().put(p); }), kPool, "description");
    f.check_unchanged();
    p.description = std::string(4096, 'd');
    CHECK(f.reg.pools().put(p).description == p.description);
  }
  SUBCASE("block name: at most 256 bytes") {
    MemoryBlock b = Seeded::block("b");
    b.name = std::string(257, 'n');
    check_refused(test::error_of([&] { f.reg.blocks().put(b); }), kBlock, "name");
    f.check_unchanged();
    b.name = std::string(256, 'n');
    CHECK(f.reg.blocks().put(b).name == b.name);
  }
}

TEST_CASE("validation: enum values out of range are refused") {
  Seeded f;
  Pool p = Seeded::pool("p");
  p.type = static_cast<PoolType>(7);
  check_refused(test::error_of([&] { f.reg.pools().put(p); }), kPool, "type");

  MemoryBlock b = Seeded::block("b");
  b.type = static_cast<BlockType>(42);
  check_refused(test::error_of([&] { f.reg.blocks().put(b); }), kBlock, "type");
  f.check_unchanged();
}

TEST_CASE("validation: unknown type names are refused") {
  for (const char* name : {"", "weird", "local ", " global", "encrypted\n", "binary"}) {
    CAPTURE(name);
    CHECK(test::error_code_of([&] { cairn::pool_type_from_string(name); }) ==
          errc::invalid_argument);
  }
  for (const char* name : {"", "text", "binary ", "local"}) {
    CAPTURE(name);
    CHECK(test::error_code_of([&] { cairn::block_type_from_string(name); }) ==
          errc::invalid_argument);
  }
  CHECK(test::error_code_of([&] { cairn::pool_type_from_string(with_nul("local", "")); }) ==
        errc::invalid_argument);
  CHECK(test::error_code_of([&] { cairn::kind_from_string("apps"); }) == errc::invalid_argument);
  CHECK(test::error_code_of([&] { cairn::op_from_string("deleted"); }) == errc::invalid_argument);
}

TEST_CASE("validation: from_json with wrong field types names the field") {
  auto refused = [](auto parse, std::string_view field) {
    auto e = test::error_of(parse);
    REQUIRE_MESSAGE(e.has_value(), "the JSON was accepted");
    INFO("message: ", e->what());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(mentions(e->what(), field));
  };

  SUBCASE("app") {
    refused([] { json{{"id", 5}}.get<App>(); }, "id");
    refused([] { json{{"id", "a"}, {"pools", "p"}}.get<App>(); }, "pools");
    refused([] { json{{"id", "a"}, {"pools", {1, 2}}}.get<App>(); }, "pools");
    refused([] { json{{"id", "a"}, {"triggers", {{"x", 1}}}}.get<App>(); }, "triggers");
    refused([] { json{{"id", "a"}, {"rehydrated", "yes"}}.get<App>(); }, "rehydrated");
    refused([] { json{{"id", "a"}, {"registered", "yesterday"}}.get<App>(); }, "registered");
    refused([] { json{{"id", "a"}, {"protocol_version", 2}}.get<App>(); }, "protocol_version");
  }
  SUBCASE("pool") {
    refused([] { json{{"name", "p"}, {"type", "weird"}}.get<Pool>(); }, "type");
    refused([] { json{{"name", "p"}, {"type", 3}}.get<Pool>(); }, "type");
    refused([] { json{{"name", "p"}, {"owners", {1, 2}}}.get<Pool>(); }, "owners");
    refused([] { json{{"name", "p"}, {"encrypted", "no"}}.get<Pool>(); }, "encrypted");
    refused([] { json{{"name", json::array()}}.get<Pool>(); }, "name");
  }
  SUBCASE("memory block") {
    refused([] { json{{"id", "b"}, {"size", "big"}}.get<MemoryBlock>(); }, "size");
    refused([] { json{{"id", "b"}, {"type", "text"}}.get<MemoryBlock>(); }, "type");
    refused([] { json{{"id", "b"}, {"persistent", 1}}.get<MemoryBlock>(); }, "persistent");
    refused([] { json{{"id", "b"}, {"pool", false}}.get<MemoryBlock>(); }, "pool");
    refused([] { json{{"id", "b"}, {"version", "1"}}.get<MemoryBlock>(); }, "version");
  }
  SUBCASE("config entry") {
    refused([] { json{{"key", 7}, {"value", 1}}.get<ConfigEntry>(); }, "key");
  }
  SUBCASE("not an object at all") {
    CHECK(test::error_code_of([] { json::array({1, 2}).get<App>(); }) == errc::invalid_argument);
    CHECK(test::error_code_of([] { json("pool").get<Pool>(); }) == errc::invalid_argument);
    CHECK(test::error_code_of([] { json(3).get<MemoryBlock>(); }) == errc::invalid_argument);
  }
}
