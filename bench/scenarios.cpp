#include "scenarios.h"

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <chrono>
#include <ctime>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "cairn/cairn.h"
#include "raw_sqlite.h"
#include "workload.h"

namespace cairn_bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

template <class Fn>
double seconds_of(Fn&& fn) {
  const auto start = Clock::now();
  fn();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string count_label(std::int64_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0) return fmt::format("{}M", n / 1'000'000);
  if (n >= 1'000 && n % 1'000 == 0) return fmt::format("{}k", n / 1'000);
  return fmt::format("{}", n);
}

// Apps named by index, prepared before a timed loop so that making them is not
// timed.
std::vector<cairn::App> cairn_apps(const char* prefix, std::int64_t first, std::int64_t n,
                                   std::int64_t total) {
  std::vector<cairn::App> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = first; i < first + n; ++i) out.push_back(make_app(prefix, i, total));
  return out;
}

// The same, cut into batches of `batch_size` for put_many.
std::vector<std::vector<cairn::App>> cairn_app_batches(const char* prefix, std::int64_t first,
                                                       std::int64_t n, std::int64_t total,
                                                       std::int64_t batch_size) {
  std::vector<std::vector<cairn::App>> out;
  for (std::int64_t i = first; i < first + n; i += batch_size) {
    out.push_back(cairn_apps(prefix, i, std::min(batch_size, first + n - i), total));
  }
  return out;
}

std::vector<RawApp> raw_apps(const char* prefix, std::int64_t first, std::int64_t n,
                             std::int64_t total) {
  std::vector<RawApp> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = first; i < first + n; ++i) out.push_back(make_raw_app(prefix, i, total));
  return out;
}

// The number of apps of a registry of `total` that name pool `pool`.
std::size_t apps_in_pool(std::int64_t total, std::int64_t pool) {
  const std::int64_t pools = pool_count(total);
  return static_cast<std::size_t>(total / pools + (pool < total % pools ? 1 : 0));
}

// ---- The timed loops of the cairn side --------------------------------------
// Kept out of line, with names of their own, so that a profiler can collect
// exactly them: valgrind --tool=callgrind --toggle-collect='*cairn_get_loop*'.

[[gnu::noinline]] void cairn_put_loop(cairn::Registry& reg, std::vector<cairn::App>& apps) {
  cairn::AppStore store = reg.apps();
  for (cairn::App& app : apps) store.put(std::move(app));
}

[[gnu::noinline]] void cairn_put_batched_loop(cairn::Registry& reg, std::vector<cairn::App>& apps,
                                              std::int64_t batch_size) {
  const auto batch = static_cast<std::size_t>(batch_size);
  for (std::size_t first = 0; first < apps.size(); first += batch) {
    const std::size_t last = std::min(apps.size(), first + batch);
    reg.transact([&](cairn::Tx& tx) {
      cairn::AppStore store = tx.apps();
      for (std::size_t i = first; i < last; ++i) store.put(std::move(apps[i]));
    });
  }
}

[[gnu::noinline]] void cairn_put_many_loop(cairn::Registry& reg,
                                           std::vector<std::vector<cairn::App>>& batches) {
  cairn::AppStore store = reg.apps();
  for (auto& batch : batches) store.put_many(std::move(batch));
}

[[gnu::noinline]] std::size_t cairn_get_loop(cairn::Registry& reg,
                                             const std::vector<std::string>& ids) {
  cairn::AppStore store = reg.apps();
  std::size_t found = 0;
  for (const std::string& id : ids) found += store.get(id).id.size() == id.size() ? 1 : 0;
  return found;
}

[[gnu::noinline]] std::size_t cairn_in_pool_loop(cairn::Registry& reg,
                                                 const std::vector<std::string>& pools) {
  cairn::AppStore store = reg.apps();
  std::size_t rows = 0;
  for (const std::string& pool : pools) rows += store.in_pool(pool).size();
  return rows;
}

// ---- The same loops on the raw side -----------------------------------------

[[gnu::noinline]] void raw_put_loop(RawWriter& writer, const std::vector<RawApp>& apps) {
  for (const RawApp& app : apps) writer.put(app);
}

[[gnu::noinline]] void raw_put_batched_loop(RawWriter& writer, const std::vector<RawApp>& apps,
                                            std::int64_t batch_size) {
  const auto batch = static_cast<std::size_t>(batch_size);
  for (std::size_t first = 0; first < apps.size(); first += batch) {
    const std::size_t last = std::min(apps.size(), first + batch);
    writer.begin();
    for (std::size_t i = first; i < last; ++i) writer.put_in_transaction(apps[i]);
    writer.commit();
  }
}

[[gnu::noinline]] std::size_t raw_get_loop(RawReader& reader,
                                           const std::vector<std::string>& ids) {
  std::size_t found = 0;
  for (const std::string& id : ids) {
    const auto app = reader.get(id);
    found += app && app->id.size() == id.size() ? 1 : 0;
  }
  return found;
}

