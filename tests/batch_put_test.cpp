// put_many on apps, pools, memory blocks and torrents (stores.h): one
// transaction and one revision for the whole batch, one event per record in
// the batch's order after COMMIT, every record checked before any is written
// (a key named twice is refused), all or nothing, a savepoint inside the
// caller's transaction, and an empty batch that takes no revision. Each test
// runs against an in-memory and an on-disk registry.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::App;
using cairn::errc;
using cairn::Event;
using cairn::MemoryBlock;
using cairn::Pool;
using cairn::Revision;
using cairn::Torrent;
using nlohmann::json;
using test::error_of;

namespace {

using Ids = std::vector<std::string>;

std::string app_id(std::size_t i) { return "app-" + std::to_string(10000 + i); }

std::vector<App> make_apps(std::size_t n, const std::string& pool = "p") {
  std::vector<App> apps;
  apps.reserve(n);
  for (std::size_t i = 0; i < n; ++i) apps.push_back(test::make_app(app_id(i), {pool}));
  return apps;
}

Pool make_pool(std::string name) {
  Pool p;
  p.name = std::move(name);
  return p;
}

MemoryBlock make_block(std::string id, std::string pool) {
  MemoryBlock b;
  b.id = std::move(id);
  b.name = "Block " + b.id;
  b.pool = std::move(pool);
  b.size = 4096;
  return b;
}

std::string hash_of(std::uint64_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(40, '0');
  for (std::size_t i = 0; i < 40 && n != 0; ++i, n /= 16) out[39 - i] = kHex[n % 16];
  return out;
}

Torrent make_torrent(std::uint64_t n) {
  Torrent t;
  t.info_hash = hash_of(n);
  t.name = "torrent " + std::to_string(n);
  t.save_path = "/srv/torrents";
  return t;
}

Ids event_ids(const std::vector<Event>& events) {
  return test::keys_of(events, [](const Event& e) { return e.id; });
}

// Writes one pool and waits until the subscribers have it: every event of an
// earlier revision has been delivered by then, so a recorder that holds only
// this one event was handed nothing before it.
Revision write_sentinel(cairn::Registry& reg) {
  const Revision rev = reg.pools().put(make_pool("sentinel")).revision;
  REQUIRE(reg.wait_for(rev));
  return rev;
}

// Checks that the registry published nothing since the recorder subscribed,
// besides the sentinel written now.
void check_nothing_published(cairn::Registry& reg, const test::Recorder& rec) {
  const Revision sentinel = write_sentinel(reg);
  const auto events = rec.events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].revision == sentinel);
  CHECK(events[0].id == "sentinel");
}

}  // namespace

TEST_CASE_TEMPLATE("put_many: apps take one revision; events carry it, in order, after commit",
                   Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put(test::make_app("before"));
  const Revision rev = f.reg.revision();
  constexpr std::size_t kCount = 200;

  // What a reader on the delivery thread sees when the first event arrives:
  // all of the batch, if and only if delivery came after COMMIT.
  test::Recorder rec;
  std::size_t apps_seen_by_handler = 0;
  auto sub = f.reg.subscribe({}, [&](std::span<const Event> events) {
    if (rec.event_count() == 0) apps_seen_by_handler = f.reg.apps().count();
    rec.add(events);
  });

  const std::vector<App> stored = f.reg.apps().put_many(make_apps(kCount));

  CHECK(f.reg.revision() == rev + 1);
  REQUIRE(stored.size() == kCount);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    wrong += stored[i].id != app_id(i) || stored[i].revision != rev + 1 ||
             f.reg.apps().get(app_id(i)).revision != rev + 1;
  }
  CHECK(wrong == 0);
  CHECK(f.reg.apps().count() == kCount + 1);
  CHECK(f.reg.apps().in_pool("p").size() == kCount);

  REQUIRE(f.reg.wait_for(rev + 1));
  const auto events = rec.events();
  REQUIRE(events.size() == kCount);
  CHECK(event_ids(events) == test::keys_of(stored, [](const App& a) { return a.id; }));
  std::size_t wrong_events = 0;
  for (std::size_t i = 0; i < kCount; ++i) {
    wrong_events += events[i].revision != rev + 1 || events[i].index != i ||
                    events[i].topic != "app.registered" || events[i].before.has_value() ||
                    !events[i].after || *events[i].after != test::image(stored[i]);
  }
  CHECK(wrong_events == 0);
  CHECK(apps_seen_by_handler == kCount + 1);
  // The change log holds the same events, one row per app.
  CHECK(event_ids(test::events_at(f.reg, rev + 1)) == event_ids(events));
}

