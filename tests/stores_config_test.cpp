// The config store: save/load of every JSON value type, the record verbs,
// compare-and-swap, and config.changed events. Each test runs against an
// in-memory and an on-disk registry.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::ConfigEntry;
using cairn::ConfigQuery;
using cairn::errc;
using cairn::Expect;
using nlohmann::json;
using test::error_code_of;

namespace {

using Keys = std::vector<std::string>;

Keys keys(const std::vector<ConfigEntry>& entries) {
  return test::keys_of(entries, [](const ConfigEntry& e) { return e.key; });
}

ConfigEntry entry(std::string key, json value) {
  ConfigEntry e;
  e.key = std::move(key);
  e.value = std::move(value);
  return e;
}

// Every kind of JSON value a server may keep as configuration.
std::vector<std::pair<std::string, json>> every_json_type() {
  return {
      {"null", json(nullptr)},
      {"true", json(true)},
      {"false", json(false)},
      {"zero", json(0)},
      {"int", json(42)},
      {"negative", json(-17)},
      {"int64 max", json(std::numeric_limits<std::int64_t>::max())},
      {"int64 min", json(std::numeric_limits<std::int64_t>::min())},
      {"uint64 max", json(std::numeric_limits<std::uint64_t>::max())},
      {"double", json(0.1)},
      {"negative double", json(-2.5e-300)},
      {"large double", json(1.7976931348623157e308)},
      {"empty string", json("")},
      {"string", json("backup every 6h")},
      {"unicode string", json("h\u00e9llo \u65e5\u672c \U0001F600")},
      {"escapes", json("quote \" backslash \\ newline \n tab \t nul-free")},
      {"empty array", json::array()},
      {"array", json::array({1, "two", 3.5, nullptr, false, json::object()})},
      {"empty object", json::object()},
      {"object", json{{"backupInterval", 3600}, {"maxBackups", 5}, {"dir", "/var/backups"}}},
      {"nested", json{{"a", {{"b", {{"c", json::array({json::array({1}), {{"d", nullptr}}})}}}}}}},
  };
}

}  // namespace

TEST_CASE_TEMPLATE("config: save then load returns every JSON value type", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  for (const auto& [name, value] : every_json_type()) {
    CAPTURE(name);
    const std::string key = "server." + std::to_string(f.reg.config().count());
    ConfigEntry saved = f.reg.config().save(key, value);
    CHECK(saved.key == key);
    CHECK(saved.value == value);

    auto loaded = f.reg.config().load(key);
    REQUIRE(loaded.has_value());
    CHECK(*loaded == value);
    CHECK(loaded->dump() == value.dump());
    CHECK(f.reg.config().get(key).value == value);
  }
}

TEST_CASE("config: values survive closing and reopening the file") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  const auto values = every_json_type();
  {
    auto reg = cairn::Registry::open(path);
    for (std::size_t i = 0; i < values.size(); ++i) {
      reg.config().save("cfg." + std::to_string(i), values[i].second);
    }
  }
  auto reg = cairn::Registry::open(path);
  for (std::size_t i = 0; i < values.size(); ++i) {
    CAPTURE(values[i].first);
    auto loaded = reg.config().load("cfg." + std::to_string(i));
    REQUIRE(loaded.has_value());
    CHECK(*loaded == values[i].second);
    CHECK(loaded->dump() == values[i].second.dump());
  }
}

TEST_CASE_TEMPLATE("config: load and find of an absent key", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  CHECK_FALSE(f.reg.config().load("missing").has_value());
  CHECK_FALSE(f.reg.config().find("missing").has_value());
  CHECK(error_code_of([&] { f.reg.config().get("missing"); }) == errc::not_found);

  SUBCASE("a stored null is not absence") {
    f.reg.config().save("nothing", nullptr);
    auto loaded = f.reg.config().load("nothing");
    REQUIRE(loaded.has_value());
    CHECK(loaded->is_null());
  }
}

