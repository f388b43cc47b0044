// Puts from several threads at once (issue 18): cairn's group commit against
// raw sqlite3 with one connection per thread (BEGIN IMMEDIATE, busy timeout),
// the way a server without cairn would write from many threads.
//
// For 1, 2, 4 and 8 threads, each thread puts its share of put_full_ops new
// records, one per call, under synchronous FULL; the row is the total rate.
// The fsyncs of each side's last round are counted through the test VFS shim
// (tests/fault_vfs.h, armed to count and never fail), and the latency of each
// put is kept at 8 threads for p50/p99.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cairn/cairn.h"
#include "fault_vfs.h"
#include "raw_kv_torrent.h"
#include "raw_sqlite.h"
#include "scenarios.h"
#include "workload.h"

namespace cairn_bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kThreadCounts[] = {1, 2, 4, 8};

// One put by thread `t` of the record numbered `index`.
using PutFn = std::function<void(int t, std::int64_t index)>;

// What one side's round measured.
struct RoundResult {
  double ops_per_s = 0;
  std::int64_t fsyncs = 0;
  std::vector<double> latencies_us;
};

// Runs `per_thread` puts on each of `threads` threads, started together, and
// counts the fsyncs of every file under `dir` meanwhile.
RoundResult run_round(int threads, std::int64_t per_thread, std::int64_t first, const fs::path& dir,
                      bool keep_latencies, const PutFn& put) {
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(threads));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  faultvfs::arm({.op = faultvfs::Op::sync,
                 .nth = INT_MAX,  // counts, never fails
                 .prefix = dir.string(),
                 .this_thread_only = false});
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& mine = latencies[static_cast<std::size_t>(t)];
      if (keep_latencies) mine.reserve(static_cast<std::size_t>(per_thread));
      ++ready;
      while (!go.load()) std::this_thread::yield();
      for (std::int64_t k = 0; k < per_thread; ++k) {
        const auto start = Clock::now();
        put(t, first + t * per_thread + k);
        if (keep_latencies) {
          mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        }
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  const auto start = Clock::now();
  go = true;
  for (auto& thread : pool) thread.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  RoundResult r;
  r.fsyncs = faultvfs::report().calls;
  faultvfs::disarm();
  r.ops_per_s = static_cast<double>(per_thread * threads) / seconds;
  for (auto& l : latencies) r.latencies_us.insert(r.latencies_us.end(), l.begin(), l.end());
  return r;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1));
  return values[at];
}

}  // namespace

void Bench::put_threads(bool kv) {
  faultvfs::install();  // every connection opened from here on counts its fsyncs
  const char* what = kv ? "kv put" : "put";
  const char* unit = kv ? "entry" : "app";
  fmt::print(stderr, "  {}, 1 {} per call from 1-8 threads, synchronous FULL\n", what, unit);
  std::optional<double> raw_one_thread;
  Row versus{.operation = fmt::format("{}, 8 threads vs raw 1 thread (x)", what),
             .unit = "x",
             .goal = Goal::cairn_at_least,
             .threshold = 5,
             .target = ">= 5"};
  for (const int threads : kThreadCounts) {
    const std::int64_t per_thread = std::max<std::int64_t>(1, config_.put_full_ops / threads);
    const std::int64_t n = per_thread * threads;
    const std::string tag = fmt::format("{}-threads-{}", kv ? "kv-put" : "put", threads);
    const fs::path cairn_path = config_.dir / (tag + ".cairn.db");
    const fs::path raw_path = config_.dir / (tag + ".raw.db");
    Row row{.operation = fmt::format("{}, 1/call, {} thread{}, FULL", what, threads,
                                     threads == 1 ? "" : "s"),
            .unit = "ops/s"};
    if (threads == 1 || threads == 8) {
      row.goal = Goal::ratio_at_least;
      row.threshold = threads == 1 ? 0.85 : 3;
      row.target = threads == 1 ? ">= 0.85" : ">= 3";
    }
    RoundResult cairn_last, raw_last;
    {
      std::optional<cairn::Registry> reg;
      std::vector<std::unique_ptr<RawWriter>> writers;
      std::vector<std::unique_ptr<RawKvWriter>> kv_writers;
      if (config_.runs_cairn()) reg.emplace(cairn::Registry::open(cairn_path));
      if (config_.runs_raw()) {
        raw_create_registry(raw_path, raw_schema());
        for (int t = 0; t < threads; ++t) {
          if (kv) {
            kv_writers.push_back(std::make_unique<RawKvWriter>(raw_path, true));
          } else {
            writers.push_back(std::make_unique<RawWriter>(raw_path, true));
          }
        }
      }
      const PutFn cairn_put = [&](int, std::int64_t i) {
        if (kv) {
          reg->kv(kKvNamespace).put(kv_key("thr", i, config_.kv_prefix_keys), kv_value(i));
        } else {
          reg->apps().put(make_app("thr", i, config_.apps_big));
        }
      };
      const PutFn raw_put = [&](int t, std::int64_t i) {
        const auto at = static_cast<std::size_t>(t);
        if (kv) {
          kv_writers[at]->put(kKvNamespace, kv_key("thr", i, config_.kv_prefix_keys), kv_value(i));
        } else {
          writers[at]->put(make_raw_app("thr", i, config_.apps_big));
        }
      };
      const bool latencies = threads == 8;
      measure(
          row, config_.rounds,
          [&](int round) {
            cairn_last =
                run_round(threads, per_thread, round * n, config_.dir, latencies, cairn_put);
            return cairn_last.ops_per_s;
          },
          [&](int round) {
            raw_last = run_round(threads, per_thread, round * n, config_.dir, latencies, raw_put);
            return raw_last.ops_per_s;
          });
    }
    const auto per_write = [n](const RoundResult& r) {
      return static_cast<double>(r.fsyncs) / static_cast<double>(n);
    };
    row.note = fmt::format("{} new {}s per round over {} threads; fsyncs per write: cairn {:.2f}, "
                           "raw {:.2f}",
                           n, unit, threads, per_write(cairn_last), per_write(raw_last));
    if (threads == 8) {
      row.note += fmt::format("; latency p50/p99: cairn {:.0f}/{:.0f} us, raw {:.0f}/{:.0f} us",
                              percentile(cairn_last.latencies_us, 0.5),
                              percentile(cairn_last.latencies_us, 0.99),
                              percentile(raw_last.latencies_us, 0.5),
                              percentile(raw_last.latencies_us, 0.99));
    }
    if (kv) {
      check_same_table(row.operation, "kv_entries", "length(key) + length(value)", cairn_path,
                       raw_path);
    } else {
      check_same_work(row.operation, cairn_path, raw_path);
    }
    if (threads == 1) raw_one_thread = row.raw;
    if (threads == 8 && row.cairn && raw_one_thread) versus.cairn = *row.cairn / *raw_one_thread;
    rows_.push_back(std::move(row));
  }
  versus.note = "cairn's total rate at 8 threads over raw sqlite3's at 1 thread, same run";
  rows_.push_back(std::move(versus));
}

}  // namespace cairn_bench
