// Transactions: transact() and the begin() guard, savepoints, one revision
// per committed transaction, what a rollback leaves behind, errors inside a
// transaction, and writers on other threads and other registries.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::App;
using cairn::ConfigEntry;
using cairn::errc;
using cairn::Expect;
using cairn::MemoryBlock;
using cairn::Pool;
using cairn::Tx;
using nlohmann::json;
using test::error_code_of;
using test::make_app;
using namespace std::chrono_literals;

namespace {

Pool make_pool(std::string name) {
  Pool p;
  p.name = std::move(name);
  return p;
}

MemoryBlock make_block(std::string id, std::string pool) {
  MemoryBlock b;
  b.id = std::move(id);
  b.pool = std::move(pool);
  b.size = 16;
  return b;
}

std::vector<std::string> event_ids(const std::vector<cairn::Event>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  return ids;
}

// Checks that the events of one revision are numbered 0, 1, 2...
void check_indices(const std::vector<cairn::Event>& events) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    CAPTURE(i);
    CHECK(events[i].index == i);
  }
}

struct Marker : std::runtime_error {
  Marker() : std::runtime_error("marker") {}
};

}  // namespace

TEST_CASE_TEMPLATE("transactions: transact commits when the function returns", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put(make_app("before"));
  const auto rev = f.reg.revision();

  App inside;
  int result = f.reg.transact([&](Tx& tx) {
    tx.pools().put(make_pool("p"));
    tx.blocks().put(make_block("b", "p"));
    inside = tx.apps().put(make_app("a"));
    tx.config().save("c", "v");
    return 7;
  });
  CHECK(result == 7);
  // A write inside a transaction returns the record with the transaction's revision.
  CHECK(inside.revision == rev + 1);

  CHECK(f.reg.revision() == rev + 1);
  CHECK(f.reg.pools().get("p").revision == rev + 1);
  CHECK(f.reg.blocks().get("b").revision == rev + 1);
  CHECK(f.reg.apps().get("a").revision == rev + 1);
  CHECK(f.reg.config().get("c").revision == rev + 1);
  CHECK(f.reg.apps().get("before").revision == rev);

  auto events = f.reg.changes(rev + 1);
  REQUIRE(events.size() == 4);
  CHECK(event_ids(events) == std::vector<std::string>{"p", "b", "a", "c"});
  for (const auto& e : events) CHECK(e.revision == rev + 1);
  check_indices(events);
}

TEST_CASE_TEMPLATE("transactions: transact rolls back when the function throws", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  App kept = f.reg.apps().put(make_app("kept"));
  const auto rev = f.reg.revision();

  SUBCASE("any exception propagates") {
    CHECK_THROWS_AS(f.reg.transact([&](Tx& tx) {
      tx.apps().put(make_app("a"));
      tx.apps().update("kept", [](App& a) { a.meta = json{{"v", 2}}; });
      tx.apps().remove("kept");
      tx.pools().put(make_pool("p"));
      throw Marker();
    }),
                    Marker);
  }
  SUBCASE("a cairn::Error keeps its code") {
    CHECK(error_code_of([&] {
            f.reg.transact([&](Tx& tx) {
              tx.apps().put(make_app("a"));
              tx.pools().put(make_pool("p"));
              tx.apps().put(make_app("kept"), Expect{.revision = 0});  // conflict
            });
          }) == errc::conflict);
  }

  CHECK_FALSE(f.reg.apps().find("a").has_value());
  CHECK_FALSE(f.reg.pools().find("p").has_value());
  CHECK(test::image(f.reg.apps().get("kept")) == test::image(kept));
  CHECK(f.reg.revision() == rev);
  CHECK(f.reg.changes(rev + 1).empty());
}

