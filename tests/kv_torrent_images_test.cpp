// The KV entries' and torrents' change-log images and JSON columns.
//
// Both stores write these by hand for speed (lib/stores/kv.cpp,
// lib/stores/torrents.cpp, lib/util/json_text.h); export, import, the Watcher and
// other processes' subscribers read them, so they must stay exactly what
// nlohmann::json wrote before: the same bytes in the change log and in the
// columns, and the same records read back, also from rows that another writer
// (or a hand) stored in another JSON form.
#include <random>

#include "test_util.h"

namespace {

using nlohmann::json;

// The change-log images of one revision, as stored: {before, after} per
// change, "NULL" for none.
std::vector<test::Row> images_at(const test::fs::path& db, cairn::Revision rev) {
  return test::query(db, "SELECT before, after FROM change_log WHERE revision = " +
                             std::to_string(rev) + " ORDER BY idx");
}

// What TorrentStore logs: the torrent's JSON form with the metainfo's size
// instead of its bytes.
std::string torrent_image(const cairn::Torrent& t) {
  json j = t;
  j.erase("metainfo_base64");
  j["metainfo_bytes"] = t.metainfo.size();
  return j.dump();
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

cairn::Torrent varied_torrent(std::string hash) {
  cairn::Torrent t;
  t.info_hash = std::move(hash);
  t.name = "caf\xc3\xa9 \"quoted\" back\\slash \t tab \xf0\x9d\x84\x9e \x7f";
  t.state = cairn::TorrentState::started;
  t.save_path = "/srv/t\xc3\xb6rrents/\"x\"\n";
  t.total_size = 1ll << 40;
  t.downloaded = 12345;
  t.uploaded = 0;
  t.pieces = random_bytes(1001, 3);
  t.trackers = {{"udp://a.example:1337/announce", "udp://b\"c\\d/\xc3\xa9"}, {}, {"https://e/"}};
  t.file_priorities = {0, 7, 4, 1};
  t.limits = {.download_rate = 1, .upload_rate = 1ll << 40, .max_connections = 0,
              .max_uploads = 2147483647};
  t.flags = {.paused = true, .auto_managed = false, .sequential_download = true,
             .seed_mode = false, .super_seeding = true, .upload_mode = false, .share_mode = true};
  t.added_at = 5;
  t.last_activity = 6;
  t.metainfo = random_bytes(3000, 4);
  t.extra = {{"category", "linux-iso"},
             {"tags", {"mirror", "verified", "\xe2\x82\xac"}},
             {"ratio", 1.5},
             {"tiny", -2.5e-300},
             {"neg", -3},
             {"big", std::numeric_limits<std::uint64_t>::max()},
             {"nested", {{"a", {{"b", {nullptr, true, false, json::object(), json::array()}}}}}},
             {"esc\"ape\\d\n", "\x01\x1f"}};
  return t;
}

}  // namespace

TEST_CASE("kv images: the change log holds nlohmann's bytes for every kind of key and value") {
  test::TempDir dir;
  auto reg = cairn::Registry::open(dir / "r.db");
  auto kv = reg.kv("ns.images");
  std::vector<std::pair<std::string, std::string>> writes = {
      {"plain", "value"},
      {"empty-value", ""},
      {"quote\"back\\slash/sl", "\"\\\n"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", "\xc3\xa9"},
      {"nul-and-del", std::string("\0\x01\x7f\xff\xfe", 5)},
      {"binary", random_bytes(1000, 1)},
      {"one-byte", "x"},
      {"two-bytes", "xy"},
      {"large", random_bytes((1u << 20) - 1, 2)},  // the largest value, after the update's "+"
  };
  for (const auto& [key, value] : writes) {
    CAPTURE(key);
    const cairn::KvEntry first = kv.put(key, value);
    auto rows = images_at(dir / "r.db", first.revision);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0] == "NULL");
    CHECK(rows[0][1] == json(first).dump());

    // An update with a TTL (expires_at in the image) logs both images.
    const cairn::KvEntry second =
        kv.put(key, value + "+", cairn::KvWriteOptions{.expect_version = 1, .ttl_ms = 60'000});
    REQUIRE(second.expires_at.has_value());
    rows = images_at(dir / "r.db", second.revision);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0] == json(first).dump());
    CHECK(rows[0][1] == json(second).dump());

    const cairn::KvEntry read = kv.get(key);
    CHECK(read.value == value + "+");
    CHECK(json(read).dump() == json(second).dump());

    REQUIRE(kv.erase(key, 2));
    rows = images_at(dir / "r.db", reg.revision());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0] == json(second).dump());
    CHECK(rows[0][1] == "NULL");
  }
  SUBCASE("put_many logs one image per entry") {
    std::vector<cairn::KvItem> items;
    for (const auto& [key, value] : writes) items.push_back({.key = key, .value = value});
    const auto stored = kv.put_many(items);
    const auto rows = images_at(dir / "r.db", stored.front().revision);
    REQUIRE(rows.size() == stored.size());
    for (std::size_t i = 0; i < stored.size(); ++i) CHECK(rows[i][1] == json(stored[i]).dump());
  }
}