[[gnu::noinline]] std::size_t raw_in_pool_loop(RawReader& reader,
                                               const std::vector<std::string>& pools) {
  std::size_t rows = 0;
  for (const std::string& pool : pools) rows += reader.in_pool(pool).size();
  return rows;
}

void expect_count(const char* what, std::size_t got, std::size_t want) {
  if (got != want) {
    throw std::runtime_error(fmt::format("{}: {} results, expected {}", what, got, want));
  }
}

// CPU time of the calling thread.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// What one phase of readers (and maybe a writer) did.
struct Phase {
  double gets_per_second = 0;
  double puts_per_second = 0;
  double reader_cpu_us_per_get = 0;  // CPU the readers spent per get
  double writer_cores = 0;           // CPU the writer thread used, in cores
};

// Readers (and optionally one writer) for a fixed time.
template <class ReaderFn, class WriterFn>
Phase run_readers(int threads, double seconds, bool with_writer, ReaderFn&& read_one,
                  WriterFn&& write_one) {
  std::atomic<bool> go{false}, stop{false};
  std::vector<std::int64_t> counts(static_cast<std::size_t>(threads), 0);
  std::vector<double> reader_cpu(static_cast<std::size_t>(threads), 0.0);
  std::int64_t writes = 0;
  double writer_cpu = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const double cpu0 = thread_cpu_seconds();
      std::int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) read_one(t, n++);
      counts[static_cast<std::size_t>(t)] = n;
      reader_cpu[static_cast<std::size_t>(t)] = thread_cpu_seconds() - cpu0;
    });
  }
  if (with_writer) {
    pool.emplace_back([&] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const double cpu0 = thread_cpu_seconds();
      std::int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) write_one(n++);
      writes = n;
      writer_cpu = thread_cpu_seconds() - cpu0;
    });
  }
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const auto reads =
      static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}));
  const double cpu = std::accumulate(reader_cpu.begin(), reader_cpu.end(), 0.0);
  return Phase{.gets_per_second = reads / elapsed,
               .puts_per_second = static_cast<double>(writes) / elapsed,
               .reader_cpu_us_per_get = reads > 0 ? 1e6 * cpu / reads : 0,
               .writer_cores = writer_cpu / elapsed};
}

}  // namespace

// ---- Config -----------------------------------------------------------------

Config Config::smoke_sized() {
  Config c;
  c.smoke = true;
  c.rounds = 2;
  c.apps_big = 1'000;
  c.apps_small = 100;
  c.build_batch = 500;
  c.put_full_ops = 20;
  c.put_normal_ops = 50;
  c.batch_size = 1'000;
  c.batches_per_round = 1;
  c.get_ops = 300;
  c.pool_queries = 30;
  c.open_reps = 3;
  c.concurrent_rounds = 1;
  c.concurrent_seconds = 0.2;
  c.event_ops = 2'000;
  c.backup_bytes = 2ll << 20;
  c.kv_entries = 2'000;
  c.kv_prefix_keys = 200;
  c.kv_page = 100;
  c.kv_get_ops = 300;
  c.kv_prefixes_listed = 3;
  c.torrents = 50;
  c.torrent_rounds = 1;
  c.torrent_get_ops = 100;
  c.wal_apps = 1'000;
  return c;
}

bool Config::wants(std::string_view scenario) const {
  return only.empty() || only.count(std::string(scenario)) > 0;
}

const std::vector<std::string>& scenario_names() {
  static const std::vector<std::string> names = {
      "put_full", "put_normal", "put_batched", "get", "in_pool", "open", "concurrent",
      "events", "backup", "kv_put_full", "kv_put_normal", "kv_put_many", "kv_get",
      "kv_list_prefix", "torrent_save_all", "torrent_get", "wal_pages", "put_threads", "kv_put_threads"};
  return names;
}

// ---- Bench ------------------------------------------------------------------

void Bench::run() {
  if (config_.wants("put_full")) put_single(true);
  if (config_.wants("put_normal")) put_single(false);
  if (config_.wants("put_batched")) put_batched();
  if (config_.wants("get")) get();
  if (config_.wants("in_pool")) in_pool();
  if (config_.wants("open")) open();
  if (config_.wants("concurrent")) concurrent();
  if (config_.wants("events")) events();
  if (config_.wants("backup")) backup();
  if (config_.wants("kv_put_full")) kv_put_single(true);
  if (config_.wants("kv_put_normal")) kv_put_single(false);
  if (config_.wants("kv_put_many")) kv_put_many();
  if (config_.wants("kv_get")) kv_get();
  if (config_.wants("kv_list_prefix")) kv_list_prefix();
  if (config_.wants("torrent_save_all")) torrent_save_all();
  if (config_.wants("torrent_get")) torrent_get();
  if (config_.wants("wal_pages")) wal_pages();
  // Last: they install the fsync-counting VFS shim for every later connection.
  if (config_.wants("put_threads")) put_threads(false);
  if (config_.wants("kv_put_threads")) put_threads(true);
}