TEST_CASE_TEMPLATE("transactions: a begin() guard rolls back unless committed", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  const auto rev = f.reg.revision();

  SUBCASE("dropped without commit") {
    {
      Tx tx = f.reg.begin();
      CHECK(tx.active());
      tx.apps().put(make_app("a"));
      tx.config().save("c", 1);
    }
    CHECK_FALSE(f.reg.apps().find("a").has_value());
    CHECK_FALSE(f.reg.config().load("c").has_value());
    CHECK(f.reg.revision() == rev);
  }

  SUBCASE("dropped during unwinding") {
    CHECK_THROWS_AS(
        [&] {
          Tx tx = f.reg.begin();
          tx.apps().put(make_app("a"));
          throw Marker();
        }(),
        Marker);
    CHECK_FALSE(f.reg.apps().find("a").has_value());
  }

  SUBCASE("committed") {
    {
      Tx tx = f.reg.begin();
      tx.apps().put(make_app("a"));
      tx.commit();
      CHECK_FALSE(tx.active());
      tx.rollback();  // a no-op once committed
    }
    CHECK(f.reg.apps().find("a").has_value());
    CHECK(f.reg.revision() == rev + 1);
  }

  SUBCASE("rolled back explicitly") {
    Tx tx = f.reg.begin();
    tx.apps().put(make_app("a"));
    tx.rollback();
    CHECK_FALSE(tx.active());
    tx.rollback();
    CHECK_FALSE(f.reg.apps().find("a").has_value());
    CHECK(f.reg.revision() == rev);
    // The registry takes new transactions afterwards.
    f.reg.apps().put(make_app("b"));
    CHECK(f.reg.revision() == rev + 1);
  }

  SUBCASE("moved, then committed through the new owner") {
    {
      Tx first = f.reg.begin();
      first.apps().put(make_app("a"));
      Tx second = std::move(first);
      CHECK(second.active());
      second.commit();
    }
    CHECK(f.reg.apps().find("a").has_value());
    CHECK(f.reg.revision() == rev + 1);
  }

  SUBCASE("moved, then dropped") {
    {
      Tx first = f.reg.begin();
      first.apps().put(make_app("a"));
      Tx second = std::move(first);
    }
    CHECK_FALSE(f.reg.apps().find("a").has_value());
    f.reg.apps().put(make_app("b"));
    CHECK(f.reg.revision() == rev + 1);
  }
}

TEST_CASE_TEMPLATE("transactions: close() with a transaction open rolls it back", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put(make_app("kept"));
  Tx tx = f.reg.begin();
  tx.apps().put(make_app("pending"));
  f.reg.close();
  CHECK(test::error_code_of([&] { tx.commit(); }) == errc::closed);
  CHECK(test::error_code_of([&] { tx.apps().find("kept"); }) == errc::closed);

  if constexpr (std::is_same_v<Mode, test::OnDisk>) {
    auto again = cairn::Registry::open(f.dir / "registry.db");
    CHECK(again.apps().find("kept").has_value());
    CHECK_FALSE(again.apps().find("pending").has_value());
  }
}

TEST_CASE_TEMPLATE("transactions: one revision per committed transaction", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.config().save("first", 1);
  const auto rev = f.reg.revision();

  f.reg.transact([&](Tx& tx) {
    for (int i = 0; i < 50; ++i) tx.apps().put(make_app("app-" + std::to_string(i)));
    tx.apps().update("app-3", [](App& a) { a.meta = json{{"v", 2}}; });
  });

  CHECK(f.reg.revision() == rev + 1);
  for (const auto& a : f.reg.apps().list()) CHECK(a.revision == rev + 1);
  auto events = f.reg.changes(rev + 1);
  CHECK(events.size() == 51);
  for (const auto& e : events) CHECK(e.revision == rev + 1);
  check_indices(events);

  f.reg.config().save("after", 1);
  CHECK(f.reg.revision() == rev + 2);
}

TEST_CASE_TEMPLATE("transactions: reads inside a transaction see its writes", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put(make_app("old"));

  f.reg.transact([&](Tx& tx) {
    tx.pools().put(make_pool("p"));
    tx.apps().put(make_app("a"));

    CHECK(tx.apps().find("a").has_value());
    CHECK(tx.apps().count() == 2);
    CHECK(tx.pools().get("p").name == "p");
    // The registry's own stores join the thread's transaction.
    CHECK(f.reg.apps().find("a").has_value());
    CHECK(f.reg.apps().list().size() == 2);

    // A block may name a pool created earlier in the same transaction.
    tx.blocks().put(make_block("b", "p"));
    CHECK(tx.blocks().get("b").pool == "p");

    App updated = tx.apps().update("a", [](App& a) { a.meta = json{{"v", 2}}; });
    CHECK(tx.apps().get("a").meta == json{{"v", 2}});
    CHECK(updated.meta == json{{"v", 2}});

    CHECK(tx.apps().remove("old"));
    CHECK_FALSE(tx.apps().find("old").has_value());
    CHECK_FALSE(f.reg.apps().find("old").has_value());
  });

  CHECK(f.reg.apps().get("a").meta == json{{"v", 2}});
  CHECK_FALSE(f.reg.apps().find("old").has_value());
  CHECK(f.reg.blocks().find("b").has_value());
}

