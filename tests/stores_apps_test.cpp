// The app store: every verb, compare-and-swap, timestamps, revisions,
// pool membership queries and change-log events. Each test runs against an
// in-memory and an on-disk registry.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::App;
using cairn::AppQuery;
using cairn::errc;
using cairn::Expect;
using nlohmann::json;
using test::error_code_of;

namespace {

// An app with every field set, unknown keys in meta too: test::make_app, plus
// triggers and a protocol version.
App full_app(std::string id, std::vector<std::string> pools = {}) {
  App a =
      test::make_app(std::move(id), std::move(pools),
                     {{"owner", "ops"}, {"replicas", 3}, {"nested", {{"x-unknown", {1, 2, 3}}}}});
  a.triggers = {"on-start", "on-stop"};
  a.protocol_version = "latzero/1.2";
  return a;
}

std::vector<std::string> ids(const std::vector<App>& apps) {
  return test::keys_of(apps, [](const App& a) { return a.id; });
}

using Ids = std::vector<std::string>;

}  // namespace

TEST_CASE_TEMPLATE("apps: find and get of an absent id", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  CHECK_FALSE(f.reg.apps().find("nobody").has_value());
  CHECK(error_code_of([&] { f.reg.apps().get("nobody"); }) == errc::not_found);
  CHECK(f.reg.apps().count() == 0);
  CHECK(f.reg.apps().list().empty());
  CHECK(f.reg.revision() == 0);
}

TEST_CASE_TEMPLATE("apps: put then get returns the same record", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  App in = full_app("svc.alpha:1@eu/west-2", {"pool-a", "pool-b"});
  in.rehydrated = true;

  App stored = f.reg.apps().put(in);
  CHECK(stored.id == in.id);
  CHECK(stored.pools == in.pools);
  CHECK(stored.triggers == in.triggers);
  CHECK(stored.meta == in.meta);
  CHECK(stored.protocol_version == in.protocol_version);
  CHECK(stored.rehydrated);

  App got = f.reg.apps().get(in.id);
  CHECK(test::image(got) == test::image(stored));
  auto found = f.reg.apps().find(in.id);
  REQUIRE(found.has_value());
  CHECK(test::image(*found) == test::image(stored));
  CHECK(f.reg.apps().count() == 1);

  SUBCASE("unknown keys inside meta are kept") {
    CHECK(got.meta["nested"]["x-unknown"] == json({1, 2, 3}));
  }
  SUBCASE("create stores the same as put") {
    App created = f.reg.apps().create(full_app("other"));
    CHECK(test::image(f.reg.apps().get("other")) == test::image(created));
  }
}

TEST_CASE_TEMPLATE("apps: create of a present id fails with already_exists", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  App first = f.reg.apps().create(full_app("a"));
  auto rev = f.reg.revision();

  App again = full_app("a");
  again.meta = json{{"changed", true}};
  CHECK(error_code_of([&] { f.reg.apps().create(again); }) == errc::already_exists);
  CHECK(f.reg.revision() == rev);
  CHECK(test::image(f.reg.apps().get("a")) == test::image(first));
}

TEST_CASE_TEMPLATE("apps: the registry sets timestamps and revision", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  const auto t0 = f.clock.now();
  App in = full_app("a");
  in.created_at = 5;
  in.updated_at = 6;
  in.revision = 77;

  App stored = f.reg.apps().put(in);
  CHECK(stored.created_at == t0);
  CHECK(stored.updated_at == t0);
  CHECK(stored.revision == 1);
  CHECK(stored.revision == f.reg.revision());

  SUBCASE("registered and last_seen default to now") {
    CHECK(stored.registered == t0);
    CHECK(stored.last_seen == t0);
  }

  SUBCASE("a last_seen given by the caller is kept") {
    App seen = stored;
    seen.last_seen = t0 - 5000;
    CHECK(f.reg.apps().put(seen).last_seen == t0 - 5000);
    CHECK(f.reg.apps().get("a").last_seen == t0 - 5000);
  }

  SUBCASE("a later write keeps created_at and moves updated_at") {
    f.clock.advance(1500);
    App again = stored;
    again.meta["v"] = 2;
    again.created_at = 1;
    again.last_seen = 0;
    App second = f.reg.apps().put(again);
    CHECK(second.created_at == t0);
    CHECK(second.updated_at == t0 + 1500);
    CHECK(second.last_seen == t0 + 1500);
    CHECK(second.revision == 2);
    CHECK(f.reg.apps().get("a").updated_at == t0 + 1500);
  }

  SUBCASE("update moves updated_at") {
    f.clock.advance(10);
    App updated = f.reg.apps().update("a", [](App& a) { a.meta["v"] = 3; });
    CHECK(updated.created_at == t0);
    CHECK(updated.updated_at == t0 + 10);
  }
}