void Bench::check_same_work(const std::string& what, const fs::path& cairn, const fs::path& raw) {
  if (!config_.runs_cairn() || !config_.runs_raw()) return;
  const WorkCheck c = raw_work_check(cairn);
  const WorkCheck r = raw_work_check(raw);
  auto as_json = [](const WorkCheck& w) {
    return nlohmann::json{{"apps", w.apps},         {"app_pools", w.memberships},
                          {"change_log", w.changes}, {"revision", w.revision},
                          {"app_bytes", w.app_bytes}, {"image_bytes", w.image_bytes}};
  };
  setup_["work_checks"][what] = {{"same", c == r}, {"cairn", as_json(c)}, {"raw", as_json(r)}};
  if (c == r) {
    progress(fmt::format("{}: same rows and bytes on both sides ({} apps, {} memberships, {} "
                         "change-log rows, revision {})",
                         what, c.apps, c.memberships, c.changes, c.revision));
  } else {
    same_work_ = false;
    progress(fmt::format("{}: WORK DIFFERS: cairn {}, raw {}", what, as_json(c).dump(),
                         as_json(r).dump()));
  }
}

const std::vector<std::string>& Bench::raw_schema() {
  if (schema_.empty()) {
    const fs::path source = config_.dir / "schema-source.cairn.db";
    cairn::Registry::open(source).close();
    schema_ = schema_of(source);
    setup_["raw_schema"] = schema_;
  }
  return schema_;
}

const Bench::Dataset& Bench::dataset(std::int64_t apps) {
  if (auto it = datasets_.find(apps); it != datasets_.end()) return it->second;
  Dataset d;
  d.apps = apps;
  d.cairn = config_.dir / fmt::format("apps-{}.cairn.db", apps);
  d.raw = config_.dir / fmt::format("apps-{}.raw.db", apps);
  const std::int64_t batch = config_.build_batch;
  nlohmann::json info = {{"apps", apps}, {"apps_per_transaction", batch}};

  if (config_.runs_cairn()) {
    const double s = seconds_of([&] {
      cairn::Registry reg = cairn::Registry::open(d.cairn);
      for (std::int64_t first = 0; first < apps; first += batch) {
        auto batch_apps = cairn_apps("app", first, std::min(batch, apps - first), apps);
        reg.transact([&](cairn::Tx& tx) {
          cairn::AppStore store = tx.apps();
          for (cairn::App& app : batch_apps) store.put(std::move(app));
        });
      }
    });
    info["cairn_seconds"] = s;
    progress(fmt::format("built {} apps through cairn in {:.1f} s ({:.0f} apps/s)", apps, s,
                         static_cast<double>(apps) / s));
  }
  if (config_.runs_raw()) {
    const double s = seconds_of([&] {
      raw_create_registry(d.raw, raw_schema());
      RawWriter writer(d.raw, true);
      for (std::int64_t first = 0; first < apps; first += batch) {
        const auto batch_apps = raw_apps("app", first, std::min(batch, apps - first), apps);
        writer.begin();
        for (const RawApp& app : batch_apps) writer.put_in_transaction(app);
        writer.commit();
      }
    });
    info["raw_seconds"] = s;
    progress(fmt::format("built {} apps through raw sqlite3 in {:.1f} s ({:.0f} apps/s)", apps, s,
                         static_cast<double>(apps) / s));
  }
  setup_["datasets"].push_back(info);
  check_same_work(fmt::format("registry of {} apps", apps), d.cairn, d.raw);
  return datasets_.emplace(apps, d).first->second;
}

// 1. One app per transaction.
void Bench::put_single(bool synchronous_full) {
  const char* mode = synchronous_full ? "FULL" : "NORMAL";
  progress(fmt::format("put, 1 app per transaction, synchronous {}", mode));
  const std::int64_t n = synchronous_full ? config_.put_full_ops : config_.put_normal_ops;
  const fs::path cairn_path = config_.dir / fmt::format("put-{}.cairn.db", mode);
  const fs::path raw_path = config_.dir / fmt::format("put-{}.raw.db", mode);

  Row row{.operation = fmt::format("put, 1 app/tx, synchronous {}", mode),
          .unit = "ops/s",
          .goal = Goal::ratio_at_least,
          .threshold = synchronous_full ? 0.85 : 0.6,
          .target = synchronous_full ? ">= 0.85" : ">= 0.6"};
  {
    std::optional<cairn::Registry> reg;
    std::optional<RawWriter> writer;
    if (config_.runs_cairn()) {
      reg.emplace(cairn::Registry::open(
          cairn_path, cairn::Options{.synchronous = synchronous_full ? cairn::Synchronous::full
                                                                     : cairn::Synchronous::normal}));
    }
    if (config_.runs_raw()) {
      raw_create_registry(raw_path, raw_schema());
      writer.emplace(raw_path, synchronous_full);
    }
    measure(
        row, config_.rounds,
        [&](int round) {
          auto apps = cairn_apps("put", round * n, n, config_.apps_big);
          return static_cast<double>(n) / seconds_of([&] { cairn_put_loop(*reg, apps); });
        },
        [&](int round) {
          const auto apps = raw_apps("put", round * n, n, config_.apps_big);
          return static_cast<double>(n) / seconds_of([&] { raw_put_loop(*writer, apps); });
        });
  }
  row.note = fmt::format("{} new apps per round, {} rounds, empty registry at start", n,
                         config_.rounds);
  check_same_work(row.operation, cairn_path, raw_path);
  rows_.push_back(std::move(row));
}