TEST_CASE("kv: compare-and-swap failures name the entry and both versions, for put and erase") {
  auto reg = cairn::Registry::open_in_memory();
  auto kv = reg.kv("ns");
  kv.put("k", "v");
  const auto put_error = test::error_of(
      [&] { kv.put("k", "w", cairn::KvWriteOptions{.expect_version = 0}); });
  REQUIRE(put_error.has_value());
  CHECK(test::code(*put_error) == cairn::errc::conflict);
  CHECK(std::string(put_error->what()).find("kv \"ns/k\": expected version 0, found version 1") !=
        std::string::npos);
  const auto erase_error = test::error_of([&] { kv.erase("gone", 3); });
  REQUIRE(erase_error.has_value());
  CHECK(test::code(*erase_error) == cairn::errc::conflict);
  CHECK(std::string(erase_error->what()).find(
            "kv \"ns/gone\": expected version 3, found no entry") != std::string::npos);
  const auto bad_key = test::error_of([&] { kv.put(std::string("a\x01"), "v"); });
  REQUIRE(bad_key.has_value());
  CHECK(std::string(bad_key->what()).find("kv \"ns/a\\x01\": key: a control character") !=
        std::string::npos);
}

TEST_CASE("torrent images: the change log and the columns hold nlohmann's bytes") {
  test::TempDir dir;
  auto reg = cairn::Registry::open(dir / "r.db");
  const std::string hash(40, 'a');
  cairn::Torrent t = varied_torrent(hash);
  const cairn::Torrent first = reg.torrents().put(t);
  auto rows = images_at(dir / "r.db", first.revision);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0][0] == "NULL");
  CHECK(rows[0][1] == torrent_image(first));

  const auto columns = test::query(
      dir / "r.db",
      "SELECT trackers, file_priorities, limits, flags, extra FROM torrents WHERE info_hash = '" +
          hash + "'");
  REQUIRE(columns.size() == 1);
  const json j = first;
  CHECK(columns[0][0] == j["trackers"].dump());
  CHECK(columns[0][1] == j["file_priorities"].dump());
  CHECK(columns[0][2] == j["limits"].dump());
  CHECK(columns[0][3] == j["flags"].dump());
  CHECK(columns[0][4] == j["extra"].dump());

  SUBCASE("read back: the same record, free-form numbers typed as nlohmann's parser types them") {
    const cairn::Torrent read = reg.torrents().get(hash);
    CHECK(json(read).dump() == json(first).dump());
    CHECK(read.trackers == t.trackers);
    CHECK(read.extra["neg"].is_number_integer());
    CHECK(read.extra["big"].is_number_unsigned());
    CHECK(read.extra["ratio"].is_number_float());
    CHECK(read.extra == json::parse(columns[0][4]));
  }
  SUBCASE("an update logs the before and after images; empty fields too") {
    const cairn::Torrent second = reg.torrents().update(hash, [](cairn::Torrent& x) {
      x.state = cairn::TorrentState::completed;
      x.pieces.clear();
      x.metainfo.clear();
      x.trackers.clear();
      x.file_priorities.clear();
      x.extra = json::object();
      x.name.clear();
      x.limits = {};
      x.flags = {};
    });
    rows = images_at(dir / "r.db", second.revision);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0] == torrent_image(first));
    CHECK(rows[0][1] == torrent_image(second));
    CHECK(json(reg.torrents().get(hash)).dump() == json(second).dump());
    REQUIRE(reg.torrents().remove(hash));
    rows = images_at(dir / "r.db", reg.revision());
    REQUIRE(rows.size() == 1);
    CHECK(rows[0][0] == torrent_image(second));
  }
  SUBCASE("save_all logs the images of every torrent") {
    std::vector<cairn::Torrent> many;
    for (char c : std::string("bcdef")) {
      many.push_back(varied_torrent(std::string(64, c)));
      many.back().pieces = random_bytes(static_cast<std::size_t>(c), c);
    }
    const auto stored = reg.torrents().save_all(many);
    rows = images_at(dir / "r.db", stored.front().revision);
    REQUIRE(rows.size() == stored.size());
    for (std::size_t i = 0; i < stored.size(); ++i) CHECK(rows[i][1] == torrent_image(stored[i]));
  }
}

