// Group commit (txn/store_context.h): transactions of several threads that
// queue behind one another share one SQLite COMMIT, yet each keeps its own
// revision, events and fate.
//
// How the tests make a group: the test thread opens a transaction and holds
// it while writer threads start and queue behind it (Stats::writers_waiting
// says when they all wait); its commit then hands the open transaction on to
// them, and the last of them COMMITs for all.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "fault_vfs.h"
#include "test_util.h"

using cairn::App;
using cairn::Kind;
using cairn::Registry;
using cairn::Revision;

namespace {

// Threads that each run one write, started while the test holds the writer.
class Writers {
 public:
  explicit Writers(Registry& reg) : reg_(reg) {}
  ~Writers() { join(); }

  // Starts fn on a thread; what it throws is kept as text ("" when it returned).
  void start(std::function<void(Registry&)> fn) {
    outcomes_.emplace_back();
    std::string* outcome = &outcomes_.back();
    threads_.emplace_back([this, fn = std::move(fn), outcome] {
      try {
        fn(reg_);
        *outcome = "ok";
      } catch (const cairn::Error& e) {
        *outcome = std::string(cairn::to_string(e.code_value())) + ": " + e.what();
      } catch (const std::exception& e) {
        *outcome = std::string("exception: ") + e.what();
      }
    });
  }

  // Waits until every writer started waits for the writer (or patience ends).
  bool all_waiting() const {
    const auto deadline = std::chrono::steady_clock::now() + test::kPatience;
    while (std::chrono::steady_clock::now() < deadline) {
      if (reg_.stats().writers_waiting == static_cast<std::int64_t>(threads_.size())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  // What each writer's call ended with, in start order.
  const std::deque<std::string>& join() {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    return outcomes_;
  }

 private:
  Registry& reg_;
  std::deque<std::string> outcomes_;  // a deque: threads hold pointers into it
  std::vector<std::thread> threads_;
};

App counter(int n) { return test::make_app("counter", {}, {{"n", n}}); }

// One increment of the counter, by compare-and-swap on its revision.
void increment(Registry& reg) {
  reg.transact([](cairn::Tx& tx) {
    const App current = tx.apps().get("counter");
    App next = counter(current.meta["n"].get<int>() + 1);
    tx.apps().put(next, cairn::Expect{current.revision});
  });
}

}  // namespace

TEST_CASE("group commit: queued writers share one COMMIT, each with its own revision") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "group.db");
  test::Recorder rec;
  auto sub = reg.subscribe({}, rec.handler());
  const cairn::Stats before = reg.stats();

  cairn::Tx holder = reg.begin();
  holder.apps().put(test::make_app("holder"));
  Writers writers(reg);
  constexpr int kWriters = 6;
  for (int i = 0; i < kWriters; ++i) {
    writers.start([i](Registry& r) { r.apps().put(test::make_app("w-" + std::to_string(i))); });
  }
  REQUIRE(writers.all_waiting());
  holder.commit();
  for (const std::string& outcome : writers.join()) CHECK(outcome == "ok");

  const cairn::Stats after = reg.stats();
  CHECK(after.transactions_committed - before.transactions_committed == kWriters + 1);
  CHECK(after.commits - before.commits == 1);
  // Every transaction has a revision of its own, and they are contiguous.
  std::vector<Revision> revisions;
  for (const App& app : reg.apps().list()) revisions.push_back(app.revision);
  std::sort(revisions.begin(), revisions.end());
  REQUIRE(revisions.size() == kWriters + 1);
  for (std::size_t i = 0; i < revisions.size(); ++i) CHECK(revisions[i] == revisions[0] + i);
  CHECK(reg.apps().get("holder").revision == revisions[0]);

  // Events: each one once, in revision order, one handler call per revision at most.
  REQUIRE(rec.wait_for_count(kWriters + 1, Kind::app));
  std::vector<Revision> seen;
  for (const auto& e : rec.events()) seen.push_back(e.revision);
  CHECK(seen == revisions);
}

TEST_CASE("group commit: a member that fails rolls back alone; the others commit") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "group.db");
  test::Recorder rec;
  auto sub = reg.subscribe({}, rec.handler());

  cairn::Tx holder = reg.begin();
  holder.apps().put(test::make_app("holder"));
  Writers writers(reg);
  writers.start([](Registry& r) {  // the caller's function throws after writing
    r.transact([](cairn::Tx& tx) {
      tx.apps().put(test::make_app("thrown"));
      throw std::runtime_error("the caller changed its mind");
    });
  });
  writers.start([](Registry& r) {  // a compare-and-swap that loses
    r.apps().put(test::make_app("holder", {"p"}), cairn::Expect{99});
  });
  writers.start([](Registry& r) {  // nested savepoints inside a member
    r.transact([&r](cairn::Tx& tx) {
      tx.apps().put(test::make_app("outer-1"));
      {
        cairn::Tx inner = r.begin();
        inner.apps().put(test::make_app("inner"));
        inner.rollback();
      }
      tx.apps().put(test::make_app("outer-2"));
    });
  });
  writers.start([](Registry& r) { r.apps().put(test::make_app("plain")); });
  REQUIRE(writers.all_waiting());
  holder.commit();
  const auto& outcomes = writers.join();
  CHECK(outcomes[0] == "exception: the caller changed its mind");
  CHECK(outcomes[1].rfind("conflict", 0) == 0);
  CHECK(outcomes[2] == "ok");
  CHECK(outcomes[3] == "ok");

  CHECK_FALSE(reg.apps().find("thrown"));
  CHECK_FALSE(reg.apps().find("inner"));
  CHECK(reg.apps().get("holder").pools.empty());
  CHECK(reg.apps().find("outer-1"));
  CHECK(reg.apps().find("outer-2"));
  CHECK(reg.apps().find("plain"));
  // Nothing of the failed members was published; the revisions stay contiguous.
  REQUIRE(rec.wait_for_count(4, Kind::app));
  std::vector<std::string> ids;
  std::vector<Revision> revisions;
  for (const auto& e : rec.events()) {
    ids.push_back(e.id);
    if (revisions.empty() || revisions.back() != e.revision) revisions.push_back(e.revision);
  }
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<std::string>{"holder", "outer-1", "outer-2", "plain"});
  REQUIRE(revisions.size() == 3);
  CHECK(revisions[1] == revisions[0] + 1);
  CHECK(revisions[2] == revisions[0] + 2);
  CHECK(reg.revision() == revisions[2]);
}