// 2. 1,000 apps per transaction: a loop of put inside transact, and put_many
// of the same batches, each against the same raw figure of the same rounds.
void Bench::put_batched() {
  progress(fmt::format("put, {} apps per transaction; put_many of {}", config_.batch_size,
                       config_.batch_size));
  const std::int64_t n = config_.batch_size * config_.batches_per_round;
  const fs::path loop_path = config_.dir / "put-batched.cairn.db";
  const fs::path many_path = config_.dir / "put-many.cairn.db";
  const fs::path raw_path = config_.dir / "put-batched.raw.db";
  Row loop_row{.operation = fmt::format("put, {} apps/tx (apps/s)", config_.batch_size),
               .unit = "ops/s",
               .goal = Goal::ratio_at_least,
               .threshold = 0.45,
               .target = ">= 0.45"};
  Row many_row{.operation = fmt::format("put_many, {} apps/call (apps/s)", config_.batch_size),
               .unit = "ops/s",
               .goal = Goal::ratio_at_least,
               .threshold = 0.7,
               .target = ">= 0.7"};
  {
    std::optional<cairn::Registry> loop_reg, many_reg;
    std::optional<RawWriter> writer;
    if (config_.runs_cairn()) {
      loop_reg.emplace(cairn::Registry::open(loop_path));
      many_reg.emplace(cairn::Registry::open(many_path));
    }
    if (config_.runs_raw()) {
      raw_create_registry(raw_path, raw_schema());
      writer.emplace(raw_path, true);
    }
    measure_two(
        loop_row, many_row, config_.rounds,
        [&](int round) {
          auto apps = cairn_apps("batch", round * n, n, config_.apps_big);
          return static_cast<double>(n) /
                 seconds_of([&] { cairn_put_batched_loop(*loop_reg, apps, config_.batch_size); });
        },
        [&](int round) {
          auto batches =
              cairn_app_batches("batch", round * n, n, config_.apps_big, config_.batch_size);
          return static_cast<double>(n) /
                 seconds_of([&] { cairn_put_many_loop(*many_reg, batches); });
        },
        [&](int round) {
          const auto apps = raw_apps("batch", round * n, n, config_.apps_big);
          return static_cast<double>(n) /
                 seconds_of([&] { raw_put_batched_loop(*writer, apps, config_.batch_size); });
        });
  }
  loop_row.note = fmt::format("{} transactions of {} new apps per round, synchronous FULL",
                              config_.batches_per_round, config_.batch_size);
  many_row.note = fmt::format(
      "{} put_many calls of {} new apps per round, synchronous FULL; "
      "raw: the row above's, same rounds",
      config_.batches_per_round, config_.batch_size);
  check_same_work(loop_row.operation, loop_path, raw_path);
  check_same_work(many_row.operation, many_path, raw_path);
  rows_.push_back(std::move(loop_row));
  rows_.push_back(std::move(many_row));
}

// 3. get by id, in random order.
void Bench::get() {
  const Dataset& d = dataset(config_.apps_big);
  progress(fmt::format("get by id over {} apps, random order", d.apps));
  std::vector<std::int64_t> order(static_cast<std::size_t>(d.apps));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(config_.seed));
  const auto n = static_cast<std::size_t>(config_.get_ops);
  auto ids_of_round = [&](int round) {
    std::vector<std::string> ids;
    ids.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      ids.push_back(app_id("app", order[(static_cast<std::size_t>(round) * n + k) % order.size()]));
    }
    return ids;
  };

  Row row{.operation = fmt::format("get by id, {} apps, random", count_label(d.apps)),
          .unit = "ops/s",
          .goal = Goal::ratio_at_least,
          .threshold = 0.8,
          .target = ">= 0.8"};
  {
    std::optional<cairn::Registry> reg;
    std::optional<RawReader> reader;
    if (config_.runs_cairn()) reg.emplace(cairn::Registry::open(d.cairn));
    if (config_.runs_raw()) reader.emplace(d.raw);
    measure(
        row, config_.rounds,
        [&](int round) {
          const auto ids = ids_of_round(round);
          std::size_t found = 0;
          const double s = seconds_of([&] { found = cairn_get_loop(*reg, ids); });
          expect_count("cairn get", found, n);
          return static_cast<double>(n) / s;
        },
        [&](int round) {
          const auto ids = ids_of_round(round);
          std::size_t found = 0;
          const double s = seconds_of([&] { found = raw_get_loop(*reader, ids); });
          expect_count("raw get", found, n);
          return static_cast<double>(n) / s;
        });
  }
  row.note = fmt::format("{} gets per round, ids shuffled with seed {}", n, config_.seed);
  rows_.push_back(std::move(row));
}

