// The change-event bus (DESIGN section 6), through the public API: topics and
// record images, delivery after COMMIT and never for rolled-back work, one
// handler call per revision, filters, priority, failing and slow handlers,
// queue overflow, wait_for, unsubscribing, replay from a revision (while a
// writer commits), compaction, named subscriptions across a reopen, retention
// pinned by named subscriptions, and the subscribers' statistics.
//
// Nothing here asserts a duration. Sleeps and bounded waits only keep a broken
// build from hanging; every condition checked holds by contract.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::App;
using cairn::Cascade;
using cairn::ConfigEntry;
using cairn::errc;
using cairn::Event;
using cairn::Filter;
using cairn::Kind;
using cairn::MemoryBlock;
using cairn::Op;
using cairn::Pool;
using cairn::Registry;
using cairn::Revision;
using cairn::SubscribeOptions;
using cairn::Subscription;
using cairn::Tx;
using nlohmann::json;
using test::error_code_of;
using test::kPatience;
using test::make_app;
using test::Recorder;
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

json json_of(const Event& e) {
  json j;
  to_json(j, e);
  return j;
}

std::vector<std::string> ids_of(const std::vector<Event>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  return ids;
}

// A door a handler waits at until the test opens it.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Waits until open, at most kPatience (then the test fails elsewhere).
  void wait() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, kPatience, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Polls `done` until it holds or the patience runs out; returns its last value.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds patience = kPatience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// The change log grouped by revision: revision -> its events, in index order.
std::map<Revision, std::vector<Event>> log_by_revision(const Registry& reg, Revision from) {
  std::map<Revision, std::vector<Event>> out;
  for (auto& e : reg.changes(from)) out[e.revision].push_back(std::move(e));
  return out;
}

// Checks that `calls` are exactly the revisions from..to of the change log,
// one call per revision, each with all its events, in order.
void check_exact_stream(const Registry& reg, const std::vector<std::vector<Event>>& calls,
                        Revision from, Revision to) {
  const auto log = log_by_revision(reg, 1);
  REQUIRE(to >= from - 1);
  CHECK(calls.size() == static_cast<std::size_t>(to - from + 1));
  Revision expected = from;
  for (const auto& call : calls) {
    CAPTURE(expected);
    REQUIRE_FALSE(call.empty());
    CHECK(call.front().revision == expected);
    const auto it = log.find(call.front().revision);
    if (it == log.end()) {
      FAIL_CHECK("revision " << call.front().revision << " is not in the change log");
      ++expected;
      continue;
    }
    REQUIRE(call.size() == it->second.size());
    for (std::size_t i = 0; i < call.size(); ++i) CHECK(json_of(call[i]) == json_of(it->second[i]));
    ++expected;
  }
}

// The subscriber stats for `name` (anonymous: "").
std::optional<cairn::SubscriberStats> subscriber_stats(const Registry& reg,
                                                       const std::string& name) {
  for (const auto& s : reg.stats().subscribers) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

cairn::Options durable_options() {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.actor = "events-test";
  return o;
}

struct Marker : std::runtime_error {
  Marker() : std::runtime_error("marker") {}
};

}  // namespace

// ---- What an event says ------------------------------------------------------

TEST_CASE_TEMPLATE("events: every store change has its topic, op and before/after images", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());
  const Revision first = f.reg.revision() + 1;

  struct Expected {
    Kind kind;
    Op op;
    std::string topic;
    std::string id;
    std::optional<json> before, after;
    cairn::Timestamp at;
  };
  std::vector<Expected> expected;
  auto expect = [&](Kind kind, Op op, std::string topic, std::string id, std::optional<json> before,
                    std::optional<json> after) {
    expected.push_back(Expected{kind, op, std::move(topic), std::move(id), std::move(before),
                                std::move(after), f.clock.now()});
    f.clock.advance(1000);
  };

  const App a1 = f.reg.apps().create(make_app("app-1"));
  expect(Kind::app, Op::created, "app.registered", "app-1", std::nullopt, test::image(a1));
  const App a2 = f.reg.apps().update("app-1", [](App& a) { a.meta["v"] = 2; });
  expect(Kind::app, Op::updated, "app.updated", "app-1", test::image(a1), test::image(a2));
  REQUIRE(f.reg.apps().remove("app-1"));
  expect(Kind::app, Op::removed, "app.removed", "app-1", test::image(a2), std::nullopt);

  const Pool p1 = f.reg.pools().put(make_pool("pool-1"));
  expect(Kind::pool, Op::created, "pool.created", "pool-1", std::nullopt, test::image(p1));
  Pool edited = p1;
  edited.description = "edited";
  const Pool p2 = f.reg.pools().put(edited);
  expect(Kind::pool, Op::updated, "pool.updated", "pool-1", test::image(p1), test::image(p2));

  const MemoryBlock b1 = f.reg.blocks().create(make_block("block-1", "pool-1"));
  expect(Kind::memory_block, Op::created, "memory_block.created", "block-1", std::nullopt,
         test::image(b1));
  const MemoryBlock b2 = f.reg.blocks().update("block-1", [](MemoryBlock& b) { b.size = 64; });
  expect(Kind::memory_block, Op::updated, "memory_block.updated", "block-1", test::image(b1),
         test::image(b2));
  REQUIRE(f.reg.blocks().remove("block-1"));
  expect(Kind::memory_block, Op::removed, "memory_block.removed", "block-1", test::image(b2),
         std::nullopt);

  REQUIRE(f.reg.pools().remove("pool-1"));
  expect(Kind::pool, Op::removed, "pool.removed", "pool-1", test::image(p2), std::nullopt);

  const ConfigEntry c1 = f.reg.config().save("limits", json{{"max", 1}});
  expect(Kind::config, Op::created, "config.changed", "limits", std::nullopt, test::image(c1));
  const ConfigEntry c2 = f.reg.config().save("limits", json{{"max", 2}});
  expect(Kind::config, Op::updated, "config.changed", "limits", test::image(c1), test::image(c2));
  REQUIRE(f.reg.config().remove("limits"));
  expect(Kind::config, Op::removed, "config.changed", "limits", test::image(c2), std::nullopt);

  const Revision last = f.reg.revision();
  REQUIRE(last == first + static_cast<Revision>(expected.size()) - 1);
  REQUIRE(f.reg.wait_for(last, kPatience));

  const auto calls = rec.calls();
  const auto log = f.reg.changes(first);
  REQUIRE(calls.size() == expected.size());
  REQUIRE(log.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CAPTURE(expected[i].topic);
    REQUIRE(calls[i].size() == 1);
    const Event& e = calls[i].front();
    CHECK(e.revision == first + static_cast<Revision>(i));
    CHECK(e.index == 0);
    CHECK(e.kind == expected[i].kind);
    CHECK(e.op == expected[i].op);
    CHECK(e.topic == expected[i].topic);
    CHECK(e.id == expected[i].id);
    CHECK(e.before == expected[i].before);
    CHECK(e.after == expected[i].after);
    CHECK(e.at == expected[i].at);
    CHECK(e.actor == "test-actor");
    // What a subscriber gets is what the durable change log says.
    CHECK(json_of(e) == json_of(log[i]));
  }
}