TEST_CASE("torrent columns in another JSON form read as nlohmann reads them") {
  // Another writer (an older cairn, a migration, a hand with sqlite3) may
  // store the same values with spaces, another key order, extra keys or
  // escapes: the readers of lib/util/json_text.h leave those to nlohmann.
  const std::string hash(40, 'b');
  // A registry holding one torrent whose columns are then set by hand.
  auto registry_with = [&](const test::TempDir& dir, const std::string& assignments) {
    cairn::Registry::open(dir / "r.db").torrents().put(varied_torrent(hash));
    test::exec_sql(dir / "r.db",
                   "UPDATE torrents SET " + assignments + " WHERE info_hash = '" + hash + "'");
    return cairn::Registry::open(dir / "r.db");
  };
  SUBCASE("other forms of the same values") {
    test::TempDir dir;
    auto reg = registry_with(
        dir,
        "trackers = ' [ [\"udp://x\\u0041\" ] , [ ] ] ', file_priorities = '[ 1, 2.0, 3 ]', "
        "limits = '{ \"upload_rate\": 5, \"download_rate\": 1, \"max_connections\": 2, "
        "\"max_uploads\": 3, \"more\": true }', "
        "flags = '{\"share_mode\":true,\"paused\":true,\"auto_managed\":false,"
        "\"sequential_download\":false,\"seed_mode\":true,\"super_seeding\":false,"
        "\"upload_mode\":true}', "
        "extra = '{ \"a\" : \"\\u00e9\", \"n\": 1e2, \"a2\": [1, -1] }'");
    const cairn::Torrent t = reg.torrents().get(hash);
    CHECK(t.trackers == std::vector<std::vector<std::string>>{{"udp://xA"}, {}});
    CHECK(t.file_priorities == std::vector<std::int64_t>{1, 2, 3});
    CHECK(t.limits.download_rate == 1);
    CHECK(t.limits.upload_rate == 5);
    CHECK(t.limits.max_connections == 2);
    CHECK(t.limits.max_uploads == 3);
    CHECK(t.flags.share_mode);
    CHECK(t.flags.paused);
    CHECK_FALSE(t.flags.auto_managed);
    CHECK(t.flags.seed_mode);
    CHECK(t.flags.upload_mode);
    CHECK(t.extra == json::parse(R"({"a":"é","n":100.0,"a2":[1,-1]})"));
    CHECK(t.extra["a2"][0].is_number_unsigned());
  }
  SUBCASE("damaged columns are errc::corrupt, as before") {
    const std::vector<std::string> damages = {
        "limits = '{\"download_rate\":1}'",
        "limits = '{\"download_rate\":1,\"max_connections\":2,\"max_uploads\":3,"
        "\"upload_rate\":4} x'",
        "flags = 'nope'",
        "flags = '{\"paused\":1}'",
        "trackers = '[[\"a\"],'",
        "trackers = '[[1]]'",
        "file_priorities = '[\"1\"]'",
        "extra = '{'",
        "extra = '{\"a\":\"\\x\"}'",
    };
    for (const auto& damage : damages) {
      CAPTURE(damage);
      test::TempDir dir;
      auto reg = registry_with(dir, damage);
      CHECK(test::error_code_of([&] { reg.torrents().get(hash); }) == cairn::errc::corrupt);
    }
  }
}
