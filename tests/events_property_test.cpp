// The event bus under load, as a randomized property test: four writer
// threads commit single writes, multi-record transactions, explicit rollbacks
// (whole transactions and nested savepoints) and writes that fail a
// constraint, while subscribers of several sorts watch.
// At the end every subscriber's stream is compared with the change log:
// nothing lost, nothing duplicated, nothing out of order, nothing that was
// rolled back (phantom), and every revision in one handler call (split).
//
// Replay a failure with the seed it printed:
//   CAIRN_SEED=1234 build/tests/events_property_test      (or --seed=1234)
// CAIRN_EVENTS sets how many events the subscribers must receive in total
// (default 100,000).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::errc;
using cairn::Event;
using cairn::Filter;
using cairn::Kind;
using cairn::Op;
using cairn::Registry;
using cairn::Revision;
using cairn::SubscribeOptions;
using cairn::Subscription;
using cairn::Tx;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Rng = std::mt19937_64;

constexpr int kWriters = 4;
constexpr std::size_t kBigQueue = 10'000'000;  // never overflows in this test
constexpr std::size_t kSmallQueue = 64;        // overflows on purpose

// ---- Parameters ---------------------------------------------------------------

// --seed=N or --seed N on the command line (doctest ignores options it does
// not know), read from /proc/self/cmdline since doctest's main owns argv.
std::optional<std::uint64_t> seed_from_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string arg;
  while (std::getline(in, arg, '\0')) args.push_back(arg);
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--seed=", 0) == 0) return std::stoull(args[i].substr(7));
    if (args[i] == "--seed" && i + 1 < args.size()) return std::stoull(args[i + 1]);
  }
  return std::nullopt;
}

