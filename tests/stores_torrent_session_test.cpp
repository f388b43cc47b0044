// The torrent session configuration (Transmission's settings.json, one
// document per registry): defaults before the first save, the save/load round
// trip, torrent_session.changed events, compare-and-swap, unknown keys kept as
// they are (nested values too), every known key refused by from_json for every
// wrong JSON type (the keys are taken from the JSON form of TorrentSession{},
// so a key added to the struct is covered without editing this file), and the
// range checks of the store.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::errc;
using cairn::Expect;
using cairn::TorrentSession;
using nlohmann::json;
using test::error_code_of;
using test::error_of;

namespace {

// The known keys of the session document, from its JSON form.
std::vector<std::string> known_keys() {
  json j = TorrentSession{};
  j.erase("created_at");
  j.erase("updated_at");
  j.erase("revision");
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  return keys;
}

// A session different from the defaults in every known field.
TorrentSession custom_session() {
  TorrentSession s;
  s.download_dir = "/srv/downloads";
  s.incomplete_dir = "/srv/incomplete";
  s.incomplete_dir_enabled = true;
  s.peer_port = 6881;
  s.peer_port_random_on_start = true;
  s.port_forwarding_enabled = false;
  s.peer_limit_global = 500;
  s.peer_limit_per_torrent = 80;
  s.speed_limit_down = 2000;
  s.speed_limit_down_enabled = true;
  s.speed_limit_up = 300;
  s.speed_limit_up_enabled = true;
  s.alt_speed_down = 10;
  s.alt_speed_up = 5;
  s.alt_speed_enabled = true;
  s.encryption = 2;
  s.download_queue_size = 3;
  s.download_queue_enabled = false;
  s.seed_queue_size = 20;
  s.seed_queue_enabled = true;
  s.ratio_limit = 1.25;
  s.ratio_limit_enabled = true;
  s.idle_seeding_limit = 60;
  s.idle_seeding_limit_enabled = true;
  s.dht_enabled = false;
  s.pex_enabled = false;
  s.lpd_enabled = true;
  s.utp_enabled = false;
  s.start_added_torrents = false;
  s.rename_partial_files = false;
  s.cache_size_mb = 64;
  s.extra = json{{"script-torrent-done-filename", "/usr/local/bin/done.sh"},
                 {"x-nested", {{"list", {1, "two", nullptr, {{"deep", {true, 2.5}}}}}}},
                 {"x-empty", json::object()},
                 {"x-number", 12345678901234},
                 {"x-unicode", "caf\xc3\xa9 \xe2\x9c\x93"}};
  return s;
}

// The document without its stamps, for comparing content.
json content(const TorrentSession& s) {
  json j = s;
  j.erase("created_at");
  j.erase("updated_at");
  j.erase("revision");
  return j;
}

}  // namespace

TEST_CASE_TEMPLATE("torrent session: load before any save gives the defaults at revision 0", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  TorrentSession loaded = f.reg.torrent_session().load();
  CHECK(test::image(loaded) == test::image(TorrentSession{}));
  CHECK(loaded.revision == 0);
  CHECK(loaded.created_at == 0);
  CHECK(loaded.peer_port == 51413);
  CHECK(loaded.encryption == 1);
  CHECK(loaded.extra == json::object());
  CHECK_FALSE(f.reg.torrent_session().find().has_value());
  CHECK(f.reg.revision() == 0);
}

TEST_CASE_TEMPLATE("torrent session: save then load returns the same document", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const TorrentSession in = custom_session();
  TorrentSession saved = f.reg.torrent_session().save(in);
  CHECK(saved.revision == f.reg.revision());
  CHECK(saved.created_at == f.clock.now());
  CHECK(saved.updated_at == f.clock.now());
  CHECK(content(saved) == content(in));

  TorrentSession loaded = f.reg.torrent_session().load();
  CHECK(test::image(loaded) == test::image(saved));
  auto found = f.reg.torrent_session().find();
  REQUIRE(found.has_value());
  CHECK(test::image(*found) == test::image(saved));

  SUBCASE("a second save replaces it and keeps created_at") {
    f.clock.advance(10);
    TorrentSession next = loaded;
    next.peer_port = 1;
    next.extra.erase("x-empty");
    next.created_at = 5;  // ignored
    TorrentSession second = f.reg.torrent_session().save(next);
    CHECK(second.created_at == saved.created_at);
    CHECK(second.updated_at == saved.updated_at + 10);
    TorrentSession back = f.reg.torrent_session().load();
    CHECK(back.peer_port == 1);
    CHECK_FALSE(back.extra.contains("x-empty"));
    CHECK(back.extra.at("x-nested") == in.extra.at("x-nested"));
  }
  SUBCASE("across a reopen of the file") {
    if constexpr (std::is_same_v<Mode, test::OnDisk>) {
      f.reg.close();
      auto reg = cairn::Registry::open(f.dir / "registry.db", f.options());
      CHECK(test::image(reg.torrent_session().load()) == test::image(saved));
    }
  }
}