TEST_CASE_TEMPLATE("put_many: pools, memory blocks and torrents take one revision each batch", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const Revision rev = f.reg.revision();

  const auto pools = f.reg.pools().put_many({make_pool("p"), make_pool("q"), make_pool("r")});
  const auto blocks = f.reg.blocks().put_many(
      {make_block("b1", "p"), make_block("b2", "q"), make_block("b3", "p")});
  const auto torrents = f.reg.torrents().put_many({make_torrent(1), make_torrent(2)});
  const auto saved = f.reg.torrents().save_all({make_torrent(3), make_torrent(1)});

  CHECK(f.reg.revision() == rev + 4);
  auto revisions = [](const auto& records) {
    std::vector<Revision> out;
    for (const auto& r : records) out.push_back(r.revision);
    return out;
  };
  CHECK(revisions(pools) == std::vector<Revision>(3, rev + 1));
  CHECK(revisions(blocks) == std::vector<Revision>(3, rev + 2));
  CHECK(revisions(torrents) == std::vector<Revision>(2, rev + 3));
  CHECK(revisions(saved) == std::vector<Revision>(2, rev + 4));
  CHECK(f.reg.pools().count() == 3);
  CHECK(f.reg.blocks().count(
            cairn::MemoryBlockQuery{.pool = "p", .type = {}, .after = {}, .limit = {}}) == 2);
  CHECK(f.reg.torrents().count() == 3);

  CHECK(event_ids(test::events_at(f.reg, rev + 1)) == Ids{"p", "q", "r"});
  CHECK(event_ids(test::events_at(f.reg, rev + 2)) == Ids{"b1", "b2", "b3"});
  CHECK(event_ids(test::events_at(f.reg, rev + 3)) == Ids{hash_of(1), hash_of(2)});
  const auto save_all_events = test::events_at(f.reg, rev + 4);
  REQUIRE(save_all_events.size() == 2);
  CHECK(save_all_events[0].topic == "torrent.added");
  CHECK(save_all_events[1].topic == "torrent.updated");
}

TEST_CASE_TEMPLATE("put_many: an invalid record in the middle of 1,000 writes nothing", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put_many(make_apps(10));
  const Revision rev = f.reg.revision();
  test::Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  // The 500th of 1,000: new apps before it, and updates of stored ones.
  std::vector<App> batch = make_apps(1000);
  batch[499].meta = test::nested_object(40);
  const auto e = error_of([&] { f.reg.apps().put_many(batch); });

  REQUIRE(e.has_value());
  CHECK(test::code(*e) == errc::invalid_argument);
  CHECK(test::contains(e->what(), "app \"" + app_id(499) + "\""));
  CHECK(test::contains(e->what(), "meta"));
  CHECK(f.reg.apps().count() == 10);
  CHECK(f.reg.revision() == rev);
  CHECK_FALSE(f.reg.apps().find(app_id(10)).has_value());
  CHECK(f.reg.apps().get(app_id(0)).revision == rev);
  check_nothing_published(f.reg, rec);
}

TEST_CASE_TEMPLATE("put_many: a key named twice is refused before anything is written", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put(test::make_app("a", {}, {{"v", "stored"}}));
  const Revision rev = f.reg.revision();
  test::Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  SUBCASE("apps") {
    const auto e = error_of([&] {
      f.reg.apps().put_many({test::make_app("b"), test::make_app("a"), test::make_app("a")});
    });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(std::string(e->what()).find("app \"a\": appears twice in one put_many") == 0);
    CHECK(f.reg.apps().count() == 1);
    CHECK(f.reg.apps().get("a").meta == json{{"v", "stored"}});
  }
  SUBCASE("pools") {
    const auto e = error_of([&] { f.reg.pools().put_many({make_pool("x"), make_pool("x")}); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "pool \"x\": appears twice"));
    CHECK(f.reg.pools().count() == 0);
  }
  SUBCASE("torrents, through save_all too") {
    const auto e = error_of([&] {
      f.reg.torrents().save_all({make_torrent(7), make_torrent(8), make_torrent(7)});
    });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::invalid_argument);
    CHECK(test::contains(e->what(), "torrent \"" + hash_of(7) + "\": appears twice"));
    CHECK(f.reg.torrents().count() == 0);
  }
  CHECK(f.reg.revision() == rev);
  check_nothing_published(f.reg, rec);
}

TEST_CASE_TEMPLATE("put_many: memory blocks naming a missing pool write nothing", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("p"));
  const Revision rev = f.reg.revision();
  test::Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  const auto e = error_of([&] {
    f.reg.blocks().put_many({make_block("b1", "p"), make_block("b2", "p"), make_block("b3", "nope"),
                             make_block("b4", "p")});
  });

  REQUIRE(e.has_value());
  CHECK(test::code(*e) == errc::constraint);
  CHECK(test::contains(e->what(), "memory_block \"b3\""));
  CHECK(test::contains(e->what(), "pool \"nope\""));
  CHECK(f.reg.blocks().count() == 0);
  CHECK(f.reg.revision() == rev);
  check_nothing_published(f.reg, rec);
}