TEST_CASE_TEMPLATE("apps: revisions strictly increase per committed write", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  CHECK(f.reg.revision() == 0);
  auto r1 = f.reg.apps().put(full_app("a")).revision;
  auto r2 = f.reg.apps().create(full_app("b")).revision;
  auto r3 = f.reg.apps().update("a", [](App& a) { a.triggers.push_back("t"); }).revision;
  auto r4 = f.reg.apps().put(full_app("b")).revision;
  CHECK(r1 == 1);
  CHECK(r2 == r1 + 1);
  CHECK(r3 == r2 + 1);
  CHECK(r4 == r3 + 1);
  CHECK(f.reg.revision() == r4);
  CHECK(f.reg.apps().get("a").revision == r3);
  CHECK(f.reg.apps().get("b").revision == r4);

  CHECK(f.reg.apps().remove("a"));
  CHECK(f.reg.revision() == r4 + 1);
}

TEST_CASE_TEMPLATE("apps: put with Expect is a compare-and-swap", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;

  SUBCASE("Expect{0} on an absent id creates it") {
    App stored = f.reg.apps().put(full_app("a"), Expect{.revision = 0});
    CHECK(f.reg.apps().get("a").revision == stored.revision);
  }

  SUBCASE("Expect{0} on a present id fails with conflict") {
    App first = f.reg.apps().put(full_app("a"));
    App second = full_app("a");
    second.meta = json{{"v", 2}};
    CHECK(error_code_of([&] { f.reg.apps().put(second, Expect{.revision = 0}); }) ==
          errc::conflict);
    CHECK(test::image(f.reg.apps().get("a")) == test::image(first));
    CHECK(f.reg.revision() == first.revision);
  }

  SUBCASE("the current revision succeeds") {
    App first = f.reg.apps().put(full_app("a"));
    App edit = first;
    edit.meta = json{{"v", 2}};
    App second = f.reg.apps().put(edit, Expect{.revision = first.revision});
    CHECK(second.revision > first.revision);
    CHECK(f.reg.apps().get("a").meta == json{{"v", 2}});

    SUBCASE("and the old revision then fails with conflict") {
      App stale = first;
      stale.meta = json{{"v", 3}};
      CHECK(error_code_of([&] { f.reg.apps().put(stale, Expect{.revision = first.revision}); }) ==
            errc::conflict);
      CHECK(test::image(f.reg.apps().get("a")) == test::image(second));
      CHECK(f.reg.revision() == second.revision);
    }
  }

  SUBCASE("a wrong revision fails with conflict and writes nothing") {
    App first = f.reg.apps().put(full_app("a"));
    f.reg.apps().put(full_app("b"));
    const auto rev = f.reg.revision();
    App edit = first;
    edit.meta = json{{"v", 2}};
    CHECK(error_code_of([&] { f.reg.apps().put(edit, Expect{.revision = first.revision + 1}); }) ==
          errc::conflict);
    CHECK(test::image(f.reg.apps().get("a")) == test::image(first));
    CHECK(f.reg.revision() == rev);
    CHECK(test::events_at(f.reg, rev + 1).empty());
  }

  SUBCASE("a revision on an absent id fails with conflict") {
    f.reg.apps().put(full_app("other"));
    CHECK(error_code_of([&] { f.reg.apps().put(full_app("a"), Expect{.revision = 1}); }) ==
          errc::conflict);
    CHECK_FALSE(f.reg.apps().find("a").has_value());
  }
}