TEST_CASE_TEMPLATE("transactions: nested transact becomes a savepoint", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  const auto rev = f.reg.revision();

  SUBCASE("rolling back the inner one keeps the outer's writes") {
    f.reg.transact([&](Tx& outer) {
      outer.apps().put(make_app("a"));
      CHECK_THROWS_AS(f.reg.transact([&](Tx& inner) {
        inner.apps().put(make_app("b"));
        inner.apps().update("a", [](App& a) { a.meta = json{{"v", "inner"}}; });
        inner.config().save("inner", true);
        throw Marker();
      }),
                      Marker);
      CHECK_FALSE(outer.apps().find("b").has_value());
      CHECK(outer.apps().get("a").meta == json{{"v", 1}});
      outer.apps().put(make_app("c"));
    });

    CHECK(f.reg.apps().find("a").has_value());
    CHECK(f.reg.apps().get("a").meta == json{{"v", 1}});
    CHECK_FALSE(f.reg.apps().find("b").has_value());
    CHECK(f.reg.apps().find("c").has_value());
    CHECK_FALSE(f.reg.config().find("inner").has_value());
    CHECK(f.reg.revision() == rev + 1);

    auto events = f.reg.changes(rev + 1);
    CHECK(event_ids(events) == std::vector<std::string>{"a", "c"});
    check_indices(events);
    REQUIRE_FALSE(events.empty());
    REQUIRE(events[0].after.has_value());
    CHECK(events[0].after->at("meta") == json{{"v", 1}});
  }

  SUBCASE("a committed inner one is kept with the outer") {
    f.reg.transact([&](Tx& outer) {
      outer.apps().put(make_app("a"));
      f.reg.transact([&](Tx& inner) { inner.apps().put(make_app("b")); });
    });
    CHECK(f.reg.apps().find("a").has_value());
    CHECK(f.reg.apps().find("b").has_value());
    CHECK(f.reg.revision() == rev + 1);
    auto events = f.reg.changes(rev + 1);
    CHECK(event_ids(events) == std::vector<std::string>{"a", "b"});
    check_indices(events);
  }

  SUBCASE("a committed inner one is undone when the outer rolls back") {
    CHECK_THROWS_AS(f.reg.transact([&](Tx& outer) {
      outer.apps().put(make_app("a"));
      f.reg.transact([&](Tx& inner) { inner.apps().put(make_app("b")); });
      throw Marker();
    }),
                    Marker);
    CHECK_FALSE(f.reg.apps().find("a").has_value());
    CHECK_FALSE(f.reg.apps().find("b").has_value());
    CHECK(f.reg.revision() == rev);
    CHECK(f.reg.changes(rev + 1).empty());
  }

  SUBCASE("with begin() guards") {
    Tx outer = f.reg.begin();
    outer.apps().put(make_app("a"));
    {
      Tx inner = f.reg.begin();
      inner.apps().put(make_app("b"));
    }  // dropped: only the savepoint is undone
    {
      Tx inner = f.reg.begin();
      inner.apps().put(make_app("c"));
      inner.rollback();
    }
    {
      Tx inner = f.reg.begin();
      inner.apps().put(make_app("d"));
      inner.commit();
    }
    CHECK(outer.active());
    outer.apps().put(make_app("e"));
    outer.commit();

    CHECK(f.reg.apps().find("a").has_value());
    CHECK_FALSE(f.reg.apps().find("b").has_value());
    CHECK_FALSE(f.reg.apps().find("c").has_value());
    CHECK(f.reg.apps().find("d").has_value());
    CHECK(f.reg.apps().find("e").has_value());
    CHECK(f.reg.revision() == rev + 1);
    auto events = f.reg.changes(rev + 1);
    CHECK(event_ids(events) == std::vector<std::string>{"a", "d", "e"});
    check_indices(events);
  }

  SUBCASE("three levels deep") {
    f.reg.transact([&](Tx& t1) {
      t1.apps().put(make_app("one"));
      f.reg.transact([&](Tx& t2) {
        t2.apps().put(make_app("two"));
        CHECK_THROWS_AS(f.reg.transact([&](Tx& t3) {
          t3.apps().put(make_app("three"));
          throw Marker();
        }),
                        Marker);
      });
    });
    CHECK(f.reg.apps().find("one").has_value());
    CHECK(f.reg.apps().find("two").has_value());
    CHECK_FALSE(f.reg.apps().find("three").has_value());
    CHECK(event_ids(f.reg.changes(rev + 1)) == std::vector<std::string>{"one", "two"});
  }
}

