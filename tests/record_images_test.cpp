// Apps, pools, memory blocks and config entries are written, read, logged
// and validated from one field table per kind (lib/records/fields.h,
// lib/stores/columns.h). What they produce must stay what nlohmann::json and
// the hand-written codecs produced before: the change log holds
// nlohmann::json(record).dump() byte for byte, the stored columns read back
// into the same record, the JSON form round-trips, and a bad field is named.
#include "test_util.h"

namespace {

using nlohmann::json;

// Text that needs every kind of JSON escape, and non-ASCII UTF-8.
const std::string kOddText = "caf\xc3\xa9 \"q\" back\\slash /sl \t\n\x01\x1f \xf0\x9d\x84\x9e \x7f";

json odd_json() {
  return {{"text", kOddText},
          {"esc\"ape\\d\n", "\x01"},
          {"numbers", {0, -3, 1.5, -2.5e-300, std::numeric_limits<std::uint64_t>::max()}},
          {"nested", {{"a", {nullptr, true, false, json::object(), json::array()}}}}};
}

// The change-log images of one revision: {before, after}, "NULL" for none.
std::vector<test::Row> images_at(const test::fs::path& db, cairn::Revision rev) {
  return test::query(db, "SELECT before, after FROM change_log WHERE revision = " +
                             std::to_string(rev) + " ORDER BY idx");
}

// Writes `first`, updates it to `second`, removes it, and checks each image
// and each read back. `store` is the kind's store; `key` its key.
template <class Store, class Record>
void check_images(const test::fs::path& db, Store store, const Record& first_in,
                  const Record& second_in, const std::string& key) {
  const Record first = store.put(first_in);
  auto rows = images_at(db, first.revision);
  REQUIRE(rows.size() >= 1);
  CHECK(rows[0][0] == "NULL");
  CHECK(rows[0][1] == json(first).dump());
  CHECK(json(store.get(key)).dump() == json(first).dump());

  const Record second = store.put(second_in);
  rows = images_at(db, second.revision);
  REQUIRE(rows.size() >= 1);
  CHECK(rows[0][0] == json(first).dump());
  CHECK(rows[0][1] == json(second).dump());
  const Record read = store.get(key);
  CHECK(json(read).dump() == json(second).dump());
  // The JSON form reads back into the same record.
  CHECK(json(json(read).get<Record>()).dump() == json(read).dump());
}

}  // namespace

TEST_CASE("field tables: change-log images are nlohmann's bytes, rows read back whole") {
  test::TempDir dir;
  const auto db = dir / "r.db";
  auto reg = cairn::Registry::open(db);

  SUBCASE("app") {
    cairn::App a{.id = "app-1", .pools = {"p1", "p2"}, .triggers = {"t.x"}, .meta = odd_json(),
                 .protocol_version = kOddText, .last_seen = 42, .rehydrated = true};
    cairn::App b = a;
    b.pools = {};
    b.meta = json::object();
    b.rehydrated = false;
    check_images(db, reg.apps(), a, b, "app-1");
    CHECK(reg.apps().in_pool("p1").empty());
  }
  SUBCASE("pool") {
    cairn::Pool p{.name = "pool-1", .type = cairn::PoolType::global, .owners = {"app-1"},
                  .policies = {.read = {"*"}, .write = {"app-1", "app-2"}},
                  .description = kOddText, .config = odd_json()};
    cairn::Pool q = p;
    q.type = cairn::PoolType::encrypted;  // stored as encrypted = true
    q.policies = {};
    check_images(db, reg.pools(), p, q, "pool-1");
    CHECK(reg.pools().get("pool-1").encrypted);
  }
  SUBCASE("memory block") {
    reg.pools().put(cairn::Pool{.name = "pool-1"});
    cairn::MemoryBlock m{.id = "blk-1", .name = kOddText, .pool = "pool-1", .size = 1ll << 50,
                         .type = cairn::BlockType::stream, .permissions = odd_json(),
                         .persistent = true, .config = odd_json()};
    cairn::MemoryBlock n = m;
    n.size = 0;
    n.encrypted = true;
    check_images(db, reg.blocks(), m, n, "blk-1");
    CHECK(reg.blocks().get("blk-1").version == 2);
  }
  SUBCASE("config entry") {
    cairn::ConfigEntry c{.key = "server.limits", .value = odd_json()};
    cairn::ConfigEntry d{.key = "server.limits", .value = kOddText};  // any JSON value
    check_images(db, reg.config(), c, d, "server.limits");
  }
}

TEST_CASE("field tables: validation names the record and the field, the id first") {
  auto reg = cairn::Registry::open_in_memory();
  // fn must fail with invalid_argument, its message containing `needle`.
  auto refused = [](auto&& fn, std::string_view needle) {
    const auto e = test::error_of(fn);
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == cairn::errc::invalid_argument);
    CHECK_MESSAGE(test::contains(e->what(), needle), std::string(e->what()));
  };
  // Two bad fields: the bad id is reported, not the other.
  refused([&] { reg.apps().put(cairn::App{.id = "bad id", .pools = {"bad pool"}}); },
          ": id: ");
  refused([&] { reg.apps().put(cairn::App{.id = "a", .protocol_version = std::string(65, 'v')}); },
          "app \"a\": protocol_version: ");
  refused([&] { reg.pools().put(cairn::Pool{.name = "p", .policies = {.write = {"no way"}}}); },
          "pool \"p\": policies.write[0]: ");
  refused([&] { reg.pools().put(
                             cairn::Pool{.name = "p", .type = static_cast<cairn::PoolType>(9)}); },
          "pool \"p\": type: ");
  refused([&] { reg.blocks().put(cairn::MemoryBlock{.id = "b", .pool = "p", .size = -1}); },
          "memory_block \"b\": size: ");
  refused([&] { reg.config().put(cairn::ConfigEntry{.key = "", .value = 1}); },
          "config \"\": key: must not be empty");
  // from_json is strict: an unknown field is named.
  refused([&] { (void)json{{"id", "a"}, {"colour", 1}}.get<cairn::App>(); },
          "app: colour: unknown field");
}