TEST_CASE_TEMPLATE("apps: update reads, edits and writes the record", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  App first = f.reg.apps().put(full_app("a", {"p1"}));

  SUBCASE("the edit is stored and returned") {
    App updated = f.reg.apps().update("a", [](App& a) {
      a.meta["added"] = "yes";
      a.pools.push_back("p2");
    });
    CHECK(updated.meta["added"] == "yes");
    CHECK(updated.meta["owner"] == "ops");
    CHECK(updated.pools == Ids{"p1", "p2"});
    CHECK(updated.revision == first.revision + 1);
    CHECK(test::image(f.reg.apps().get("a")) == test::image(updated));
  }

  SUBCASE("the edit sees the stored record") {
    App seen;
    f.reg.apps().update("a", [&](App& a) { seen = a; });
    CHECK(test::image(seen) == test::image(first));
  }

  SUBCASE("an absent id fails with not_found") {
    bool called = false;
    CHECK(error_code_of([&] { f.reg.apps().update("nobody", [&](App&) { called = true; }); }) ==
          errc::not_found);
    CHECK_FALSE(called);
    CHECK_FALSE(f.reg.apps().find("nobody").has_value());
  }

  SUBCASE("with the current revision it succeeds") {
    App updated = f.reg.apps().update(
        "a",
        [](App& a) {
          a.meta = json{{"v", 2}};
        },
        Expect{.revision = first.revision});
    CHECK(updated.meta == json{{"v", 2}});
  }

  SUBCASE("with a wrong revision it fails with conflict and writes nothing") {
    CHECK(error_code_of([&] {
            f.reg.apps().update(
                "a",
                [](App& a) {
                  a.meta = json{{"v", 2}};
                },
                Expect{.revision = first.revision + 5});
          }) == errc::conflict);
    CHECK(test::image(f.reg.apps().get("a")) == test::image(first));
    CHECK(f.reg.revision() == first.revision);
  }

  SUBCASE("an edit that changes the id is refused") {
    CHECK(error_code_of([&] { f.reg.apps().update("a", [](App& a) { a.id = "b"; }); }) ==
          errc::invalid_argument);
    CHECK(test::image(f.reg.apps().get("a")) == test::image(first));
    CHECK_FALSE(f.reg.apps().find("b").has_value());
  }

  SUBCASE("an edit that throws writes nothing and the exception propagates") {
    CHECK_THROWS_AS(f.reg.apps().update("a",
                                        [](App& a) {
                                          a.meta = json{{"v", 2}};
                                          throw std::runtime_error("edit failed");
                                        }),
                    std::runtime_error);
    CHECK(test::image(f.reg.apps().get("a")) == test::image(first));
    CHECK(f.reg.revision() == first.revision);
  }
}

TEST_CASE_TEMPLATE("apps: remove", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  App first = f.reg.apps().put(full_app("a"));
  f.reg.apps().put(full_app("b"));
  const auto rev = f.reg.revision();

  SUBCASE("a present id is removed once") {
    CHECK(f.reg.apps().remove("a"));
    CHECK_FALSE(f.reg.apps().find("a").has_value());
    CHECK(error_code_of([&] { f.reg.apps().get("a"); }) == errc::not_found);
    CHECK(f.reg.apps().count() == 1);
    CHECK(f.reg.revision() == rev + 1);
    CHECK_FALSE(f.reg.apps().remove("a"));
  }

  SUBCASE("an absent id returns false and writes nothing") {
    CHECK_FALSE(f.reg.apps().remove("nobody"));
    CHECK(f.reg.revision() == rev);
    CHECK(f.reg.changes(rev + 1).empty());
  }

  SUBCASE("with the current revision it removes") {
    CHECK(f.reg.apps().remove("a", Expect{.revision = first.revision}));
    CHECK_FALSE(f.reg.apps().find("a").has_value());
  }

  SUBCASE("with a wrong revision it fails with conflict and keeps the record") {
    CHECK(error_code_of([&] { f.reg.apps().remove("a", Expect{.revision = rev}); }) ==
          errc::conflict);
    CHECK(f.reg.apps().find("a").has_value());
    CHECK(f.reg.revision() == rev);
  }

  SUBCASE("a removed id can be created again") {
    CHECK(f.reg.apps().remove("a"));
    App again = f.reg.apps().create(full_app("a"));
    CHECK(again.revision == rev + 2);
  }
}