// 4. Apps in one pool, at two registry sizes: first with the default page
// cache (64 MiB, smaller than the 1M registry), then with a page cache that
// holds the whole file, warmed by one query of every pool, which shows what
// the query itself costs when no page has to be read from the file.
void Bench::in_pool() {
  constexpr std::int64_t kWholeFileCacheKib = 2 << 20;  // 2 GiB: more than the 1M file
  for (const bool whole_file : {false, true}) {
    const std::int64_t cache_kib = whole_file ? kWholeFileCacheKib : cairn::Options{}.cache_size_kib;
    const std::string cache_label = whole_file ? ", cache holds the file" : "";
    double cairn_ops[2] = {0, 0}, raw_ops[2] = {0, 0};
    const std::int64_t sizes[2] = {config_.apps_small, config_.apps_big};
    for (int k = 0; k < 2; ++k) {
      const Dataset& d = dataset(sizes[k]);
      progress(fmt::format("apps in one pool, registry of {} apps{}", d.apps, cache_label));
      Row row = pool_row(d, cache_kib, whole_file);
      row.operation += cache_label;
      cairn_ops[k] = row.cairn.value_or(0);
      raw_ops[k] = row.raw.value_or(0);
      rows_.push_back(std::move(row));
    }
    Row growth{.operation = fmt::format("apps in one pool: time at {} / at {}{}",
                                        count_label(sizes[1]), count_label(sizes[0]), cache_label),
               .unit = "x"};
    if (!whole_file) {
      growth.goal = Goal::cairn_at_most;
      growth.threshold = 1.3;
      growth.target = "cairn <= 1.3";
    }
    if (config_.runs_cairn()) growth.cairn = cairn_ops[0] / cairn_ops[1];
    if (config_.runs_raw()) growth.raw = raw_ops[0] / raw_ops[1];
    growth.note = whole_file ? "the same with no page read from the file: the query's own cost"
                             : "how much slower one pool query gets when the registry grows 10x";
    rows_.push_back(std::move(growth));
  }
}

Row Bench::pool_row(const Dataset& d, std::int64_t cache_kib, bool warm) {
  std::mt19937_64 rng(config_.seed + static_cast<std::uint64_t>(d.apps));
  std::uniform_int_distribution<std::int64_t> pick(0, pool_count(d.apps) - 1);
  std::vector<std::vector<std::string>> pools(static_cast<std::size_t>(config_.rounds) + 1);
  std::vector<std::size_t> expected(pools.size(), 0);
  for (std::size_t r = 0; r < pools.size(); ++r) {
    for (std::int64_t q = 0; q < config_.pool_queries; ++q) {
      const std::int64_t p = pick(rng);
      pools[r].push_back(pool_name_at(p));
      expected[r] += apps_in_pool(d.apps, p);
    }
  }
  std::vector<std::string> every_pool;
  for (std::int64_t p = 0; warm && p < pool_count(d.apps); ++p) every_pool.push_back(pool_name_at(p));

  const auto queries = static_cast<double>(config_.pool_queries);
  Row row{.operation = fmt::format("apps in one pool ({} apps), {} registry",
                                   apps_in_pool(d.apps, 0), count_label(d.apps)),
          .unit = "ops/s",
          .goal = Goal::ratio_at_least,
          .threshold = 1 / 1.5,
          .target = ">= 0.667 (time <= 1.5x)"};
  std::int64_t misses = 0;  // the raw side's page-cache misses in measured rounds
  std::optional<cairn::Registry> reg;
  std::optional<RawReader> reader;
  if (config_.runs_cairn()) {
    reg.emplace(cairn::Registry::open(d.cairn, cairn::Options{.cache_size_kib = cache_kib}));
    if (warm) (void)cairn_in_pool_loop(*reg, every_pool);
  }
  if (config_.runs_raw()) {
    reader.emplace(d.raw, cache_kib);
    if (warm) (void)raw_in_pool_loop(*reader, every_pool);
  }
  measure(
      row, config_.rounds,
      [&](int round) {
        const auto& round_pools = pools[static_cast<std::size_t>(round)];
        std::size_t rows = 0;
        const double s = seconds_of([&] { rows = cairn_in_pool_loop(*reg, round_pools); });
        expect_count("cairn in_pool", rows, expected[static_cast<std::size_t>(round)]);
        return queries / s;
      },
      [&](int round) {
        const auto& round_pools = pools[static_cast<std::size_t>(round)];
        std::size_t rows = 0;
        const std::int64_t misses_before = reader->cache_misses();
        const double s = seconds_of([&] { rows = raw_in_pool_loop(*reader, round_pools); });
        if (round > 0) misses += reader->cache_misses() - misses_before;
        expect_count("raw in_pool", rows, expected[static_cast<std::size_t>(round)]);
        return queries / s;
      });
  row.note = fmt::format(
      "{} queries of random pools per round; file {} MB, page cache {} MiB{}; the raw side read "
      "{:.1f} pages per query from the file",
      config_.pool_queries, fs::file_size(d.raw) >> 20, cache_kib >> 10,
      warm ? " (warmed by one query of every pool)" : "",
      static_cast<double>(misses) / (queries * config_.rounds));
  return row;
}