TEST_CASE("events: an event's JSON carries every field") {
  test::Fixture<test::InMemory> f;
  const App a = f.reg.apps().put(make_app("json-app"));
  const auto log = f.reg.changes(1);
  REQUIRE(log.size() == 1);
  const json j = json_of(log.front());
  CHECK(j.at("revision") == a.revision);
  CHECK(j.at("index") == 0);
  CHECK(j.at("kind") == "app");
  CHECK(j.at("op") == "created");
  CHECK(j.at("topic") == "app.registered");
  CHECK(j.at("id") == "json-app");
  CHECK(j.at("after") == test::image(a));
  CHECK_FALSE(j.contains("before"));  // absent on create
  CHECK(j.at("at") == f.clock.now());
  CHECK(j.at("actor") == "test-actor");
}

// ---- Delivery after COMMIT, whole revisions ---------------------------------

TEST_CASE_TEMPLATE("events: a transaction's events arrive after COMMIT, in one handler call", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  Revision inside = 0;
  f.reg.transact([&](Tx& tx) {
    tx.apps().put(make_app("t-app"));
    tx.pools().put(make_pool("t-pool"));
    tx.blocks().put(make_block("t-block", "t-pool"));
    tx.config().save("t-key", json{{"on", true}});
    // The transaction's revision, seen from inside it: not committed yet, so no
    // subscriber can have it.
    inside = f.reg.revision();
    CHECK_FALSE(f.reg.wait_for(inside, 100ms));
    CHECK_FALSE(rec.has_revision(inside));
  });
  REQUIRE(inside == f.reg.revision());
  REQUIRE(f.reg.wait_for(inside, kPatience));

  auto calls = rec.calls();
  REQUIRE(calls.size() == 1);
  const auto& batch = calls.front();
  REQUIRE(batch.size() == 4);
  CHECK(ids_of(batch) == std::vector<std::string>{"t-app", "t-pool", "t-block", "t-key"});
  for (std::uint32_t i = 0; i < batch.size(); ++i) {
    CHECK(batch[i].revision == inside);
    CHECK(batch[i].index == i);
  }
  CHECK(batch[0].kind == Kind::app);
  CHECK(batch[1].kind == Kind::pool);
  CHECK(batch[2].kind == Kind::memory_block);
  CHECK(batch[3].kind == Kind::config);

  SUBCASE("a cascading pool removal is one revision: each block, then the pool") {
    f.reg.blocks().put(make_block("t-block-2", "t-pool"));
    REQUIRE(f.reg.pools().remove("t-pool", {}, Cascade::yes));
    const Revision rev = f.reg.revision();
    REQUIRE(f.reg.wait_for(rev, kPatience));
    calls = rec.calls();
    REQUIRE(calls.size() == 3);
    const auto& removal = calls.back();
    REQUIRE(removal.size() == 3);
    std::set<std::string> blocks;
    for (std::uint32_t i = 0; i < removal.size(); ++i) {
      CHECK(removal[i].revision == rev);
      CHECK(removal[i].index == i);
      CHECK(removal[i].op == Op::removed);
      CHECK(removal[i].before.has_value());
      CHECK_FALSE(removal[i].after.has_value());
      if (i < 2) {
        CHECK(removal[i].topic == "memory_block.removed");
        blocks.insert(removal[i].id);
      }
    }
    CHECK(blocks == std::set<std::string>{"t-block", "t-block-2"});
    CHECK(removal[2].topic == "pool.removed");
    CHECK(removal[2].id == "t-pool");
  }
}