TEST_CASE_TEMPLATE("apps: list orders by id and pages with after and limit", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  for (const char* id : {"c", "a", "e", "b", "d"}) f.reg.apps().put(full_app(id));

  CHECK(ids(f.reg.apps().list()) == Ids{"a", "b", "c", "d", "e"});
  CHECK(ids(f.reg.apps().list(AppQuery{.pool = {}, .after = {}, .limit = 2})) == Ids{"a", "b"});
  CHECK(ids(f.reg.apps().list(AppQuery{.pool = {}, .after = "b", .limit = 2})) == Ids{"c", "d"});
  CHECK(ids(f.reg.apps().list(AppQuery{.pool = {}, .after = "d", .limit = 2})) == Ids{"e"});
  CHECK(ids(f.reg.apps().list(AppQuery{.pool = {}, .after = "e", .limit = {}})).empty());
  CHECK(ids(f.reg.apps().list(AppQuery{.pool = {}, .after = "bb", .limit = {}})) ==
        Ids{"c", "d", "e"});

  SUBCASE("paging visits every record once") {
    Ids seen;
    AppQuery q{.pool = {}, .after = {}, .limit = 2};
    for (;;) {
      auto page = f.reg.apps().list(q);
      if (page.empty()) break;
      for (const auto& a : page) seen.push_back(a.id);
      q.after = page.back().id;
    }
    CHECK(seen == Ids{"a", "b", "c", "d", "e"});
  }

  SUBCASE("count ignores after and limit") {
    CHECK(f.reg.apps().count() == 5);
    CHECK(f.reg.apps().count(AppQuery{.pool = {}, .after = "c", .limit = 1}) == 5);
  }

  SUBCASE("listed records are whole") {
    auto listed = f.reg.apps().list();
    REQUIRE(listed.size() == 5);
    CHECK(test::image(listed[2]) == test::image(f.reg.apps().get("c")));
  }
}