TEST_CASE_TEMPLATE(
    "transactions: a rolled-back transaction leaves no change-log rows and no revision", Mode,
    test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put(make_app("seed"));
  const auto rev = f.reg.revision();

  for (int i = 0; i < 3; ++i) {
    Tx tx = f.reg.begin();
    for (int j = 0; j < 5; ++j) tx.apps().put(make_app("t" + std::to_string(i * 10 + j)));
    tx.rollback();
  }
  CHECK(f.reg.revision() == rev);
  CHECK(f.reg.changes(rev + 1).empty());
  CHECK(f.reg.changes(1).size() == 1);

  App next = f.reg.apps().put(make_app("next"));
  CHECK(next.revision == rev + 1);
  auto events = f.reg.changes(rev + 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].id == "next");
  CHECK(events[0].index == 0);
}

TEST_CASE_TEMPLATE("transactions: a failing store call leaves the transaction usable", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.apps().put(make_app("existing"));
  f.reg.pools().put(make_pool("full"));
  f.reg.blocks().put(make_block("in-full", "full"));
  const auto rev = f.reg.revision();

  f.reg.transact([&](Tx& tx) {
    tx.apps().put(make_app("a"));
    CHECK(error_code_of([&] { tx.blocks().create(make_block("orphan", "missing")); }) ==
          errc::constraint);
    CHECK(error_code_of([&] { tx.pools().remove("full"); }) == errc::constraint);
    CHECK(error_code_of([&] { tx.apps().create(make_app("existing")); }) == errc::already_exists);
    CHECK(error_code_of([&] { tx.apps().put(make_app("existing"), Expect{.revision = 0}); }) ==
          errc::conflict);
    CHECK(error_code_of([&] { tx.apps().put(make_app("bad id")); }) == errc::invalid_argument);
    CHECK(error_code_of([&] { tx.apps().get("nobody"); }) == errc::not_found);
    CHECK(error_code_of([&] { f.reg.blocks().put(make_block("orphan2", "missing")); }) ==
          errc::constraint);
    tx.apps().put(make_app("z"));
    CHECK(tx.apps().find("a").has_value());
  });

  CHECK(f.reg.apps().find("a").has_value());
  CHECK(f.reg.apps().find("z").has_value());
  CHECK_FALSE(f.reg.blocks().find("orphan").has_value());
  CHECK(f.reg.pools().find("full").has_value());
  CHECK(f.reg.blocks().find("in-full").has_value());
  CHECK(f.reg.revision() == rev + 1);
  // Only the writes that succeeded left change-log rows.
  auto events = f.reg.changes(rev + 1);
  CHECK(event_ids(events) == std::vector<std::string>{"a", "z"});
  check_indices(events);
}

TEST_CASE_TEMPLATE("transactions: a second thread's write waits for the first's commit", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::optional<cairn::Error> other_error;
  std::string other_failure;
  cairn::Revision other_revision = 0;

  Tx tx = f.reg.begin();
  tx.apps().put(make_app("first"));

  std::thread other([&] {
    started = true;
    try {
      other_revision = f.reg.apps().put(make_app("second")).revision;
    } catch (const cairn::Error& e) {
      other_error = e;
    } catch (const std::exception& e) {
      other_failure = e.what();
    }
    finished = true;
  });
  while (!started) std::this_thread::yield();
  // Give the other thread time to reach the writer; it must still be waiting.
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(finished.load());
  tx.commit();
  other.join();

  CHECK_MESSAGE(!other_error.has_value(), (other_error ? other_error->what() : ""));
  CHECK(other_failure.empty());
  const auto first_revision = f.reg.apps().get("first").revision;
  CHECK(other_revision == first_revision + 1);
  CHECK(f.reg.revision() == other_revision);
}