TEST_CASE_TEMPLATE("events: rolled-back work publishes nothing", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  f.reg.pools().put(make_pool("pool"));
  Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());
  const Revision before = f.reg.revision();

  SUBCASE("an exception leaves transact") {
    CHECK_THROWS_AS(f.reg.transact([&](Tx& tx) {
      tx.apps().put(make_app("gone-app"));
      tx.pools().put(make_pool("gone-pool"));
      tx.config().save("gone-key", 1);
      throw Marker();
    }),
                    Marker);
  }
  SUBCASE("a Tx guard dropped without commit") {
    Tx tx = f.reg.begin();
    tx.apps().put(make_app("gone-app"));
  }
  SUBCASE("an explicit rollback") {
    Tx tx = f.reg.begin();
    tx.apps().put(make_app("gone-app"));
    tx.blocks().put(make_block("gone-block", "pool"));
    tx.rollback();
  }
  SUBCASE("a write that fails a constraint, outside a transaction") {
    CHECK(error_code_of([&] { f.reg.blocks().create(make_block("gone-block", "no-pool")); }) ==
          errc::constraint);
  }
  SUBCASE("a write that fails a constraint inside a transaction that then throws") {
    CHECK(error_code_of([&] {
            f.reg.transact([&](Tx& tx) {
              tx.apps().put(make_app("gone-app"));
              tx.blocks().create(make_block("gone-block", "no-pool"));
            });
          }) == errc::constraint);
  }

  // Nothing was committed, so nothing is in the log, and delivery has nothing
  // to catch up with.
  CHECK(f.reg.revision() == before);
  CHECK(f.reg.changes(before + 1).empty());
  CHECK(f.reg.wait_for(before, kPatience));

  // A later commit takes the next revision, and it is all the subscriber sees.
  f.reg.config().save("marker", true);
  const Revision marker = f.reg.revision();
  CHECK(marker == before + 1);
  REQUIRE(f.reg.wait_for(marker, kPatience));
  const auto calls = rec.calls();
  REQUIRE(calls.size() == 1);
  REQUIRE(calls.front().size() == 1);
  CHECK(calls.front().front().id == "marker");
  CHECK(calls.front().front().revision == marker);
}

TEST_CASE_TEMPLATE("events: a rolled-back part of a committed transaction publishes nothing", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  Recorder rec;
  auto sub = f.reg.subscribe({}, rec.handler());

  SUBCASE("a nested transact that throws (a savepoint)") {
    f.reg.transact([&](Tx& tx) {
      tx.apps().put(make_app("kept-1"));
      CHECK_THROWS_AS(f.reg.transact([&](Tx& inner) {
        inner.apps().put(make_app("inner-gone"));
        inner.config().save("inner-gone-key", 1);
        throw Marker();
      }),
                      Marker);
      tx.config().save("kept-2", 2);
    });
  }
  SUBCASE("a failed write caught inside the transaction") {
    f.reg.transact([&](Tx& tx) {
      tx.apps().put(make_app("kept-1"));
      CHECK(error_code_of([&] { tx.blocks().create(make_block("orphan", "no-pool")); }) ==
            errc::constraint);
      tx.config().save("kept-2", 2);
    });
  }

  const Revision rev = f.reg.revision();
  REQUIRE(f.reg.wait_for(rev, kPatience));
  const auto calls = rec.calls();
  REQUIRE(calls.size() == 1);
  CHECK(ids_of(calls.front()) == std::vector<std::string>{"kept-1", "kept-2"});
  for (std::uint32_t i = 0; i < calls.front().size(); ++i) {
    CHECK(calls.front()[i].revision == rev);
    CHECK(calls.front()[i].index == i);  // no hole where the undone write was
  }
  CHECK(ids_of(f.reg.changes(1)) == std::vector<std::string>{"kept-1", "kept-2"});
}

// ---- Filters ---------------------------------------------------------------

TEST_CASE_TEMPLATE("events: filters by kind, topic and id prefix", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;

  struct Case {
    const char* what;
    Filter filter;
    std::vector<std::string> ids;  // expected, in order
    std::size_t calls;             // handler calls: revisions with a match
  };
  std::vector<Case> cases = {
      {"kinds {pool}", Filter{.kinds = {Kind::pool}}, {"svc/pool", "web/pool"}, 2},
      {"topics {app.removed, config.changed}",
       Filter{.topics = {"app.removed", "config.changed"}},
       {"svc/limit", "svc/a", "web/x"},
       3},
      {"id prefix svc/",
       Filter{.id_prefix = "svc/"},
       {"svc/a", "svc/pool", "svc/b", "svc/limit", "svc/blk", "svc/a"},
       5},
      {"kinds {app} and id prefix web/",
       Filter{.kinds = {Kind::app}, .id_prefix = "web/"},
       {"web/c"},
       1},
      {"kinds {app, memory_block} and two topics",
       Filter{.kinds = {Kind::app, Kind::memory_block},
              .topics = {"app.registered", "memory_block.created"}},
       {"svc/a", "svc/b", "web/c", "svc/blk"},
       3},
      {"kinds {config} and a pool topic: nothing matches both",
       Filter{.kinds = {Kind::config}, .topics = {"pool.created"}},
       {},
       0},
  };

  std::vector<std::unique_ptr<Recorder>> live;
  std::vector<Subscription> subs;
  for (const auto& c : cases) {
    live.push_back(std::make_unique<Recorder>());
    subs.push_back(f.reg.subscribe(c.filter, live.back()->handler()));
  }

  const Revision first = f.reg.revision() + 1;
  f.reg.apps().put(make_app("svc/a"));       // A
  f.reg.pools().put(make_pool("svc/pool"));  // B
  f.reg.transact([&](Tx& tx) {               // C
    tx.apps().put(make_app("svc/b"));
    tx.apps().put(make_app("web/c"));
    tx.config().save("svc/limit", 10);
    tx.pools().put(make_pool("web/pool"));
  });
  f.reg.blocks().put(make_block("svc/blk", "svc/pool"));  // D
  f.reg.apps().remove("svc/a");                           // E
  f.reg.config().save("web/x", "y");                      // F
  const Revision last = f.reg.revision();
  REQUIRE(last == first + 5);
  REQUIRE(f.reg.wait_for(last, kPatience));

  // Replayed from the log, the same filters pick the same events.
  std::vector<std::unique_ptr<Recorder>> replayed;
  for (const auto& c : cases) {
    replayed.push_back(std::make_unique<Recorder>());
    subs.push_back(
        f.reg.subscribe(c.filter, replayed.back()->handler(), SubscribeOptions{.from = first}));
  }
  REQUIRE(f.reg.wait_for(last, kPatience));

  const auto log = log_by_revision(f.reg, first);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].what);
    for (const Recorder* rec : {live[i].get(), replayed[i].get()}) {
      const auto calls = rec->calls();
      CHECK(ids_of(rec->events()) == cases[i].ids);
      CHECK(calls.size() == cases[i].calls);
      for (const auto& call : calls) {
        // One call per revision, and each event exactly as logged (indices
        // keep their place in the revision).
        REQUIRE_FALSE(call.empty());
        const auto& logged = log.at(call.front().revision);
        for (const auto& e : call) {
          CHECK(e.revision == call.front().revision);
          REQUIRE(e.index < logged.size());
          CHECK(json_of(e) == json_of(logged[e.index]));
        }
      }
    }
  }
  // In the mixed transaction, the id-prefix subscriber gets its two events of
  // the four, in one call, at their own indices.
  const auto svc_calls = live[2]->calls();
  REQUIRE(svc_calls.size() == 5);
  REQUIRE(svc_calls[2].size() == 2);
  CHECK(svc_calls[2][0].index == 0);
  CHECK(svc_calls[2][1].index == 2);
}