TEST_CASE_TEMPLATE("torrent session: every save publishes torrent_session.changed", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  TorrentSession first = f.reg.torrent_session().save(TorrentSession{});
  auto events = test::events_at(f.reg, first.revision);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == cairn::Kind::torrent_session);
  CHECK(events[0].topic == "torrent_session.changed");
  CHECK(events[0].op == cairn::Op::created);
  CHECK(events[0].actor == "test-actor");
  CHECK_FALSE(events[0].before.has_value());
  REQUIRE(events[0].after.has_value());
  CHECK(*events[0].after == test::image(first));

  TorrentSession second = f.reg.torrent_session().save(custom_session());
  events = test::events_at(f.reg, second.revision);
  REQUIRE(events.size() == 1);
  CHECK(events[0].topic == "torrent_session.changed");
  CHECK(events[0].op == cairn::Op::updated);
  REQUIRE(events[0].before.has_value());
  CHECK(events[0].before->at("peer_port") == 51413);
  CHECK(events[0].after->at("peer_port") == 6881);
  // The unknown keys are in the image, flat beside the known ones.
  CHECK(events[0].after->at("script-torrent-done-filename") == "/usr/local/bin/done.sh");
  CHECK(events[0].id == test::events_at(f.reg, first.revision).at(0).id);
}

TEST_CASE_TEMPLATE("torrent session: compare-and-swap with Expect", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  TorrentSession first = f.reg.torrent_session().save(TorrentSession{}, Expect{.revision = 0});
  CHECK(error_code_of([&] {
          f.reg.torrent_session().save(custom_session(), Expect{.revision = 0});
        }) == errc::conflict);
  TorrentSession second =
      f.reg.torrent_session().save(custom_session(), Expect{.revision = first.revision});
  CHECK(second.peer_port == 6881);
  TorrentSession stale = custom_session();
  stale.peer_port = 7000;
  CHECK(error_code_of([&] {
          f.reg.torrent_session().save(stale, Expect{.revision = first.revision});
        }) == errc::conflict);
  CHECK(f.reg.torrent_session().load().peer_port == 6881);
  CHECK(f.reg.revision() == second.revision);
}

TEST_CASE_TEMPLATE("torrent session: a save inside a rolled-back transaction leaves nothing", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  CHECK_THROWS_AS(f.reg.transact([&](cairn::Tx& tx) {
    tx.torrent_session().save(custom_session());
    CHECK(tx.torrent_session().load().peer_port == 6881);
    throw std::runtime_error("roll back");
  }),
                  std::runtime_error);
  CHECK_FALSE(f.reg.torrent_session().find().has_value());
  CHECK(f.reg.revision() == 0);
}

TEST_CASE("torrent session: unknown keys are kept through to_json and from_json") {
  const json doc = json::parse(R"({
    "peer_port": 6882,
    "ratio_limit": 3,
    "blocklist-url": "http://www.example.com/blocklist",
    "x-object": {"a": {"b": [1, 2, {"c": null}]}, "k": "v"},
    "x-array": [[], {}, "", 0, -1.5, false],
    "x-null": null,
    "x-big": 18446744073709551615
  })");
  TorrentSession s = doc.get<TorrentSession>();
  CHECK(s.peer_port == 6882);
  CHECK(s.ratio_limit == 3.0);  // an integer is a number
  CHECK(s.extra.size() == 5);
  CHECK(s.extra.at("x-object") == doc.at("x-object"));
  CHECK(s.extra.at("x-array") == doc.at("x-array"));
  CHECK(s.extra.at("x-null").is_null());
  CHECK(s.extra.at("x-big") == doc.at("x-big"));
  // Keys not in the document keep their defaults.
  CHECK(s.encryption == 1);

  json back = s;
  for (const auto& [key, value] : doc.items()) {
    CAPTURE(key);
    CHECK(back.at(key) == value);
  }
  CHECK_FALSE(back.contains("extra"));  // flat: no "extra" member
  CHECK(test::image(back.get<TorrentSession>()) == back);
}

TEST_CASE_TEMPLATE("torrent session: unknown keys are kept through save and load", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  TorrentSession in = custom_session();
  f.reg.torrent_session().save(in);
  TorrentSession out = f.reg.torrent_session().load();
  CHECK(out.extra == in.extra);
  CHECK(out.extra.at("x-nested").at("list").at(3).at("deep").at(1) == 2.5);
}