TEST_CASE_TEMPLATE("config: save overwrites and takes a new revision", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  const auto t0 = f.clock.now();
  ConfigEntry first = f.reg.config().save("maxBackups", 5);
  CHECK(first.revision == 1);
  CHECK(first.created_at == t0);
  CHECK(first.updated_at == t0);

  f.clock.advance(60'000);
  ConfigEntry second = f.reg.config().save("maxBackups", json{{"count", 7}});
  CHECK(second.revision == 2);
  CHECK(second.created_at == t0);
  CHECK(second.updated_at == t0 + 60'000);
  CHECK(f.reg.config().load("maxBackups") == json{{"count", 7}});
  CHECK(f.reg.config().count() == 1);
}

TEST_CASE_TEMPLATE("config: save and put with Expect", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;

  SUBCASE("Expect{0}: only when absent") {
    f.reg.config().save("k", 1, Expect{.revision = 0});
    CHECK(error_code_of([&] { f.reg.config().save("k", 2, Expect{.revision = 0}); }) ==
          errc::conflict);
    CHECK(f.reg.config().load("k") == json(1));
    CHECK(error_code_of([&] { f.reg.config().put(entry("k", 3), Expect{.revision = 0}); }) ==
          errc::conflict);
    CHECK(f.reg.config().load("k") == json(1));
  }

  SUBCASE("the current revision succeeds, a stale one fails") {
    ConfigEntry first = f.reg.config().save("k", 1);
    ConfigEntry second = f.reg.config().save("k", 2, Expect{.revision = first.revision});
    CHECK(second.revision > first.revision);
    CHECK(error_code_of([&] { f.reg.config().save("k", 3, Expect{.revision = first.revision}); }) ==
          errc::conflict);
    CHECK(error_code_of([&] {
            f.reg.config().put(entry("k", 4), Expect{.revision = first.revision});
          }) == errc::conflict);
    CHECK(f.reg.config().load("k") == json(2));
    CHECK(f.reg.revision() == second.revision);
    CHECK(f.reg.config().put(entry("k", 5), Expect{.revision = second.revision}).value == json(5));
  }
}

TEST_CASE_TEMPLATE("config: the record verbs", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;

  SUBCASE("create, then create again fails with already_exists") {
    ConfigEntry created = f.reg.config().create(entry("k", "v"));
    CHECK(created.value == "v");
    CHECK(created.revision == f.reg.revision());
    CHECK(error_code_of([&] { f.reg.config().create(entry("k", "w")); }) == errc::already_exists);
    CHECK(f.reg.config().load("k") == json("v"));
    CHECK(test::image(f.reg.config().get("k")) == test::image(created));
  }

  SUBCASE("put then get returns the same record") {
    ConfigEntry stored = f.reg.config().put(entry("k", json{{"a", 1}}));
    CHECK(test::image(f.reg.config().get("k")) == test::image(stored));
    auto found = f.reg.config().find("k");
    REQUIRE(found.has_value());
    CHECK(test::image(*found) == test::image(stored));
  }

  SUBCASE("update edits the stored value") {
    ConfigEntry first = f.reg.config().save("k", json{{"a", 1}});
    ConfigEntry updated = f.reg.config().update("k", [](ConfigEntry& e) { e.value["b"] = 2; });
    CHECK(updated.value == json{{"a", 1}, {"b", 2}});
    CHECK(f.reg.config().load("k") == json{{"a", 1}, {"b", 2}});
    CHECK(error_code_of([&] {
            f.reg.config().update(
                "k", [](ConfigEntry& e) { e.value = 0; }, Expect{.revision = first.revision});
          }) == errc::conflict);
    CHECK(error_code_of([&] { f.reg.config().update("none", [](ConfigEntry&) {}); }) ==
          errc::not_found);
    CHECK(f.reg.config().load("k") == json{{"a", 1}, {"b", 2}});
  }

  SUBCASE("remove") {
    ConfigEntry first = f.reg.config().save("k", 1);
    CHECK(error_code_of([&] {
            f.reg.config().remove("k", Expect{.revision = first.revision + 1});
          }) == errc::conflict);
    CHECK(f.reg.config().load("k").has_value());
    CHECK(f.reg.config().remove("k", Expect{.revision = first.revision}));
    CHECK_FALSE(f.reg.config().load("k").has_value());
    const auto rev = f.reg.revision();
    CHECK_FALSE(f.reg.config().remove("k"));
    CHECK(f.reg.revision() == rev);
  }

  SUBCASE("list and count, ordered by key, with paging") {
    for (const char* k : {"net.port", "backup.dir", "net.host", "backup.keep", "log.level"}) {
      f.reg.config().save(k, k);
    }
    CHECK(keys(f.reg.config().list()) ==
          Keys{"backup.dir", "backup.keep", "log.level", "net.host", "net.port"});
    CHECK(keys(f.reg.config().list(ConfigQuery{.after = {}, .limit = 2})) ==
          Keys{"backup.dir", "backup.keep"});
    CHECK(keys(f.reg.config().list(ConfigQuery{.after = "backup.keep", .limit = 2})) ==
          Keys{"log.level", "net.host"});
    CHECK(keys(f.reg.config().list(ConfigQuery{.after = "net.host", .limit = 2})) ==
          Keys{"net.port"});
    CHECK(f.reg.config().count() == 5);
    CHECK(f.reg.config().count(ConfigQuery{.after = "net", .limit = 1}) == 5);
    auto listed = f.reg.config().list();
    REQUIRE(listed.size() == 5);
    CHECK(listed[0].value == "backup.dir");
  }
}

TEST_CASE_TEMPLATE("config: change-log events are config.changed", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  ConfigEntry first = f.reg.config().save("k", 1);
  auto created = test::events_at(f.reg, first.revision);
  REQUIRE(created.size() == 1);
  CHECK(created[0].kind == cairn::Kind::config);
  CHECK(created[0].op == cairn::Op::created);
  CHECK(created[0].topic == "config.changed");
  CHECK(created[0].id == "k");
  CHECK(created[0].actor == "test-actor");
  CHECK(created[0].at == f.clock.now());
  CHECK_FALSE(created[0].before.has_value());
  REQUIRE(created[0].after.has_value());
  CHECK(created[0].after->at("value") == 1);

  f.clock.advance(1);
  ConfigEntry second = f.reg.config().save("k", "two");
  auto updated = test::events_at(f.reg, second.revision);
  REQUIRE(updated.size() == 1);
  CHECK(updated[0].topic == "config.changed");
  CHECK(updated[0].op == cairn::Op::updated);
  CHECK(updated[0].at == f.clock.now());
  REQUIRE(updated[0].before.has_value());
  REQUIRE(updated[0].after.has_value());
  CHECK(updated[0].before->at("value") == 1);
  CHECK(updated[0].after->at("value") == "two");

  CHECK(f.reg.config().remove("k"));
  auto removed = test::events_at(f.reg, f.reg.revision());
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].topic == "config.changed");
  CHECK(removed[0].op == cairn::Op::removed);
  REQUIRE(removed[0].before.has_value());
  CHECK(removed[0].before->at("value") == "two");
  CHECK_FALSE(removed[0].after.has_value());
}