// ---- Priority, failing and slow handlers --------------------------------------

// Each subscriber has its own delivery thread, so "handed first" means queued
// first; which of two idle handlers then runs first is up to the scheduler and
// is not checked. What is checked: with a slow lower-priority handler, the
// higher one receives every revision first and is never held back by it.
// (Swapping the priority order in EventBus::subscribe does not make this case
// fail: priority is not observable through the public API beyond this.)
TEST_CASE("events: a higher priority subscriber is handed each revision first") {
  test::Fixture<test::OnDisk> f;
  std::mutex mu;
  std::vector<std::pair<Revision, std::string>> receipts;  // (revision, who), in order
  auto record = [&](std::span<const Event> events, const char* who) {
    std::lock_guard lock(mu);
    receipts.emplace_back(events.front().revision, who);
  };
  auto count_of = [&](const std::string& who) {
    std::lock_guard lock(mu);
    return std::count_if(receipts.begin(), receipts.end(),
                         [&](const auto& r) { return r.second == who; });
  };

  // The slow, low-priority subscriber comes first, so that subscription order
  // alone would hand it each revision first.
  Gate gate;
  auto low = f.reg.subscribe(
      {},
      [&](std::span<const Event> events) {
        gate.wait();
        record(events, "low");
      },
      SubscribeOptions{.priority = -5});
  auto high = f.reg.subscribe(
      {}, [&](std::span<const Event> events) { record(events, "high"); },
      SubscribeOptions{.priority = 100});

  const Revision first = f.reg.revision() + 1;
  constexpr int kRevisions = 5;
  for (int i = 0; i < kRevisions; ++i) f.reg.apps().put(make_app("prio-" + std::to_string(i)));
  const Revision last = f.reg.revision();

  // The slow handler delays nobody else: the high one gets everything while
  // the low one is still held in its first call.
  CHECK(eventually([&] { return count_of("high") == kRevisions; }));
  CHECK(count_of("low") == 0);
  CHECK_FALSE(f.reg.wait_for(last, 50ms));
  gate.open();
  REQUIRE(f.reg.wait_for(last, kPatience));

  std::lock_guard lock(mu);
  REQUIRE(receipts.size() == 2 * kRevisions);
  for (Revision r = first; r <= last; ++r) {
    CAPTURE(r);
    auto it =
        std::find_if(receipts.begin(), receipts.end(), [&](const auto& x) { return x.first == r; });
    REQUIRE(it != receipts.end());
    CHECK(it->second == "high");
  }
}

TEST_CASE("events: a throwing handler is counted and logged, and delivery goes on") {
  test::TempDir dir;
  std::mutex log_mu;
  std::vector<std::string> logged;
  cairn::Options o = durable_options();
  o.log = [&](std::string_view message) {
    std::lock_guard lock(log_mu);
    logged.emplace_back(message);
  };
  Registry reg = Registry::open(dir / "throwing.db", o);

  std::atomic<int> thrower_calls{0};
  auto thrower = reg.subscribe({}, [&](std::span<const Event> events) {
    ++thrower_calls;
    if (events.front().revision % 2 == 0) throw std::runtime_error("handler failed on purpose");
    throw 42;  // not even a std::exception
  });
  Recorder rec;
  auto normal = reg.subscribe({}, rec.handler());

  constexpr int kRevisions = 10;
  for (int i = 0; i < kRevisions; ++i) reg.apps().put(make_app("throw-" + std::to_string(i)));
  const Revision last = reg.revision();
  // A handler that throws still moves on: wait_for does not hang on it.
  REQUIRE(reg.wait_for(last, kPatience));

  check_exact_stream(reg, rec.calls(), 1, last);
  CHECK(thrower_calls == kRevisions);  // called for every revision, not stopped at the first throw

  const auto stats = reg.stats();
  CHECK(stats.handler_failures == kRevisions);
  REQUIRE(stats.subscribers.size() == 2);
  int failing = 0;
  for (const auto& s : stats.subscribers) {
    if (s.handler_failures == kRevisions) {
      ++failing;
      CHECK(s.delivered == last);
    } else {
      CHECK(s.handler_failures == 0);
      CHECK(s.events_delivered == kRevisions);
    }
  }
  CHECK(failing == 1);

  std::lock_guard lock(log_mu);
  CHECK(logged.size() == static_cast<std::size_t>(kRevisions));
  const bool names_the_error = std::any_of(logged.begin(), logged.end(), [](const auto& m) {
    return test::contains(m, "handler failed on purpose");
  });
  CHECK(names_the_error);
}