// 5. Open an existing registry and read one app.
void Bench::open() {
  const Dataset& d = dataset(config_.apps_big);
  progress(fmt::format("open a registry of {} apps, time to the first get", d.apps));
  std::mt19937_64 rng(config_.seed + 100);
  std::uniform_int_distribution<std::int64_t> pick(0, d.apps - 1);
  std::vector<std::string> ids;
  for (int r = 0; r <= config_.open_reps; ++r) ids.push_back(app_id("app", pick(rng)));

  Row row{.operation = fmt::format("open {} registry + first get", count_label(d.apps)),
          .unit = "ms",
          .goal = Goal::cairn_below,
          .threshold = 50,
          .target = "cairn < 50 ms"};
  measure(
      row, config_.open_reps,
      [&](int round) {
        std::optional<cairn::Registry> reg;
        const double s = seconds_of([&] {
          reg.emplace(cairn::Registry::open(d.cairn));
          (void)reg->apps().get(ids[static_cast<std::size_t>(round)]);
        });
        return s * 1000;
      },
      [&](int round) {
        std::unique_ptr<RawConnection> conn;
        const double s = seconds_of(
            [&] { conn = raw_open_and_get(d.raw, ids[static_cast<std::size_t>(round)]); });
        return s * 1000;
      });
  row.note = fmt::format(
      "median of {} opens, no other connection open; ratio is cairn/raw time", config_.open_reps);
  rows_.push_back(std::move(row));
}