TEST_CASE("transactions: other threads read the last committed state meanwhile") {
  // Durable mode only: an in-memory registry serves reads from the writer
  // connection, so its reads wait for the transaction (see registry.h).
  test::Fixture<test::OnDisk> f;
  f.reg.apps().put(make_app("committed"));
  const auto rev = f.reg.revision();

  Tx tx = f.reg.begin();
  tx.apps().put(make_app("pending"));
  tx.apps().remove("committed");

  auto reader = std::async(std::launch::async, [&] {
    return std::make_tuple(f.reg.apps().find("pending").has_value(),
                           f.reg.apps().find("committed").has_value(), f.reg.revision());
  });
  // Not a timing check: a reader that waited for the writer would wait forever here.
  REQUIRE(reader.wait_for(60s) == std::future_status::ready);
  auto [sees_pending, sees_committed, seen_revision] = reader.get();
  CHECK_FALSE(sees_pending);
  CHECK(sees_committed);
  CHECK(seen_revision == rev);

  tx.commit();
  auto after = std::async(std::launch::async, [&] {
    return std::make_pair(f.reg.apps().find("pending").has_value(),
                          f.reg.apps().find("committed").has_value());
  });
  auto [pending_now, committed_now] = after.get();
  CHECK(pending_now);
  CHECK_FALSE(committed_now);
}

TEST_CASE_TEMPLATE("transactions: concurrent writers from many threads all succeed", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  constexpr int kThreads = 4;
  constexpr int kWrites = 20;
  std::vector<std::vector<cairn::Revision>> revisions(kThreads);
  std::vector<std::string> failures(kThreads);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kWrites; ++i) {
          auto id = "t" + std::to_string(t) + "-" + std::to_string(i);
          if (i % 2 == 0) {
            revisions[t].push_back(f.reg.apps().put(make_app(id)).revision);
          } else {
            f.reg.transact([&](Tx& tx) {
              tx.apps().put(make_app(id));
              tx.config().save(id, i);
            });
            revisions[t].push_back(f.reg.config().get(id).revision);
          }
        }
      } catch (const std::exception& e) {
        failures[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();

  std::set<cairn::Revision> all;
  for (int t = 0; t < kThreads; ++t) {
    CAPTURE(t);
    CHECK(failures[t].empty());
    CHECK(std::is_sorted(revisions[t].begin(), revisions[t].end()));
    all.insert(revisions[t].begin(), revisions[t].end());
  }
  CHECK(all.size() == kThreads * kWrites);
  CHECK(f.reg.revision() == kThreads * kWrites);
  CHECK(f.reg.apps().count() == kThreads * kWrites);
}

TEST_CASE("transactions: two registries on one file share one revision sequence") {
  test::TempDir dir;
  auto one = cairn::Registry::open(dir / "shared.db");
  auto two = cairn::Registry::open(dir / "shared.db");

  SUBCASE("in turn") {
    auto r1 = one.apps().put(make_app("a")).revision;
    auto r2 = two.apps().put(make_app("b")).revision;
    auto r3 = one.apps().put(make_app("c")).revision;
    CHECK(r2 == r1 + 1);
    CHECK(r3 == r2 + 1);
    CHECK(one.revision() == r3);
    CHECK(two.revision() == r3);
    CHECK(one.apps().find("b").has_value());
    CHECK(two.apps().find("c").has_value());
    CHECK(one.changes(1).size() == 3);
  }

  SUBCASE("at the same time") {
    constexpr int kWrites = 20;
    std::string failure_one, failure_two;
    auto writer = [&](cairn::Registry& reg, const std::string& prefix, std::string& failure) {
      try {
        for (int i = 0; i < kWrites; ++i) reg.apps().put(make_app(prefix + std::to_string(i)));
      } catch (const std::exception& e) {
        failure = e.what();
      }
    };
    std::thread a([&] { writer(one, "one-", failure_one); });
    std::thread b([&] { writer(two, "two-", failure_two); });
    a.join();
    b.join();
    CHECK(failure_one.empty());
    CHECK(failure_two.empty());
    CHECK(one.revision() == 2 * kWrites);
    std::set<cairn::Revision> revisions;
    for (const auto& app : one.apps().list()) revisions.insert(app.revision);
    CHECK(revisions.size() == 2 * kWrites);
  }
}