TEST_CASE("events: an overflowing queue is replaced by one resync_required event") {
  test::Fixture<test::OnDisk> f;
  Gate gate;
  std::atomic<bool> blocked{false};
  Recorder slow_rec;
  // The filter does not stop a resync_required event: it always matches.
  auto slow = f.reg.subscribe(
      Filter{.kinds = {Kind::app}},
      [&](std::span<const Event> events) {
        slow_rec.add(events);
        blocked = true;
        gate.wait();
      },
      SubscribeOptions{.queue_capacity = 5});
  Recorder fast_rec;
  auto fast = f.reg.subscribe({}, fast_rec.handler());

  const Revision first = f.reg.revision() + 1;
  f.reg.apps().put(make_app("flood-0"));
  REQUIRE(eventually([&] { return blocked.load(); }));  // held inside its first call
  for (int i = 1; i < 100; ++i) f.reg.apps().put(make_app("flood-" + std::to_string(i)));
  const Revision last = f.reg.revision();
  REQUIRE(last == first + 99);

  // The other subscriber is not held back and gets all 100 revisions.
  REQUIRE(eventually([&] { return fast.delivered() == last; }));
  check_exact_stream(f.reg, fast_rec.calls(), first, last);
  // Delivery is not caught up while the slow handler holds on.
  CHECK_FALSE(f.reg.wait_for(last, 50ms));

  {
    const auto stats = f.reg.stats();
    CHECK(stats.subscribers.size() == 2);
    int lagging = 0;
    for (const auto& s : stats.subscribers) {
      if (s.lag > 0) {
        ++lagging;
        CHECK(s.lag == last - (first - 1));  // still inside its first revision
        CHECK(s.resyncs >= 1);
      } else {
        CHECK(s.delivered == last);
      }
    }
    CHECK(lagging == 1);
  }

  gate.open();
  REQUIRE(f.reg.wait_for(last, kPatience));
  CHECK(slow.delivered() == last);

  const auto calls = slow_rec.calls();
  REQUIRE(calls.size() >= 2);
  // First call: the revision it was holding.
  REQUIRE(calls[0].size() == 1);
  CHECK(calls[0][0].revision == first);
  CHECK(calls[0][0].id == "flood-0");
  // Then one resync_required event instead of what overflowed...
  REQUIRE(calls[1].size() == 1);
  const Event& resync = calls[1][0];
  CHECK(resync.op == Op::resync_required);
  CHECK(resync.kind == Kind::registry);
  CHECK(resync.revision > first);
  CHECK(resync.revision <= last);
  std::size_t resyncs = 0;
  for (const auto& call : calls) {
    for (const auto& e : call) resyncs += e.op == Op::resync_required ? 1 : 0;
  }
  CHECK(resyncs == 1);
  // ...then everything after the resync revision, with nothing missing.
  const std::vector<std::vector<Event>> after(calls.begin() + 2, calls.end());
  check_exact_stream(f.reg, after, resync.revision + 1, last);
}

// ---- wait_for and unsubscribing ---------------------------------------------

TEST_CASE("events: wait_for returns once every subscriber has handled the revision") {
  test::Fixture<test::OnDisk> f;
  SUBCASE("with no subscriber there is nothing to wait for") {
    f.reg.apps().put(make_app("a"));
    CHECK(f.reg.wait_for(f.reg.revision(), 1s));
  }
  SUBCASE("a revision not committed yet is not caught up") {
    Recorder rec;
    auto sub = f.reg.subscribe({}, rec.handler());
    f.reg.apps().put(make_app("a"));
    const Revision rev = f.reg.revision();
    CHECK(f.reg.wait_for(rev, kPatience));
    CHECK(rec.has_revision(rev));  // handled, not just queued
    CHECK_FALSE(f.reg.wait_for(rev + 1, 50ms));
  }
}

TEST_CASE_TEMPLATE("events: dropping the Subscription unsubscribes", Mode, test::InMemory,
                   test::OnDisk) {
  test::Fixture<Mode> f;
  Recorder witness_rec;
  auto witness = f.reg.subscribe({}, witness_rec.handler());
  Recorder rec;

  SUBCASE("reset()") {
    auto sub = f.reg.subscribe({}, rec.handler());
    f.reg.apps().put(make_app("a"));
    REQUIRE(f.reg.wait_for(f.reg.revision(), kPatience));
    CHECK(sub.active());
    sub.reset();
    CHECK_FALSE(sub.active());
    sub.reset();  // idempotent
  }
  SUBCASE("the destructor") {
    {
      auto sub = f.reg.subscribe({}, rec.handler());
      f.reg.apps().put(make_app("a"));
      REQUIRE(f.reg.wait_for(f.reg.revision(), kPatience));
    }
  }
  SUBCASE("move assignment over a live subscription drops the old one") {
    auto sub = f.reg.subscribe({}, rec.handler());
    f.reg.apps().put(make_app("a"));
    REQUIRE(f.reg.wait_for(f.reg.revision(), kPatience));
    Recorder other;
    sub = f.reg.subscribe({}, other.handler());
    Subscription moved = std::move(sub);
    CHECK(moved.active());
    CHECK_FALSE(sub.active());  // NOLINT(bugprone-use-after-move): moved-from is empty
    f.reg.apps().put(make_app("b"));
    REQUIRE(f.reg.wait_for(f.reg.revision(), kPatience));
    CHECK(other.has_revision(f.reg.revision()));  // the moved subscription still delivers
  }
  SUBCASE("reset() inside its own handler") {
    std::unique_ptr<Subscription> self = std::make_unique<Subscription>();
    std::atomic<bool> dropped{false};
    std::mutex self_mu;
    {
      std::lock_guard lock(self_mu);  // the handler may run before the assignment ends
      *self = f.reg.subscribe({}, [&](std::span<const Event> events) {
        rec.add(events);
        std::lock_guard inner(self_mu);
        self->reset();
        dropped = true;
      });
    }
    f.reg.apps().put(make_app("a"));
    REQUIRE(eventually([&] { return dropped.load(); }));
    REQUIRE(f.reg.wait_for(f.reg.revision(), kPatience));
  }

  const std::size_t calls = rec.call_count();
  CHECK(calls == 1);
  for (int i = 0; i < 5; ++i) f.reg.apps().put(make_app("after-" + std::to_string(i)));
  const Revision last = f.reg.revision();
  // wait_for waits for every live subscriber: had the dropped one stayed
  // subscribed, it would have handled `last` before this returns.
  REQUIRE(f.reg.wait_for(last, kPatience));
  CHECK(witness_rec.has_revision(last));
  CHECK(rec.call_count() == calls);
  CHECK(f.reg.stats().subscribers.size() == 1);
}