TEST_CASE("config: the JSON form round-trips") {
  for (const auto& [name, value] : every_json_type()) {
    CAPTURE(name);
    ConfigEntry e = entry("k", value);
    e.revision = 3;
    json j = e;
    ConfigEntry back = j.get<ConfigEntry>();
    CHECK(back.key == "k");
    CHECK(back.value == value);
    CHECK(back.revision == 3);
  }
}

// Regression: a config entry's JSON without "value" was read as a null
// value, so `cairn put config '{"key":"k"}'` and an import stored null
// without a word. Found by review (issue 16).
TEST_CASE("config: the JSON form needs a value; an explicit null is one") {
  auto e = test::error_of([] { json{{"key", "k"}}.get<ConfigEntry>(); });
  REQUIRE(e.has_value());
  CHECK(test::code(*e) == errc::invalid_argument);
  const std::string message = e->what();
  CHECK(message.find("config \"k\"") != std::string::npos);
  CHECK(message.find("value") != std::string::npos);

  const ConfigEntry null_value = json{{"key", "k"}, {"value", nullptr}}.get<ConfigEntry>();
  CHECK(null_value.value.is_null());

  cairn::Registry reg = cairn::Registry::open_in_memory();
  std::istringstream missing(
      "{\"format\":\"cairn-export\",\"version\":1}\n{\"kind\":\"config\",\"record\":{\"key\":\"k\"}}\n");
  auto refused = test::error_of([&] { reg.import_records(missing); });
  REQUIRE(refused.has_value());
  CHECK(test::code(*refused) == errc::invalid_argument);
  CHECK(std::string(refused->what()).rfind("line 2: config \"k\": value", 0) == 0);
  CHECK_FALSE(reg.config().find("k").has_value());
}