// 6. Readers alone, then with one writer putting apps one per transaction.
void Bench::concurrent() {
  const Dataset& d = dataset(config_.apps_big);
  const int threads = config_.reader_threads;
  progress(fmt::format("{} reader threads, alone and with 1 writer thread", threads));

  // Each reader walks its own list of random ids.
  constexpr std::size_t kIdsPerReader = 1 << 16;
  std::vector<std::vector<std::string>> ids(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    std::mt19937_64 rng(config_.seed + 1000 + static_cast<std::uint64_t>(t));
    std::uniform_int_distribution<std::int64_t> pick(0, d.apps - 1);
    for (std::size_t k = 0; k < kIdsPerReader; ++k) {
      ids[static_cast<std::size_t>(t)].push_back(app_id("app", pick(rng)));
    }
  }
  auto id_for = [&](int thread, std::int64_t n) -> const std::string& {
    return ids[static_cast<std::size_t>(thread)][static_cast<std::size_t>(n) % kIdsPerReader];
  };

  std::optional<cairn::Registry> reg;
  std::vector<std::unique_ptr<RawReader>> readers;
  std::optional<RawWriter> writer;
  if (config_.runs_cairn()) reg.emplace(cairn::Registry::open(d.cairn));
  if (config_.runs_raw()) {
    for (int t = 0; t < threads; ++t) readers.push_back(std::make_unique<RawReader>(d.raw));
    writer.emplace(d.raw, true);
  }
  std::int64_t next_cairn_write = 0, next_raw_write = 0;
  // Per side, the phases of the measured rounds: where the CPU went.
  std::vector<Phase> cairn_alone, cairn_busy, raw_alone, raw_busy;

  auto cairn_phase = [&](bool with_writer) {
    return run_readers(
        threads, config_.concurrent_seconds, with_writer,
        [&](int t, std::int64_t n) { (void)reg->apps().get(id_for(t, n)); },
        [&](std::int64_t) {
          reg->apps().put(make_app("writer", next_cairn_write++, d.apps));
        });
  };
  auto raw_phase = [&](bool with_writer) {
    return run_readers(
        threads, config_.concurrent_seconds, with_writer,
        [&](int t, std::int64_t n) {
          if (!readers[static_cast<std::size_t>(t)]->get(id_for(t, n))) {
            throw std::runtime_error("raw reader: app not found");
          }
        },
        [&](std::int64_t) { writer->put(make_raw_app("writer", next_raw_write++, d.apps)); });
  };

  Row alone{.operation = fmt::format("get, {} readers alone", threads), .unit = "ops/s"};
  Row busy{.operation = fmt::format("get, {} readers + 1 writer", threads), .unit = "ops/s"};
  Row fraction{.operation = "readers: with writer / alone",
               .unit = "x",
               .goal = Goal::cairn_at_least,
               .threshold = 0.7,
               .target = "cairn >= 0.7"};
  // Phases alternate within a round: alone, with writer, for each side.
  auto round_of = [&](auto&& phase, std::vector<double>& busy_rounds,
                      std::vector<double>& fraction_rounds, std::vector<Phase>& alone_phases,
                      std::vector<Phase>& busy_phases, int round) {
    const Phase a = phase(false);
    const Phase b = phase(true);
    if (round > 0) {
      busy_rounds.push_back(b.gets_per_second);
      fraction_rounds.push_back(b.gets_per_second / a.gets_per_second);
      alone_phases.push_back(a);
      busy_phases.push_back(b);
    }
    return a.gets_per_second;
  };
  measure(
      alone, config_.concurrent_rounds,
      [&](int round) {
        return round_of(cairn_phase, busy.cairn_rounds, fraction.cairn_rounds, cairn_alone,
                        cairn_busy, round);
      },
      [&](int round) {
        return round_of(raw_phase, busy.raw_rounds, fraction.raw_rounds, raw_alone, raw_busy,
                        round);
      });
  if (!busy.cairn_rounds.empty()) busy.cairn = median(busy.cairn_rounds);
  if (!busy.raw_rounds.empty()) busy.raw = median(busy.raw_rounds);
  if (alone.cairn && busy.cairn) fraction.cairn = *busy.cairn / *alone.cairn;
  if (alone.raw && busy.raw) fraction.raw = *busy.raw / *alone.raw;

  // Medians over the measured rounds of one field of the phases.
  auto med = [](const std::vector<Phase>& phases, double Phase::*field) {
    std::vector<double> v;
    for (const Phase& p : phases) v.push_back(p.*field);
    return v.empty() ? 0.0 : median(v);
  };
  alone.note = fmt::format("{} s per phase, {} rounds, registry of {} apps",
                           config_.concurrent_seconds, config_.concurrent_rounds, d.apps);
  busy.note = fmt::format(
      "the writer puts 1 app/tx, synchronous FULL: cairn {:.0f} puts/s using {:.2f} cores, raw "
      "{:.0f} puts/s using {:.2f} cores",
      med(cairn_busy, &Phase::puts_per_second), med(cairn_busy, &Phase::writer_cores),
      med(raw_busy, &Phase::puts_per_second), med(raw_busy, &Phase::writer_cores));
  fraction.note = fmt::format(
      "reader CPU per get, alone -> with the writer: cairn {:.1f} -> {:.1f} us, raw {:.1f} -> "
      "{:.1f} us",
      med(cairn_alone, &Phase::reader_cpu_us_per_get),
      med(cairn_busy, &Phase::reader_cpu_us_per_get),
      med(raw_alone, &Phase::reader_cpu_us_per_get), med(raw_busy, &Phase::reader_cpu_us_per_get));
  rows_.push_back(std::move(alone));
  rows_.push_back(std::move(busy));
  rows_.push_back(std::move(fraction));
}