TEST_CASE("events: a Subscription may outlive its Registry") {
  test::TempDir dir;
  Recorder rec;
  Subscription sub;
  {
    Registry reg = Registry::open(dir / "outlive.db", durable_options());
    sub = reg.subscribe({}, rec.handler());
    reg.apps().put(make_app("a"));
    REQUIRE(reg.wait_for(reg.revision(), kPatience));
    SUBCASE("closed") { reg.close(); }
    SUBCASE("destroyed") {}
  }
  CHECK(rec.call_count() == 1);
  sub.reset();  // inert: nothing to unsubscribe from, and no crash
  CHECK_FALSE(sub.active());
}

TEST_CASE("events: subscribe refuses bad arguments and a closed registry") {
  test::Fixture<test::OnDisk> f;
  CHECK(error_code_of([&] { f.reg.subscribe({}, cairn::Handler{}); }) == errc::invalid_argument);
  CHECK(error_code_of([&] {
          f.reg.subscribe(
              {}, [](std::span<const Event>) {}, SubscribeOptions{.queue_capacity = 0});
        }) == errc::invalid_argument);
  f.reg.close();
  CHECK(error_code_of([&] { f.reg.subscribe({}, [](std::span<const Event>) {}); }) == errc::closed);
}

// ---- Replay ----------------------------------------------------------------

TEST_CASE_TEMPLATE("events: subscribe from a revision replays the log, then goes on live", Mode,
                   test::InMemory, test::OnDisk) {
  test::Fixture<Mode> f;
  for (int i = 0; i < 100; ++i) {
    if (i % 10 == 0) {
      f.reg.transact([&](Tx& tx) {
        tx.apps().put(make_app("pre-" + std::to_string(i)));
        tx.config().save("pre-key-" + std::to_string(i), i);
      });
    } else {
      f.reg.apps().put(make_app("pre-" + std::to_string(i)));
    }
  }
  const Revision initial = f.reg.revision();
  REQUIRE(initial == 100);

  // A writer keeps committing while the subscriptions are made, so each one
  // races the writer somewhere between replay and live delivery.
  std::atomic<bool> writing{true};
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < 400; ++i) {
      if (i % 7 == 0) {
        f.reg.transact([&](Tx& tx) {
          tx.apps().put(make_app("live-" + std::to_string(i)));
          tx.pools().put(make_pool("live-pool-" + std::to_string(i)));
        });
      } else {
        f.reg.apps().put(make_app("live-" + std::to_string(i)));
      }
      ++written;
    }
    writing = false;
  });

  struct Replayer {
    Revision from;
    std::unique_ptr<Recorder> rec = std::make_unique<Recorder>();
    Subscription sub{};
  };
  std::vector<Replayer> replayers;
  for (int k = 0; k < 8; ++k) {
    const int target = k * 50;
    eventually([&] { return written >= target || !writing; });
    const Revision current = f.reg.revision();
    // From old revisions, the current one, and one not written yet.
    const Revision from = k == 6 ? current : k == 7 ? current + 1 : 1 + (k * 37) % current;
    Replayer r{from};
    r.sub = f.reg.subscribe({}, r.rec->handler(), SubscribeOptions{.from = from});
    replayers.push_back(std::move(r));
  }
  writer.join();
  const Revision last = f.reg.revision();
  REQUIRE(f.reg.wait_for(last, kPatience));

  for (const auto& r : replayers) {
    CAPTURE(r.from);
    check_exact_stream(f.reg, r.rec->calls(), r.from, last);
  }
}

TEST_CASE("events: subscribing from a compacted revision fails with errc::compacted") {
  test::TempDir dir;
  cairn::Options o = durable_options();
  o.change_log_max_revisions = 10;
  Registry reg = Registry::open(dir / "compacted.db", o);
  for (int i = 0; i < 50; ++i) reg.apps().put(make_app("c-" + std::to_string(i)));
  REQUIRE(reg.revision() == 50);

  CHECK(reg.compact_change_log() == 40);
  const Revision oldest = reg.stats().oldest_revision;
  CHECK(oldest == 41);
  REQUIRE_FALSE(reg.changes(1).empty());
  CHECK(reg.changes(1).front().revision == oldest);
  CHECK(reg.compact_change_log() == 0);  // nothing more to do

  Recorder rec;
  for (Revision from : {Revision{1}, Revision{40}}) {
    CAPTURE(from);
    const auto error = test::error_of(
        [&] { auto sub = reg.subscribe({}, rec.handler(), SubscribeOptions{.from = from}); });
    REQUIRE(error.has_value());
    CHECK(error->code_value() == errc::compacted);
    CAPTURE(error->what());
    CHECK(test::contains(error->what(), std::to_string(oldest)));
  }
  CHECK(rec.call_count() == 0);
  CHECK(reg.stats().subscribers.empty());

  // The oldest retained revision itself is fine.
  auto sub = reg.subscribe({}, rec.handler(), SubscribeOptions{.from = oldest});
  reg.apps().put(make_app("c-live"));
  REQUIRE(reg.wait_for(reg.revision(), kPatience));
  check_exact_stream(reg, rec.calls(), oldest, reg.revision());
}