std::uint64_t choose_seed() {
  if (auto seed = seed_from_command_line()) return *seed;
  if (const char* env = std::getenv("CAIRN_SEED"); env != nullptr && *env != '\0') {
    return std::stoull(env);
  }
  return (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

std::int64_t target_events() {
  if (const char* env = std::getenv("CAIRN_EVENTS"); env != nullptr && *env != '\0') {
    return std::max<std::int64_t>(1, std::stoll(env));
  }
  return 100'000;
}

// ---- What a subscriber received -------------------------------------------------

// An event as received, reduced to what the check needs: its place and a
// digest of everything else, compared with the change log's.
struct Ev {
  Revision revision = 0;
  std::uint32_t index = 0;
  Op op = Op::created;
  std::size_t digest = 0;
};

std::size_t digest_of(const Event& e) {
  std::string text;
  text.reserve(256);
  text.append(cairn::to_string(e.kind)).push_back('|');
  text.append(cairn::to_string(e.op)).push_back('|');
  text.append(e.topic).push_back('|');
  text.append(e.id).push_back('|');
  text.append(e.actor).push_back('|');
  text.append(std::to_string(e.at)).push_back('|');
  text.append(e.before ? e.before->dump() : "-").push_back('|');
  text.append(e.after ? e.after->dump() : "-");
  return std::hash<std::string>{}(text);
}

// The handler calls of one stream, in order. One stream may span several
// subscriptions made one after the other (a named one, re-subscribed).
class Stream {
 public:
  void add(std::span<const Event> events) {
    std::vector<Ev> call;
    call.reserve(events.size());
    for (const auto& e : events) call.push_back(Ev{e.revision, e.index, e.op, digest_of(e)});
    std::lock_guard lock(mu_);
    calls_.push_back(std::move(call));
  }
  std::vector<std::vector<Ev>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::vector<Ev>> calls_;
};

// The change log, the truth every stream is checked against.
struct Truth {
  std::map<std::pair<Revision, std::uint32_t>, std::pair<std::size_t, const Event*>> by_key;
  std::vector<Event> events;

  explicit Truth(std::vector<Event> log) : events(std::move(log)) {
    for (const auto& e : events) by_key[{e.revision, e.index}] = {digest_of(e), &e};
  }
};

bool matches(const Filter& f, const Event& e) {
  if (!f.kinds.empty() && std::find(f.kinds.begin(), f.kinds.end(), e.kind) == f.kinds.end()) {
    return false;
  }
  if (!f.topics.empty() && std::find(f.topics.begin(), f.topics.end(), e.topic) == f.topics.end()) {
    return false;
  }
  return e.id.rfind(f.id_prefix, 0) == 0;
}

struct Counts {
  std::int64_t calls = 0, delivered = 0, resyncs = 0;
  std::int64_t lost = 0, duplicated = 0, out_of_order = 0, phantom = 0, split = 0;

  void add(const Counts& o) {
    calls += o.calls;
    delivered += o.delivered;
    resyncs += o.resyncs;
    lost += o.lost;
    duplicated += o.duplicated;
    out_of_order += o.out_of_order;
    phantom += o.phantom;
    split += o.split;
  }
  bool clean() const {
    return lost == 0 && duplicated == 0 && out_of_order == 0 && phantom == 0 && split == 0;
  }
};

// Checks one stream that should hold every event matching `filter` of the
// revisions lo..hi, in order, each once, one call per revision.
//   lost:         an event of lo..hi (after the last resync) that never came
//   duplicated:   an event that came more than once
//   out_of_order: an event not after the one received before it
//   phantom:      an event the change log does not have (rolled-back work),
//                 has with other content, or that the filter excludes
//   split:        a revision spread over several calls, or a call with
//                 several revisions
Counts check_stream(const std::vector<std::vector<Ev>>& calls, const Truth& truth,
                    const Filter& filter, Revision lo, Revision hi) {
  Counts c;
  std::set<std::pair<Revision, std::uint32_t>> seen;
  std::set<Revision> called;
  std::optional<std::pair<Revision, std::uint32_t>> previous;
  Revision last_resync = 0;
  for (const auto& call : calls) {
    ++c.calls;
    if (call.empty()) {
      ++c.split;  // a call with nothing in it is not a revision either
      continue;
    }
    const bool resync = std::any_of(call.begin(), call.end(),
                                    [](const Ev& e) { return e.op == Op::resync_required; });
    if (resync) {
      ++c.resyncs;
      if (call.size() != 1) ++c.split;
      last_resync = std::max(last_resync, call.front().revision);
      continue;
    }
    const Revision revision = call.front().revision;
    if (std::any_of(call.begin(), call.end(),
                    [&](const Ev& e) { return e.revision != revision; })) {
      ++c.split;
    }
    if (!called.insert(revision).second) ++c.split;
    for (const auto& e : call) {
      ++c.delivered;
      const std::pair key{e.revision, e.index};
      const auto it = truth.by_key.find(key);
      if (it == truth.by_key.end() || it->second.first != e.digest ||
          !matches(filter, *it->second.second)) {
        ++c.phantom;
      }
      if (!seen.insert(key).second) ++c.duplicated;
      if (previous && !(*previous < key)) ++c.out_of_order;
      if (!previous || *previous < key) previous = key;
    }
  }
  const Revision from = std::max(lo, last_resync + 1);
  for (const auto& e : truth.events) {
    if (e.revision < from || e.revision > hi || !matches(filter, e)) continue;
    if (!seen.count({e.revision, e.index})) ++c.lost;
  }
  return c;
}

void print_counts(const char* what, const Counts& c) {
  std::printf("  %-28s calls %7" PRId64 "  events %7" PRId64 "  resyncs %4" PRId64 "  lost %" PRId64
              "  duplicated %" PRId64 "  out of order %" PRId64 "  phantom %" PRId64
              "  split %" PRId64 "\n",
              what, c.calls, c.delivered, c.resyncs, c.lost, c.duplicated, c.out_of_order,
              c.phantom, c.split);
}

// ---- The writers ----------------------------------------------------------------

struct Rollback : std::runtime_error {
  Rollback() : std::runtime_error("rolled back on purpose") {}
};

struct WriterTally {
  std::atomic<std::int64_t> ops{0}, committed{0}, rolled_back{0}, constraint_failures{0},
      other_expected_failures{0}, unexpected{0};
  std::mutex mu;
  std::string first_unexpected;

  void unexpected_error(const std::string& what) {
    if (unexpected.fetch_add(1) == 0) {
      std::lock_guard lock(mu);
      first_unexpected = what;
    }
  }
};

std::string key(const char* prefix, Rng& rng, int n) {
  return prefix + std::to_string(std::uniform_int_distribution<int>(0, n - 1)(rng));
}

// One random write through `s` (a Registry or a Tx). Returns how many change
// events it made (a lower bound: a cascade makes more).
template <class Source>
int random_write(Source& s, Rng& rng, int writer, std::int64_t seq) {
  const json stamp{{"writer", writer}, {"seq", seq}};
  const int pick = std::uniform_int_distribution<int>(0, 99)(rng);
  if (pick < 30) {
    cairn::App a;
    a.id = key("app-", rng, 64);
    a.meta = stamp;
    a.pools = {key("pool-", rng, 8)};
    s.apps().put(a);
    return 1;
  }
  if (pick < 50) {
    s.config().save(key("cfg-", rng, 32), stamp);
    return 1;
  }
  if (pick < 70) {  // the pool may be gone: errc::constraint
    cairn::MemoryBlock b;
    b.id = key("blk-", rng, 64);
    b.pool = key("pool-", rng, 8);
    b.size = seq;
    b.config = stamp;
    s.blocks().put(b);
    return 1;
  }
  if (pick < 75) {
    cairn::Pool p;
    p.name = key("pool-", rng, 8);
    p.config = stamp;
    s.pools().put(p);
    return 1;
  }
  if (pick < 80) {  // absent: errc::not_found
    s.apps().update(key("app-", rng, 64), [&](cairn::App& a) { a.meta = stamp; });
    return 1;
  }
  if (pick < 86) return s.apps().remove(key("app-", rng, 64)) ? 1 : 0;
  if (pick < 92) return s.config().remove(key("cfg-", rng, 32)) ? 1 : 0;
  if (pick < 98) return s.blocks().remove(key("blk-", rng, 64)) ? 1 : 0;
  // A cascade: the pool's blocks go in the same revision.
  return s.pools().remove(key("pool-", rng, 8), {}, cairn::Cascade::yes) ? 1 : 0;
}

// Writes until the subscribers have enough to receive (or `max_ops`).
void run_writer(Registry& reg, int writer, std::uint64_t seed, std::int64_t max_ops,
                std::atomic<std::int64_t>& events_needed, WriterTally& tally) {
  Rng rng(seed + 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(writer + 1));
  const std::string missing_pool = "missing-pool-" + std::to_string(writer);
  for (std::int64_t op = 0; op < max_ops && events_needed.load() > 0; ++op) {
    ++tally.ops;
    const std::int64_t seq = op * kWriters + writer;
    int made = 0;
    try {
      const int kind = std::uniform_int_distribution<int>(0, 99)(rng);
      if (kind < 40) {  // one write, its own transaction
        made = random_write(reg, rng, writer, seq);
      } else if (kind < 70) {  // several records, one revision
        const int n = std::uniform_int_distribution<int>(2, 6)(rng);
        made = reg.transact([&](Tx& tx) {
          int sum = 0;
          for (int i = 0; i < n; ++i) sum += random_write(tx, rng, writer, seq);
          return sum;
        });
      } else if (kind < 80) {  // explicit rollback: nothing of it may be seen
        const int n = std::uniform_int_distribution<int>(1, 4)(rng);
        try {
          reg.transact([&](Tx& tx) {
            for (int i = 0; i < n; ++i) random_write(tx, rng, writer, seq);
            throw Rollback();
          });
        } catch (const Rollback&) {
          ++tally.rolled_back;
        }
      } else if (kind < 90) {  // a block in a pool that never exists
        cairn::MemoryBlock b;
        b.id = "orphan-" + std::to_string(writer);
        b.pool = missing_pool;
        try {
          reg.blocks().create(b);
          tally.unexpected_error("a block in a missing pool was accepted");
        } catch (const cairn::Error& e) {
          if (e.code_value() != errc::constraint) throw;
          ++tally.constraint_failures;
        }
      } else {  // a transaction that commits around parts that fail or roll back
        made = reg.transact([&](Tx& tx) {
          int sum = random_write(tx, rng, writer, seq);
          cairn::MemoryBlock b;
          b.id = "orphan-in-tx-" + std::to_string(writer);
          b.pool = missing_pool;
          try {
            tx.blocks().create(b);
          } catch (const cairn::Error& e) {
            if (e.code_value() != errc::constraint) throw;
            ++tally.constraint_failures;
          }
          // A nested transaction (a savepoint) that writes, then throws.
          try {
            reg.transact([&](Tx& inner) {
              random_write(inner, rng, writer, seq);
              random_write(inner, rng, writer, seq);
              throw Rollback();
            });
          } catch (const Rollback&) {
            ++tally.rolled_back;
          } catch (const cairn::Error& e) {
            if (e.code_value() != errc::constraint && e.code_value() != errc::not_found) throw;
            ++tally.other_expected_failures;
          }
          return sum + random_write(tx, rng, writer, seq);
        });
      }
      if (made > 0) ++tally.committed;
    } catch (const cairn::Error& e) {
      // Expected with random keys: a block whose pool is gone (constraint),
      // an update of an absent record (not_found). The whole write is undone.
      if (e.code_value() == errc::constraint || e.code_value() == errc::not_found) {
        ++tally.other_expected_failures;
      } else {
        tally.unexpected_error(std::string(cairn::to_string(e.code_value())) + ": " + e.what());
      }
    } catch (const std::exception& e) {
      tally.unexpected_error(e.what());
    }
    events_needed -= made;
  }
}

// ---- The re-subscriber ------------------------------------------------------------

Filter random_filter(Rng& rng) {
  switch (std::uniform_int_distribution<int>(0, 5)(rng)) {
    case 0:
      return Filter{.kinds = {Kind::app}};
    case 1:
      return Filter{.kinds = {Kind::memory_block, Kind::pool}};
    case 2:
      return Filter{.topics = {"config.changed", "app.removed"}};
    case 3:
      return Filter{.id_prefix = "blk-1"};
    default:
      return Filter{};
  }
}

// One subscription of the re-subscriber: from a random revision, for a while.
struct Instance {
  Revision from = 0;
  Revision hi = 0;  // checked through this revision
  Filter filter{};
  std::unique_ptr<Stream> stream = std::make_unique<Stream>();
};

}  // namespace

TEST_CASE("events: randomized writers and subscribers agree with the change log") {
  const std::uint64_t seed = choose_seed();
  const std::int64_t target = target_events();
  std::printf("events property test: seed %" PRIu64 " (replay: CAIRN_SEED=%" PRIu64
              "), target %" PRId64 " events\n",
              seed, seed, target);
  std::fflush(stdout);
  MESSAGE("seed " << seed << ", target " << target << " events");
  const auto started = std::chrono::steady_clock::now();

  test::TempDir dir;
  cairn::Options options;
  options.synchronous = cairn::Synchronous::normal;
  options.actor = "property";
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  options.log = [&](std::string_view line) {
    std::lock_guard lock(log_mu);
    log_lines.emplace_back(line);
  };
  Registry reg = Registry::open(dir / "property.db", options);
  for (int i = 0; i < 8; ++i) {
    cairn::Pool p;
    p.name = "pool-" + std::to_string(i);
    reg.pools().put(p);
  }

  // Subscribers for the whole run, all from revision 1.
  Stream normal, slow, overflowing, named;
  auto normal_sub = reg.subscribe(
      {}, [&](std::span<const Event> e) { normal.add(e); },
      SubscribeOptions{.from = 1, .queue_capacity = kBigQueue});
  auto slow_sub = reg.subscribe(
      {},
      [&, rng = Rng(seed ^ 0x51)](std::span<const Event> e) mutable {
        slow.add(e);
        if (rng() % 64 == 0) std::this_thread::sleep_for(1ms);
      },
      SubscribeOptions{.from = 1, .queue_capacity = kBigQueue});
  auto overflowing_sub = reg.subscribe(
      {},
      [&, rng = Rng(seed ^ 0x0f)](std::span<const Event> e) mutable {
        overflowing.add(e);
        if (rng() % 16 == 0) std::this_thread::sleep_for(2ms);
      },
      SubscribeOptions{.from = 1, .priority = -1, .queue_capacity = kSmallQueue});
  auto named_handler = [&](std::span<const Event> e) { named.add(e); };
  auto named_sub = reg.subscribe(
      {}, named_handler,
      SubscribeOptions{
          .from = 1, .priority = 1, .name = "prop-named", .queue_capacity = kBigQueue});

  // Normal, slow and named each receive every event: a third of the target each.
  std::atomic<std::int64_t> events_needed{(target + 2) / 3};
  const std::int64_t max_ops = std::max<std::int64_t>(target, 1000);  // a bound, never reached
  WriterTally tally;
  std::atomic<int> writers_running{kWriters};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      run_writer(reg, w, seed, max_ops, events_needed, tally);
      --writers_running;
    });
  }

  // Meanwhile: re-subscribe the named subscription (it must resume exactly
  // where it stopped), and subscribe from random revisions for a while.
  std::vector<Instance> instances;
  Subscription resub;
  int named_instances = 1;
  std::thread churn([&] {
    Rng rng(seed ^ 0xc4);
    for (int round = 0; writers_running.load() > 0; ++round) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 40)(rng)));
      if (round % 2 == 0) {
        named_sub.reset();
        named_sub = reg.subscribe(
            {}, named_handler,
            SubscribeOptions{.priority = 1, .name = "prop-named", .queue_capacity = kBigQueue});
        ++named_instances;
      } else {
        if (resub.active()) {
          instances.back().hi = resub.delivered();
          resub.reset();
        }
        Instance inst;
        inst.from = std::uniform_int_distribution<Revision>(1, reg.revision() + 1)(rng);
        inst.filter = random_filter(rng);
        Stream* stream = inst.stream.get();
        instances.push_back(std::move(inst));
        resub = reg.subscribe(
            instances.back().filter, [stream](std::span<const Event> e) { stream->add(e); },
            SubscribeOptions{.from = instances.back().from, .queue_capacity = kBigQueue});
      }
    }
  });

  for (auto& t : writers) t.join();
  churn.join();
  const Revision final_revision = reg.revision();
  const auto written = std::chrono::steady_clock::now();
  CHECK(reg.wait_for(final_revision, 120s));
  const auto caught_up = std::chrono::steady_clock::now();
  if (!instances.empty() && resub.active()) instances.back().hi = final_revision;
  const auto stats = reg.stats();
  normal_sub.reset();
  slow_sub.reset();
  overflowing_sub.reset();
  named_sub.reset();
  resub.reset();

  const Truth truth(reg.changes(1));
  REQUIRE_FALSE(truth.events.empty());
  CHECK(truth.events.front().revision == 1);
  CHECK(truth.events.back().revision == final_revision);

  std::printf("  writers: %" PRId64 " ops, %" PRId64 " committed, %" PRId64
              " rolled back on purpose, %" PRId64 " constraint failures, %" PRId64
              " other refused writes, %" PRId64 " unexpected errors\n",
              tally.ops.load(), tally.committed.load(), tally.rolled_back.load(),
              tally.constraint_failures.load(), tally.other_expected_failures.load(),
              tally.unexpected.load());
  std::printf("  change log: %" PRId64 " revisions, %zu events\n", final_revision,
              truth.events.size());

  Counts total;
  const Filter all;
  const Counts normal_counts = check_stream(normal.calls(), truth, all, 1, final_revision);
  print_counts("normal", normal_counts);
  total.add(normal_counts);
  const Counts slow_counts = check_stream(slow.calls(), truth, all, 1, final_revision);
  print_counts("slow", slow_counts);
  total.add(slow_counts);
  const Counts overflow_counts = check_stream(overflowing.calls(), truth, all, 1, final_revision);
  print_counts("overflowing (after resync)", overflow_counts);
  total.add(overflow_counts);
  const Counts named_counts = check_stream(named.calls(), truth, all, 1, final_revision);
  char named_label[64];
  std::snprintf(named_label, sizeof named_label, "named, %d subscriptions", named_instances);
  print_counts(named_label, named_counts);
  total.add(named_counts);
  Counts resub_counts;
  for (const auto& inst : instances) {
    resub_counts.add(check_stream(inst.stream->calls(), truth, inst.filter, inst.from, inst.hi));
  }
  char resub_label[64];
  std::snprintf(resub_label, sizeof resub_label, "from random revisions, %zu", instances.size());
  print_counts(resub_label, resub_counts);
  total.add(resub_counts);
  print_counts("TOTAL", total);

  const double write_s = std::chrono::duration<double>(written - started).count();
  const double total_s = std::chrono::duration<double>(caught_up - started).count();
  std::printf("  time: %.1f s writing, %.1f s until every subscriber caught up; stats: %" PRId64
              " events delivered, %" PRId64 " handler failures\n",
              write_s, total_s, stats.events_delivered, stats.handler_failures);
  std::fflush(stdout);

  {
    std::lock_guard lock(tally.mu);
    CAPTURE(tally.first_unexpected);
    CHECK(tally.unexpected == 0);
  }
  CHECK(tally.rolled_back > 0);
  CHECK(tally.constraint_failures > 0);
  CHECK(normal_counts.clean());
  CHECK(slow_counts.clean());
  CHECK(overflow_counts.clean());
  CHECK(named_counts.clean());
  CHECK(resub_counts.clean());
  CHECK(total.lost == 0);
  CHECK(total.duplicated == 0);
  CHECK(total.out_of_order == 0);
  CHECK(total.phantom == 0);
  CHECK(total.split == 0);
  // The never-overflowing subscribers got no resync; the small queue did overflow.
  CHECK(normal_counts.resyncs == 0);
  CHECK(slow_counts.resyncs == 0);
  CHECK(named_counts.resyncs == 0);
  if (overflow_counts.resyncs == 0) MESSAGE("the small queue never overflowed in this run");
  CHECK(stats.handler_failures == 0);
  CHECK(total.delivered >= target);
  CHECK(named_instances > 1);
  CHECK(instances.size() >= 1);
  {
    std::lock_guard lock(log_mu);
    for (const auto& line : log_lines) MESSAGE("registry log: " << line);
  }
  if (!(total.clean())) {
    MESSAGE("replay with CAIRN_SEED=" << seed);
  }
}