// 7a. Events: how fast committed events reach a no-op subscriber, and what a
// subscriber costs a writer. Neither has a raw sqlite3 counterpart: the first
// row reports cairn alone; the second compares cairn with and without a
// subscriber (shown in the raw column).
void Bench::events() {
  if (!config_.runs_cairn()) return;
  progress("events");
  const cairn::Options normal{.synchronous = cairn::Synchronous::normal};
  const std::int64_t n = config_.event_ops;
  constexpr std::int64_t kPerTransaction = 100;

  Row rate{.operation = "events delivered to a no-op subscriber (events/s)", .unit = "ops/s"};
  {
    auto reg = cairn::Registry::open(config_.dir / "events.cairn.db", normal);
    std::atomic<std::int64_t> seen{0};
    auto sub = reg.subscribe({}, [&](std::span<const cairn::Event> events) {
      seen.fetch_add(static_cast<std::int64_t>(events.size()));
    });
    for (int round = 0; round <= config_.rounds; ++round) {
      auto apps = cairn_apps("event", round * n, n, config_.apps_big);
      const double s = seconds_of([&] {
        cairn_put_batched_loop(reg, apps, kPerTransaction);
        reg.wait_for(reg.revision(), std::chrono::minutes(10));
      });
      if (round > 0) rate.cairn_rounds.push_back(static_cast<double>(n) / s);
    }
    rate.cairn = median(rate.cairn_rounds);
    rate.note = fmt::format("{} puts per round in transactions of {}, synchronous NORMAL, timed "
                            "from the first put until wait_for() saw the last delivered; {} "
                            "events delivered in all",
                            n, kPerTransaction, seen.load());
  }
  rows_.push_back(std::move(rate));

  Row cost{.operation = "put NORMAL, 1 subscriber / none",
           .unit = "ops/s",
           .note = "raw column: the same puts through cairn with no subscriber"};
  {
    auto reg = cairn::Registry::open(config_.dir / "events-put.cairn.db", normal);
    const std::int64_t ops = config_.put_normal_ops;
    auto puts = [&](int round, bool subscribed) {
      std::optional<cairn::Subscription> sub;
      if (subscribed) sub.emplace(reg.subscribe({}, [](std::span<const cairn::Event>) {}));
      auto apps = cairn_apps(subscribed ? "sub" : "nosub", round * ops, ops, config_.apps_big);
      const double rate = static_cast<double>(ops) / seconds_of([&] { cairn_put_loop(reg, apps); });
      if (sub) reg.wait_for(reg.revision(), std::chrono::minutes(10));
      return rate;
    };
    for (int round = 0; round <= config_.rounds; ++round) {
      const double with = puts(round, true);
      const double without = puts(round, false);
      if (round == 0) continue;
      cost.cairn_rounds.push_back(with);
      cost.raw_rounds.push_back(without);
    }
    cost.cairn = median(cost.cairn_rounds);
    cost.raw = median(cost.raw_rounds);
  }
  rows_.push_back(std::move(cost));
}

// 7b. Backup and restore of a registry of backup_bytes, against the sqlite3
// shell's .backup and .restore of the same file in the same run. cairn's
// times include its checks: quick_check, SHA-256, fsyncs, manifest (backup);
// manifest, SHA-256 and integrity_check of the input (restore).
void Bench::backup() {
  progress(fmt::format("backup and restore of a {} MB registry", config_.backup_bytes >> 20));
  const fs::path db = config_.dir / "backup-source.db";
  {
    auto reg = cairn::Registry::open(db, cairn::Options{.synchronous = cairn::Synchronous::normal});
    std::int64_t first = 0;
    const std::string filler(2048, 'x');
    while (static_cast<std::int64_t>(fs::file_size(db)) +
               static_cast<std::int64_t>(reg.stats().wal_bytes) <
           config_.backup_bytes) {
      auto apps = cairn_apps("big", first, 1000, config_.apps_big);
      for (auto& a : apps) a.meta["filler"] = filler;
      cairn_put_batched_loop(reg, apps, 1000);
      first += 1000;
    }
  }  // closed: the WAL is checkpointed into the file
  const double mb = static_cast<double>(fs::file_size(db)) / (1 << 20);
  auto shell = [](const std::string& command) {
    if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
  };

  Row backup{.operation = fmt::format("backup of a {:.0f} MB registry (MB/s)", mb),
             .unit = "MB/s",
             .note = "raw: the sqlite3 shell's .backup; cairn also runs quick_check and SHA-256 "
                     "over the copy (DESIGN 9; each a pass over the file), fsyncs and writes the "
                     "manifest; the issue sets no target"};
  Row restore{.operation = fmt::format("restore of a {:.0f} MB backup (MB/s)", mb),
              .unit = "MB/s",
              .note = "raw: the sqlite3 shell's .restore; cairn verifies the manifest, SHA-256 "
                      "and integrity_check first, copies, fsyncs and renames"};
  {
    auto reg = cairn::Registry::open(db);
    const fs::path ours = config_.dir / "backup-cairn.db";
    const fs::path theirs = config_.dir / "backup-shell.db";
    measure(
        backup, config_.rounds,
        [&](int) {
          fs::remove(ours);
          fs::remove(cairn::manifest_path(ours));
          return mb / seconds_of([&] { reg.backup(ours); });
        },
        [&](int) {
          fs::remove(theirs);
          return mb / seconds_of([&] {
            shell(fmt::format("sqlite3 '{}' \".backup '{}'\"", db.string(), theirs.string()));
          });
        });
    reg.close();
    const fs::path target_ours = config_.dir / "restored-cairn.db";
    const fs::path target_theirs = config_.dir / "restored-shell.db";
    measure(
        restore, config_.rounds,
        [&](int) {
          return mb / seconds_of([&] {
            cairn::restore(ours, target_ours, cairn::RestoreOptions{.keep_replaced = false});
          });
        },
        [&](int) {
          return mb / seconds_of([&] {
            shell(fmt::format("sqlite3 '{}' \".restore '{}'\"", target_theirs.string(),
                              ours.string()));
          });
        });
  }
  rows_.push_back(std::move(backup));
  rows_.push_back(std::move(restore));
}

}  // namespace cairn_bench