TEST_CASE("events: retention by age removes old revisions") {
  test::TempDir dir;
  test::TestClock clock;
  cairn::Options o = durable_options();
  o.clock = clock.fn();
  o.change_log_max_age_ms = 60'000;
  Registry reg = Registry::open(dir / "age.db", o);
  for (int i = 0; i < 5; ++i) reg.apps().put(make_app("old-" + std::to_string(i)));
  clock.advance(120'000);
  for (int i = 0; i < 3; ++i) reg.apps().put(make_app("new-" + std::to_string(i)));

  CHECK(reg.compact_change_log() == 5);
  CHECK(reg.stats().oldest_revision == 6);
  CHECK(error_code_of([&] {
          reg.subscribe(
              {}, [](std::span<const Event>) {}, SubscribeOptions{.from = 5});
        }) == errc::compacted);
}

// ---- Named subscriptions -----------------------------------------------------

TEST_CASE("events: a named subscription resumes after the last revision it handled") {
  test::TempDir dir;
  const auto path = dir / "named.db";
  Revision last_handled = 0;
  Revision written_first = 0;
  {
    Registry reg = Registry::open(path, durable_options());
    for (int i = 0; i < 3; ++i) reg.apps().put(make_app("early-" + std::to_string(i)));

    Recorder rec;
    Gate gate;
    std::atomic<bool> held{false};
    // A new name with no `from` starts live.
    auto sub = reg.subscribe(
        {},
        [&](std::span<const Event> events) {
          rec.add(events);
          if (rec.call_count() == 4) {
            held = true;
            gate.wait();
          }
        },
        SubscribeOptions{.name = "n"});
    written_first = reg.revision() + 1;
    for (int i = 0; i < 10; ++i) reg.apps().put(make_app("first-" + std::to_string(i)));

    // Drop it while it holds its 4th revision and more are queued behind it.
    REQUIRE(eventually([&] { return held.load(); }));
    std::thread dropper([&] { sub.reset(); });
    std::this_thread::sleep_for(50ms);  // lets reset() begin; correctness does not depend on it
    gate.open();
    dropper.join();

    const auto calls = rec.calls();
    REQUIRE_FALSE(calls.empty());
    check_exact_stream(reg, calls, written_first,
                       written_first + static_cast<Revision>(calls.size()) - 1);
    last_handled = rec.last_revision();
    if (last_handled == reg.revision()) {
      MESSAGE("the subscription handled everything before it stopped; the resume is still checked");
    }
    reg.close();
  }

  // A new process, more writes, then the same name again.
  Registry reg = Registry::open(path, durable_options());
  for (int i = 0; i < 5; ++i) reg.apps().put(make_app("second-" + std::to_string(i)));
  Recorder rec;
  auto sub = reg.subscribe({}, rec.handler(), SubscribeOptions{.name = "n"});
  for (int i = 0; i < 3; ++i) reg.apps().put(make_app("third-" + std::to_string(i)));
  const Revision last = reg.revision();
  REQUIRE(reg.wait_for(last, kPatience));
  // No duplicate, no gap: right after the last revision handled.
  check_exact_stream(reg, rec.calls(), last_handled + 1, last);

  SUBCASE("closing the registry under a live named subscription stores its position too") {
    const Revision handled = sub.delivered();
    CHECK(handled == last);
    reg.close();
    sub.reset();
    Registry again = Registry::open(path, durable_options());
    again.apps().put(make_app("fourth"));
    Recorder again_rec;
    auto again_sub = again.subscribe({}, again_rec.handler(), SubscribeOptions{.name = "n"});
    REQUIRE(again.wait_for(again.revision(), kPatience));
    check_exact_stream(again, again_rec.calls(), handled + 1, again.revision());
  }
  SUBCASE("an explicit from wins over the stored position") {
    sub.reset();
    Recorder from_rec;
    auto from_sub = reg.subscribe({}, from_rec.handler(), SubscribeOptions{.from = 2, .name = "n"});
    REQUIRE(reg.wait_for(last, kPatience));
    check_exact_stream(reg, from_rec.calls(), 2, last);
  }
}

TEST_CASE("events: a named subscription dropped while a transaction is open keeps its position") {
  // Found by reading EventBus::store_position: the final store of a named position needs the
  // writer, so reset() on a thread that holds a write transaction waits 2 s, gives up without a
  // word, and the next subscription with that name gets already handled revisions again.
  test::Fixture<test::OnDisk> f;
  Recorder first;
  Gate gate;
  auto sub = f.reg.subscribe(
      {},
      [&](std::span<const Event> events) {
        gate.wait();
        first.add(events);
      },
      SubscribeOptions{.name = "in-tx"});
  for (int i = 0; i < 5; ++i) f.reg.apps().put(make_app("tx-" + std::to_string(i)));
  const Revision handled = f.reg.revision();
  gate.open();  // the five are handled in a burst, faster than the periodic store
  REQUIRE(f.reg.wait_for(handled, kPatience));
  CHECK(first.call_count() == 5);
  {
    Tx tx = f.reg.begin();
    tx.apps().put(make_app("inside"));
    sub.reset();
    tx.commit();
  }
  Recorder second;
  auto again = f.reg.subscribe({}, second.handler(), SubscribeOptions{.name = "in-tx"});
  const Revision last = f.reg.revision();
  REQUIRE(f.reg.wait_for(last, kPatience));
  check_exact_stream(f.reg, second.calls(), handled + 1, last);
}

TEST_CASE("events: two live subscriptions cannot share a name") {
  test::Fixture<test::OnDisk> f;
  auto first = f.reg.subscribe(
      {}, [](std::span<const Event>) {}, SubscribeOptions{.name = "dup"});
  const auto error = test::error_of([&] {
    f.reg.subscribe(
        {}, [](std::span<const Event>) {}, SubscribeOptions{.name = "dup"});
  });
  REQUIRE(error.has_value());
  CHECK(error->code_value() == errc::already_exists);
  CHECK(test::contains(error->what(), "dup"));
  // Other names, and anonymous ones, are fine.
  auto other = f.reg.subscribe(
      {}, [](std::span<const Event>) {}, SubscribeOptions{.name = "other"});
  auto anon1 = f.reg.subscribe({}, [](std::span<const Event>) {});
  auto anon2 = f.reg.subscribe({}, [](std::span<const Event>) {});
  CHECK(f.reg.stats().subscribers.size() == 4);
  // Once the first one is gone, the name is free again.
  first.reset();
  auto second = f.reg.subscribe(
      {}, [](std::span<const Event>) {}, SubscribeOptions{.name = "dup"});
  CHECK(second.active());
}

TEST_CASE("events: retention keeps what a named subscription has not acknowledged") {
  test::TempDir dir;
  const auto path = dir / "retention.db";
  cairn::Options o = durable_options();
  o.change_log_max_revisions = 10;

  Revision acked = 0;
  SUBCASE("within the maximum lag: nothing it needs is removed") { o.subscription_max_lag = 1'000; }
  SUBCASE("past the maximum lag: it is removed, and the subscriber told to resync") {
    o.subscription_max_lag = 20;
  }
  Registry reg = Registry::open(path, o);
  {
    Recorder rec;
    auto keeper = reg.subscribe({}, rec.handler(), SubscribeOptions{.name = "keeper"});
    for (int i = 0; i < 5; ++i) reg.apps().put(make_app("k-" + std::to_string(i)));
    REQUIRE(reg.wait_for(reg.revision(), kPatience));
    acked = reg.revision();
  }  // dropped: its position (5) is stored
  for (int i = 0; i < 45; ++i) reg.apps().put(make_app("later-" + std::to_string(i)));
  const Revision current = reg.revision();
  REQUIRE(current == 50);
  reg.compact_change_log();

  Recorder rec;
  if (o.subscription_max_lag >= current) {
    CHECK(reg.stats().oldest_revision == acked + 1);
    auto keeper = reg.subscribe({}, rec.handler(), SubscribeOptions{.name = "keeper"});
    REQUIRE(reg.wait_for(current, kPatience));
    check_exact_stream(reg, rec.calls(), acked + 1, current);
  } else {
    CHECK(reg.stats().oldest_revision == current - 10 + 1);
    auto keeper = reg.subscribe({}, rec.handler(), SubscribeOptions{.name = "keeper"});
    reg.apps().put(make_app("after-resync"));
    const Revision last = reg.revision();
    REQUIRE(reg.wait_for(last, kPatience));
    const auto calls = rec.calls();
    REQUIRE(calls.size() == 2);
    REQUIRE(calls[0].size() == 1);
    CHECK(calls[0][0].op == Op::resync_required);
    CHECK(calls[0][0].revision == current);
    const std::vector<std::vector<Event>> after(calls.begin() + 1, calls.end());
    check_exact_stream(reg, after, current + 1, last);
    const auto stats = subscriber_stats(reg, "keeper");
    REQUIRE(stats.has_value());
    CHECK(stats->resyncs == 1);
  }
}

// ---- Statistics ------------------------------------------------------------

TEST_CASE("events: stats show the subscribers, their lag and what they got") {
  test::Fixture<test::OnDisk> f;
  CHECK(f.reg.stats().subscribers.empty());

  Recorder rec;
  auto named = f.reg.subscribe({}, rec.handler(), SubscribeOptions{.name = "stats-named"});
  Gate gate;
  std::atomic<bool> held{false};
  auto slow = f.reg.subscribe({}, [&](std::span<const Event>) {
    held = true;
    gate.wait();
  });

  f.reg.apps().put(make_app("s-0"));
  REQUIRE(eventually([&] { return held.load(); }));
  f.reg.transact([&](Tx& tx) {
    tx.apps().put(make_app("s-1"));
    tx.apps().put(make_app("s-2"));
  });
  f.reg.apps().put(make_app("s-3"));
  const Revision last = f.reg.revision();
  REQUIRE(eventually([&] { return named.delivered() == last; }));

  auto stats = f.reg.stats();
  CHECK(stats.last_revision == last);
  REQUIRE(stats.subscribers.size() == 2);
  auto named_stats = subscriber_stats(f.reg, "stats-named");
  auto slow_stats = subscriber_stats(f.reg, "");
  REQUIRE(named_stats.has_value());
  REQUIRE(slow_stats.has_value());
  CHECK(named_stats->delivered == last);
  CHECK(named_stats->lag == 0);
  CHECK(named_stats->events_delivered == 4);
  CHECK(named_stats->handler_failures == 0);
  CHECK(named_stats->resyncs == 0);
  CHECK(slow_stats->delivered == 0);  // still inside revision 1
  CHECK(slow_stats->lag == last);

  gate.open();
  REQUIRE(f.reg.wait_for(last, kPatience));
  slow_stats = subscriber_stats(f.reg, "");
  REQUIRE(slow_stats.has_value());
  CHECK(slow_stats->lag == 0);
  CHECK(slow_stats->events_delivered == 4);
  stats = f.reg.stats();
  CHECK(stats.events_delivered == 8);
  CHECK(stats.handler_failures == 0);

  slow.reset();
  CHECK(f.reg.stats().subscribers.size() == 1);

  json j;
  to_json(j, f.reg.stats());
  REQUIRE(j.at("subscribers").size() == 1);
  CHECK(j.at("subscribers")[0].at("name") == "stats-named");
  CHECK(j.at("subscribers")[0].at("lag") == 0);
}