TEST_CASE_TEMPLATE("apps: apps in a pool, through memberships", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  // The pools need not exist as records: apps register first.
  f.reg.apps().put(full_app("a", {"p1", "p2"}));
  f.reg.apps().put(full_app("b", {"p2"}));
  f.reg.apps().put(full_app("c"));
  f.reg.apps().put(full_app("d", {"p2", "p3"}));

  CHECK(ids(f.reg.apps().in_pool("p1")) == Ids{"a"});
  CHECK(ids(f.reg.apps().in_pool("p2")) == Ids{"a", "b", "d"});
  CHECK(ids(f.reg.apps().list(AppQuery{.pool = "p2", .after = {}, .limit = {}})) ==
        Ids{"a", "b", "d"});
  CHECK(f.reg.apps().count(AppQuery{.pool = "p2", .after = {}, .limit = {}}) == 3);
  CHECK(f.reg.apps().in_pool("nowhere").empty());
  CHECK(f.reg.apps().count(AppQuery{.pool = "nowhere", .after = {}, .limit = {}}) == 0);

  SUBCASE("with paging") {
    CHECK(ids(f.reg.apps().list(AppQuery{.pool = "p2", .after = {}, .limit = 2})) == Ids{"a", "b"});
    CHECK(ids(f.reg.apps().list(AppQuery{.pool = "p2", .after = "b", .limit = {}})) == Ids{"d"});
    CHECK(f.reg.apps().count(AppQuery{.pool = "p2", .after = "b", .limit = 1}) == 3);
  }

  SUBCASE("after an app changes its pools with put") {
    App a = f.reg.apps().get("a");
    a.pools = {"p3"};
    f.reg.apps().put(a);
    CHECK(f.reg.apps().in_pool("p1").empty());
    CHECK(ids(f.reg.apps().in_pool("p2")) == Ids{"b", "d"});
    CHECK(ids(f.reg.apps().in_pool("p3")) == Ids{"a", "d"});
  }

  SUBCASE("after an app changes its pools with update") {
    f.reg.apps().update("b", [](App& b) { b.pools = {"p1"}; });
    CHECK(ids(f.reg.apps().in_pool("p1")) == Ids{"a", "b"});
    CHECK(ids(f.reg.apps().in_pool("p2")) == Ids{"a", "d"});
  }

  SUBCASE("after an app leaves every pool") {
    f.reg.apps().update("d", [](App& d) { d.pools.clear(); });
    CHECK(ids(f.reg.apps().in_pool("p2")) == Ids{"a", "b"});
    CHECK(f.reg.apps().in_pool("p3").empty());
  }

  SUBCASE("after an app is removed") {
    CHECK(f.reg.apps().remove("a"));
    CHECK(f.reg.apps().in_pool("p1").empty());
    CHECK(ids(f.reg.apps().in_pool("p2")) == Ids{"b", "d"});
  }

  SUBCASE("a failed compare-and-swap leaves the memberships alone") {
    App a = f.reg.apps().get("a");
    a.pools = {"p9"};
    CHECK(error_code_of([&] { f.reg.apps().put(a, Expect{.revision = 0}); }) == errc::conflict);
    CHECK(ids(f.reg.apps().in_pool("p1")) == Ids{"a"});
    CHECK(f.reg.apps().in_pool("p9").empty());
  }

  SUBCASE("removing a pool record does not touch the apps that name it") {
    cairn::Pool p;
    p.name = "p1";
    f.reg.pools().put(p);
    CHECK(f.reg.pools().remove("p1"));
    CHECK(ids(f.reg.apps().in_pool("p1")) == Ids{"a"});
  }
}