TEST_CASE_TEMPLATE("put_many: inside a transaction it is a savepoint of it", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  const Revision rev = f.reg.revision();
  test::Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  SUBCASE("a throw after it rolls everything back") {
    CHECK_THROWS_AS(f.reg.transact([&](cairn::Tx& tx) {
      tx.pools().put(make_pool("p"));
      tx.apps().put_many(make_apps(50));
      tx.blocks().put_many({make_block("b1", "p")});
      CHECK(tx.apps().count() == 50);
      throw std::runtime_error("roll back");
    }),
                    std::runtime_error);
    CHECK(f.reg.apps().count() == 0);
    CHECK(f.reg.pools().count() == 0);
    CHECK(f.reg.blocks().count() == 0);
    CHECK(f.reg.revision() == rev);
    check_nothing_published(f.reg, rec);
  }
  SUBCASE("a Tx rolled back keeps nothing") {
    {
      cairn::Tx tx = f.reg.begin();
      tx.apps().put_many(make_apps(5));
      tx.rollback();
    }
    CHECK(f.reg.apps().count() == 0);
    CHECK(f.reg.revision() == rev);
    check_nothing_published(f.reg, rec);
  }
  SUBCASE("a failed put_many undoes only itself; the transaction commits one revision") {
    f.reg.transact([&](cairn::Tx& tx) {
      tx.apps().put(test::make_app("first"));
      std::vector<App> bad = make_apps(3);
      bad[2].id = ".bad";
      CHECK(test::error_code_of([&] { tx.apps().put_many(bad); }) == errc::invalid_argument);
      CHECK(test::error_code_of([&] { tx.blocks().put_many({make_block("b1", "nope")}); }) ==
            errc::constraint);
      tx.apps().put_many(make_apps(2));
    });
    CHECK(f.reg.revision() == rev + 1);
    CHECK(test::keys_of(f.reg.apps().list(), [](const App& a) { return a.id; }) ==
          Ids{app_id(0), app_id(1), "first"});
    CHECK(f.reg.blocks().count() == 0);
    REQUIRE(f.reg.wait_for(rev + 1));
    const auto events = rec.events();
    CHECK(event_ids(events) == Ids{"first", app_id(0), app_id(1)});
    for (const auto& e : events) CHECK(e.revision == rev + 1);
  }
}

TEST_CASE_TEMPLATE("put_many: an empty batch writes nothing and takes no revision", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("p"));
  const Revision rev = f.reg.revision();
  test::Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  const auto commits = f.reg.stats().commits;

  CHECK(f.reg.apps().put_many({}).empty());
  CHECK(f.reg.pools().put_many({}).empty());
  CHECK(f.reg.blocks().put_many({}).empty());
  CHECK(f.reg.torrents().put_many({}).empty());
  CHECK(f.reg.torrents().save_all({}).empty());
  CHECK(f.reg.revision() == rev);
  CHECK(f.reg.stats().commits == commits);  // not even an empty transaction
  f.reg.transact([&](cairn::Tx& tx) { CHECK(tx.apps().put_many({}).empty()); });
  CHECK(f.reg.revision() == rev);
  check_nothing_published(f.reg, rec);
}

TEST_CASE_TEMPLATE("put_many: updates keep created_at, move updated_at and log the before image",
                   Mode, test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("p"));
  const App a = f.reg.apps().put(test::make_app("a", {"p"}, {{"v", 1}}));
  const MemoryBlock b = f.reg.blocks().put(make_block("b", "p"));
  f.clock.advance(5000);
  const Revision rev = f.reg.revision();
  test::Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  App a2 = test::make_app("a", {"q"}, {{"v", 2}});
  const auto apps = f.reg.apps().put_many({a2, test::make_app("new")});
  MemoryBlock b2 = b;
  b2.size = 8192;
  const auto blocks = f.reg.blocks().put_many({b2});

  REQUIRE(apps.size() == 2);
  CHECK(apps[0].created_at == a.created_at);
  CHECK(apps[0].registered == a.registered);
  CHECK(apps[0].updated_at == a.updated_at + 5000);
  CHECK(apps[0].meta == json{{"v", 2}});
  CHECK(apps[1].created_at == a.created_at + 5000);
  CHECK(test::image(f.reg.apps().get("a")) == test::image(apps[0]));
  CHECK(f.reg.apps().in_pool("p").empty());
  CHECK(f.reg.apps().in_pool("q").size() == 1);
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0].created_at == b.created_at);
  CHECK(blocks[0].updated_at == b.updated_at + 5000);
  CHECK(blocks[0].version == b.version + 1);

  REQUIRE(f.reg.wait_for(rev + 2));
  const auto events = rec.events();
  REQUIRE(events.size() == 3);
  CHECK(events[0].topic == "app.updated");
  REQUIRE(events[0].before.has_value());
  CHECK(*events[0].before == test::image(a));
  CHECK(*events[0].after == test::image(apps[0]));
  CHECK(events[1].topic == "app.registered");
  CHECK_FALSE(events[1].before.has_value());
  CHECK(events[2].topic == "memory_block.updated");
  REQUIRE(events[2].before.has_value());
  CHECK(*events[2].before == test::image(b));
}