TEST_CASE("group commit: a member reads the writes of the members before it") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "group.db");
  reg.apps().put(counter(0));

  SUBCASE("behind a held transaction") {
    cairn::Tx holder = reg.begin();
    holder.apps().put(counter(1), cairn::Expect{reg.apps().get("counter").revision});
    Writers writers(reg);
    for (int i = 0; i < 3; ++i) writers.start(increment);
    REQUIRE(writers.all_waiting());
    holder.commit();  // not durable until the writers after it are
    for (const std::string& outcome : writers.join()) CHECK(outcome == "ok");
    CHECK(reg.apps().get("counter").meta["n"] == 4);
  }

  SUBCASE("many threads incrementing at once") {
    constexpr int kThreads = 4, kEach = 50;
    Writers writers(reg);
    for (int t = 0; t < kThreads; ++t) {
      writers.start([](Registry& r) {
        for (int i = 0; i < kEach; ++i) increment(r);
      });
    }
    for (const std::string& outcome : writers.join()) CHECK(outcome == "ok");
    CHECK(reg.apps().get("counter").meta["n"] == kThreads * kEach);
  }
}

TEST_CASE("group commit: a lone writer commits at once, one COMMIT per transaction") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "group.db");
  const cairn::Stats before = reg.stats();
  for (int i = 0; i < 20; ++i) reg.apps().put(test::make_app("a" + std::to_string(i)));
  const cairn::Stats after = reg.stats();
  CHECK(after.transactions_committed - before.transactions_committed == 20);
  CHECK(after.commits - before.commits == 20);
  CHECK(after.writers_waiting == 0);
}

TEST_CASE("group commit: in memory, transactions are never grouped") {
  Registry reg = Registry::open_in_memory();
  const cairn::Stats before = reg.stats();
  cairn::Tx holder = reg.begin();
  holder.apps().put(test::make_app("holder"));
  Writers writers(reg);
  for (int i = 0; i < 3; ++i) {
    writers.start([i](Registry& r) { r.apps().put(test::make_app("w-" + std::to_string(i))); });
  }
  REQUIRE(writers.all_waiting());
  holder.commit();
  for (const std::string& outcome : writers.join()) CHECK(outcome == "ok");
  const cairn::Stats after = reg.stats();
  CHECK(after.commits - before.commits == 4);
  CHECK(reg.apps().list().size() == 4);
}

TEST_CASE("group commit: a failed COMMIT fails every member, and nothing is visible or published") {
  faultvfs::install();
  test::TempDir dir;
  const auto path = dir / "group.db";
  Registry reg = Registry::open(path);
  reg.apps().put(test::make_app("before"));
  test::Recorder rec;
  auto sub = reg.subscribe({}, rec.handler(), cairn::SubscribeOptions{.from = 1});
  REQUIRE(rec.wait_for_count(1, Kind::app));
  const Revision revision = reg.revision();

  cairn::Tx holder = reg.begin();
  holder.apps().put(test::make_app("holder"));
  Writers writers(reg);
  for (int i = 0; i < 3; ++i) {
    writers.start([i](Registry& r) { r.apps().put(test::make_app("w-" + std::to_string(i))); });
  }
  REQUIRE(writers.all_waiting());
  // The group's one fsync fails, on whichever thread runs the COMMIT.
  faultvfs::arm({.op = faultvfs::Op::sync,
                 .nth = 1,
                 .how = faultvfs::How::eio,
                 .files = faultvfs::registry_files(path),
                 .this_thread_only = false});
  std::string holder_outcome = "ok";
  try {
    holder.commit();
  } catch (const cairn::Error& e) {
    holder_outcome = cairn::to_string(e.code_value());
  }
  const auto outcomes = writers.join();
  faultvfs::disarm();
  CHECK(faultvfs::report().fired == 1);
  CHECK(holder_outcome == "io_error");
  for (const std::string& outcome : outcomes) CHECK(outcome.rfind("io_error", 0) == 0);

  CHECK(reg.revision() == revision);
  CHECK(reg.apps().list().size() == 1);
  // The registry goes on: the next write commits, and is the next event.
  reg.apps().put(test::make_app("after"));
  REQUIRE(rec.wait_for_count(2, Kind::app));
  const auto events = rec.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1].id == "after");
  CHECK(events[1].revision == revision + 1);

  reg.close();
  Registry reopened = Registry::open(path);
  CHECK(reopened.apps().list().size() == 2);
}