TEST_CASE_TEMPLATE("apps: change-log events", Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const auto t0 = f.clock.now();
  App first = f.reg.apps().create(full_app("a"));

  auto created = test::events_at(f.reg, first.revision);
  REQUIRE(created.size() == 1);
  CHECK(created[0].kind == cairn::Kind::app);
  CHECK(created[0].op == cairn::Op::created);
  CHECK(created[0].topic == "app.registered");
  CHECK(created[0].id == "a");
  CHECK(created[0].index == 0);
  CHECK(created[0].at == t0);
  CHECK(created[0].actor == "test-actor");
  CHECK_FALSE(created[0].before.has_value());
  REQUIRE(created[0].after.has_value());
  CHECK(created[0].after->at("id") == "a");
  CHECK(created[0].after->at("meta") == first.meta);

  SUBCASE("put of a new id is a registration") {
    App b = f.reg.apps().put(full_app("b"));
    auto events = test::events_at(f.reg, b.revision);
    REQUIRE(events.size() == 1);
    CHECK(events[0].topic == "app.registered");
    CHECK(events[0].op == cairn::Op::created);
  }

  SUBCASE("put of a present id is an update with both images") {
    f.clock.advance(7);
    App edit = first;
    edit.meta = json{{"v", 2}};
    App second = f.reg.apps().put(edit);
    auto events = test::events_at(f.reg, second.revision);
    REQUIRE(events.size() == 1);
    CHECK(events[0].topic == "app.updated");
    CHECK(events[0].op == cairn::Op::updated);
    CHECK(events[0].at == t0 + 7);
    REQUIRE(events[0].before.has_value());
    REQUIRE(events[0].after.has_value());
    CHECK(events[0].before->at("meta") == first.meta);
    CHECK(events[0].after->at("meta") == json{{"v", 2}});
  }

  SUBCASE("update is an update") {
    App second = f.reg.apps().update("a", [](App& a) { a.triggers = {"t"}; });
    auto events = test::events_at(f.reg, second.revision);
    REQUIRE(events.size() == 1);
    CHECK(events[0].topic == "app.updated");
    REQUIRE(events[0].before.has_value());
    REQUIRE(events[0].after.has_value());
    CHECK(events[0].before->at("triggers") == json(first.triggers));
    CHECK(events[0].after->at("triggers") == json({"t"}));
  }

  SUBCASE("remove carries the last image") {
    CHECK(f.reg.apps().remove("a"));
    auto events = test::events_at(f.reg, f.reg.revision());
    REQUIRE(events.size() == 1);
    CHECK(events[0].topic == "app.removed");
    CHECK(events[0].op == cairn::Op::removed);
    CHECK(events[0].id == "a");
    REQUIRE(events[0].before.has_value());
    CHECK(events[0].before->at("meta") == first.meta);
    CHECK_FALSE(events[0].after.has_value());
  }

  SUBCASE("changes(from) lists every write in order") {
    f.reg.apps().put(full_app("b"));
    f.reg.apps().remove("a");
    auto all = f.reg.changes(1);
    REQUIRE(all.size() == 3);
    CHECK(all[0].revision == 1);
    CHECK(all[1].revision == 2);
    CHECK(all[2].revision == 3);
    CHECK(all[1].id == "b");
    CHECK(all[2].topic == "app.removed");
    CHECK(f.reg.changes(2).size() == 2);
    CHECK(f.reg.changes(1, 1).size() == 1);
    CHECK(f.reg.changes(4).empty());
  }
}

TEST_CASE("apps: the JSON form round-trips") {
  App a = full_app("a", {"p1"});
  a.registered = 11;
  a.last_seen = 12;
  a.rehydrated = true;
  a.created_at = 13;
  a.updated_at = 14;
  a.revision = 15;
  json j = a;
  App back = j.get<App>();
  CHECK(test::image(back) == j);
  CHECK(back.id == "a");
  CHECK(back.pools == Ids{"p1"});
  CHECK(back.meta == a.meta);
  CHECK(back.registered == 11);
  CHECK(back.last_seen == 12);
  CHECK(back.rehydrated);
  CHECK(back.revision == 15);
}

TEST_CASE("apps: the change-log image is the record's JSON, byte for byte") {
  // The app image is written by hand for speed (lib/stores/apps.cpp); it must
  // stay identical to nlohmann::json(app).dump(), which events and export use.
  auto reg = cairn::Registry::open_in_memory();
  cairn::App app;
  app.id = "img@host:1/a-b_c.d";
  app.pools = {"p1", "p.2"};
  app.triggers = {"t"};
  app.meta = {{"z", 1}, {"a", {{"nested", {1, 2.5, "x\"y\n"}}}}, {"u", "\xc3\xa9\xe2\x82\xac"}};
  app.protocol_version = "1.0 \"q\" \\ \t \xe2\x82\xac";
  app.rehydrated = true;
  const cairn::App stored = reg.apps().put(app);
  const auto events = reg.changes(stored.revision);
  REQUIRE(events.size() == 1);
  REQUIRE(events[0].after.has_value());
  CHECK(events[0].after->dump() == nlohmann::json(stored).dump());
  CHECK(events[0].after->get<cairn::App>().protocol_version == app.protocol_version);

  const cairn::App again = reg.apps().update(app.id, [](cairn::App& a) { a.pools.clear(); });
  const auto update = reg.changes(again.revision);
  REQUIRE(update.size() == 1);
  CHECK(update[0].before->dump() == nlohmann::json(stored).dump());
  CHECK(update[0].after->dump() == nlohmann::json(again).dump());
  CHECK(reg.apps().get(app.id).pools.empty());
}