TEST_CASE("torrent session: every known key refuses every wrong JSON type, naming the key") {
  const std::vector<std::string> keys = known_keys();
  REQUIRE(keys.size() >= 31);
  const json defaults = TorrentSession{};
  std::size_t checked = 0;
  for (const std::string& key : keys) {
    CAPTURE(key);
    const json& good = defaults.at(key);
    std::vector<json> wrong = {nullptr, json::array(), json::array({1}), json::object(),
                               json{{"v", 1}}};
    if (good.is_boolean()) {
      wrong.insert(wrong.end(), {json(1), json(0), json(1.5), json("true")});
    } else if (good.is_number_integer()) {
      wrong.insert(wrong.end(), {json("5"), json(1.5), json(2.0), json(true), json(false)});
    } else if (good.is_number_float()) {
      wrong.insert(wrong.end(), {json("1.5"), json(true)});
    } else if (good.is_string()) {
      wrong.insert(wrong.end(), {json(5), json(1.5), json(true)});
    } else {
      FAIL("a known key of an unexpected type: " << good.type_name());
    }
    for (const json& value : wrong) {
      CAPTURE(value.dump());
      json doc = defaults;
      doc[key] = value;
      auto e = error_of([&] { doc.get<TorrentSession>(); });
      REQUIRE(e.has_value());
      CHECK(test::code(*e) == errc::invalid_argument);
      const bool names_key = test::contains(e->what(), key + ":");
      CHECK(names_key);
      ++checked;
    }
    // The right type is accepted.
    json doc = defaults;
    CHECK(test::image(doc.get<TorrentSession>()).at(key) == good);
  }
  CHECK(checked >= keys.size() * 7);

  SUBCASE("a document that is not an object") {
    for (const json& value : {json(nullptr), json::array(), json("x"), json(1)}) {
      CHECK(error_code_of([&] { value.get<TorrentSession>(); }) == errc::invalid_argument);
    }
  }
}

TEST_CASE_TEMPLATE("torrent session: range checks on save", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  auto refused = [&](const char* field, auto set) {
    CAPTURE(field);
    TorrentSession s;
    set(s);
    const auto rev = f.reg.revision();
    auto e = error_of([&] { f.reg.torrent_session().save(s); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), field));
    CHECK(f.reg.revision() == rev);
  };
  auto accepted = [&](auto set) {
    TorrentSession s;
    set(s);
    TorrentSession saved = f.reg.torrent_session().save(s);
    CHECK(test::image(f.reg.torrent_session().load()) == test::image(saved));
    return saved;
  };

  refused("peer_port", [](TorrentSession& s) { s.peer_port = 0; });
  refused("peer_port", [](TorrentSession& s) { s.peer_port = 65536; });
  refused("peer_port", [](TorrentSession& s) { s.peer_port = -1; });
  CHECK(accepted([](TorrentSession& s) { s.peer_port = 1; }).peer_port == 1);
  CHECK(accepted([](TorrentSession& s) { s.peer_port = 65535; }).peer_port == 65535);

  refused("speed_limit_down", [](TorrentSession& s) { s.speed_limit_down = -1; });
  refused("speed_limit_up", [](TorrentSession& s) { s.speed_limit_up = -1; });
  refused("alt_speed_down", [](TorrentSession& s) { s.alt_speed_down = -1; });
  refused("alt_speed_up", [](TorrentSession& s) { s.alt_speed_up = INT64_MIN; });
  CHECK(accepted([](TorrentSession& s) {
          s.speed_limit_down = 0;
          s.speed_limit_up = 0;
        }).speed_limit_down == 0);

  refused("encryption", [](TorrentSession& s) { s.encryption = -1; });
  refused("encryption", [](TorrentSession& s) { s.encryption = 3; });
  for (std::int64_t e : {0, 1, 2}) {
    CHECK(accepted([e](TorrentSession& s) { s.encryption = e; }).encryption == e);
  }

  refused("ratio_limit", [](TorrentSession& s) { s.ratio_limit = -0.5; });
  refused("ratio_limit",
          [](TorrentSession& s) { s.ratio_limit = std::numeric_limits<double>::quiet_NaN(); });
  refused("ratio_limit",
          [](TorrentSession& s) { s.ratio_limit = std::numeric_limits<double>::infinity(); });
  CHECK(accepted([](TorrentSession& s) { s.ratio_limit = 0; }).ratio_limit == 0.0);

  // Every integer key: none accepts a negative value.
  const json defaults = TorrentSession{};
  for (const std::string& key : known_keys()) {
    if (!defaults.at(key).is_number_integer()) continue;
    CAPTURE(key);
    json doc = defaults;
    doc[key] = -1;
    refused(key.c_str(), [&](TorrentSession& s) { s = doc.get<TorrentSession>(); });
  }

  refused("download_dir", [](TorrentSession& s) { s.download_dir = "/bad/\xff/utf8"; });
  refused("extra", [](TorrentSession& s) { s.extra = json::array(); });
}

TEST_CASE_TEMPLATE("torrent session: an extra key that shadows a known key is refused", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  for (const std::string& key :
       {std::string("peer_port"), std::string("download_dir"), std::string("ratio_limit"),
        std::string("revision"), std::string("created_at")}) {
    CAPTURE(key);
    TorrentSession s;
    s.extra[key] = 5;
    auto e = error_of([&] { f.reg.torrent_session().save(s); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "extra"));
    CHECK(test::contains(e->what(), key));
  }
  CHECK_FALSE(f.reg.torrent_session().find().has_value());
}
