// The operations of issue 7, each run through cairn and through raw sqlite3
// in alternating rounds (the order flips every round, after one warm-up
// round of each side that is not recorded), reported as medians.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "report.h"

namespace cairn_bench {

enum class Side { both, cairn, raw };

struct Config {
  bool smoke = false;
  std::uint64_t seed = 0;
  std::filesystem::path dir{};  // where the registry files go

  int rounds = 5;
  std::int64_t apps_big = 1'000'000;   // the registry of gets, pools, open, readers
  std::int64_t apps_small = 100'000;   // the registry 10x smaller, for pool growth
  std::int64_t build_batch = 10'000;   // apps per transaction when building them
  std::int64_t put_full_ops = 1'000;   // per round
  std::int64_t put_normal_ops = 5'000;
  std::int64_t batch_size = 1'000;     // apps per transaction
  std::int64_t batches_per_round = 10;
  std::int64_t get_ops = 100'000;
  std::int64_t pool_queries = 1'000;
  int open_reps = 11;
  int concurrent_rounds = 3;
  double concurrent_seconds = 2.0;     // per phase
  int reader_threads = 2;
  std::int64_t event_ops = 100'000;         // events per round, 100 per transaction
  std::int64_t backup_bytes = 100ll << 20;  // the registry backed up

  // Key-value entries (kv_* scenarios). The puts reuse put_full_ops,
  // put_normal_ops, batch_size and batches_per_round.
  std::int64_t kv_entries = 100'000;      // the namespace of gets and lists
  std::int64_t kv_prefix_keys = 10'000;   // keys under one prefix
  std::int64_t kv_page = 100;             // entries per list page
  std::int64_t kv_get_ops = 100'000;      // per round
  std::int64_t kv_prefixes_listed = 10;   // prefixes paged through per round
  // Torrents (torrent_* scenarios).
  std::int64_t torrents = 10'000;         // saved by one save_all; the set of gets
  int torrent_rounds = 3;                 // save_all is ~200 MB per round and side
  std::int64_t torrent_get_ops = 20'000;  // per round

  // WAL pages per commit (wal_pages).
  std::int64_t wal_apps = 10'000;         // the registry the commits go to
  std::int64_t wal_commits = 50;          // under the autocheckpoint's 1,000 frames
  Side side = Side::both;
  std::set<std::string> only{};          // scenario names; empty: all

  // The sizes of --smoke: every operation, a few seconds in all.
  static Config smoke_sized();

  bool wants(std::string_view scenario) const;
  bool runs_cairn() const { return side != Side::raw; }
  bool runs_raw() const { return side != Side::cairn; }
};

// Scenario names, in the order they run.
const std::vector<std::string>& scenario_names();

class Bench {
 public:
  explicit Bench(Config config) : config_(std::move(config)) {}

  // Runs the selected scenarios. Progress goes to stderr.
  void run();

  const std::vector<Row>& rows() const { return rows_; }
  // How the registries were built, and whether both sides did the same work.
  const nlohmann::json& setup() const { return setup_; }
  // False when a work check found different rows or bytes on the two sides:
  // the ratios then compare different work and mean nothing.
  bool same_work() const { return same_work_; }

 private:
  struct Dataset {
    std::filesystem::path cairn, raw;
    std::int64_t apps = 0;
  };

  void put_single(bool synchronous_full);
  void put_batched();
  void get();
  void in_pool();
  // One row of in_pool: a registry, its page cache size, warmed or not.
  Row pool_row(const Dataset& d, std::int64_t cache_kib, bool warm);
  void open();
  void concurrent();
  void events();
  void backup();
  // KV and torrents (scenarios_kv_torrent.cpp).
  void kv_put_single(bool synchronous_full);
  void kv_put_many();
  void kv_get();
  void kv_list_prefix();
  void torrent_save_all();
  void torrent_get();
  // WAL pages per single-app commit (scenarios_wal.cpp).
  void wal_pages();
  // Puts from 1-8 threads, apps or KV entries (scenarios_threads.cpp).
  void put_threads(bool kv);

  const Dataset& dataset(std::int64_t apps);
  // The namespace of kv_entries entries, and the kv_torrents torrents saved
  // once by save_all, on both sides (built on first use).
  const Dataset& kv_dataset();
  const Dataset& torrent_dataset();
  // The CREATE statements of a registry cairn creates, for the raw files.
  const std::vector<std::string>& raw_schema();
  void check_same_work(const std::string& what, const std::filesystem::path& cairn,
                       const std::filesystem::path& raw);
  // The same for one table of the KV and torrent scenarios: its rows and the
  // bytes of `bytes_sql`, the change log and the revision.
  void check_same_table(const std::string& what, const char* table, const char* bytes_sql,
                        const std::filesystem::path& cairn, const std::filesystem::path& raw);

  // Measures `cairn(round)` and `raw(round)` (each returns its value for that
  // round) into row.cairn_rounds / raw_rounds and their medians.
  template <class CairnFn, class RawFn>
  void measure(Row& row, int rounds, CairnFn&& cairn, RawFn&& raw);

  // The same with two cairn sides, `cairn` into row and `second` into
  // second_row, against one raw side whose rounds both rows get: their ratios
  // divide by the same figure. The side that goes first rotates every round.
  template <class CairnFn, class SecondFn, class RawFn>
  void measure_two(Row& row, Row& second_row, int rounds, CairnFn&& cairn, SecondFn&& second,
                   RawFn&& raw);

  Config config_;
  std::vector<Row> rows_;
  nlohmann::json setup_ = nlohmann::json::object();
  std::map<std::int64_t, Dataset> datasets_;
  std::optional<Dataset> kv_dataset_, torrent_dataset_;
  std::vector<std::string> schema_;
  bool same_work_ = true;
};

template <class CairnFn, class RawFn>
void Bench::measure(Row& row, int rounds, CairnFn&& cairn, RawFn&& raw) {
  // Round 0 warms both sides up (caches, statement caches, the WAL) and is
  // not recorded. Then the side that goes first alternates.
  for (int round = 0; round <= rounds; ++round) {
    const bool cairn_first = round % 2 == 0;
    for (int k = 0; k < 2; ++k) {
      const bool is_cairn = (k == 0) == cairn_first;
      if (is_cairn && config_.runs_cairn()) {
        const double v = cairn(round);
        if (round > 0) row.cairn_rounds.push_back(v);
      } else if (!is_cairn && config_.runs_raw()) {
        const double v = raw(round);
        if (round > 0) row.raw_rounds.push_back(v);
      }
    }
  }
  if (!row.cairn_rounds.empty()) row.cairn = median(row.cairn_rounds);
  if (!row.raw_rounds.empty()) row.raw = median(row.raw_rounds);
}

template <class CairnFn, class SecondFn, class RawFn>
void Bench::measure_two(Row& row, Row& second_row, int rounds, CairnFn&& cairn, SecondFn&& second,
                        RawFn&& raw) {
  for (int round = 0; round <= rounds; ++round) {
    for (int k = 0; k < 3; ++k) {
      const int side = (round + k) % 3;  // 0: cairn, 1: second, 2: raw
      if (side == 0 && config_.runs_cairn()) {
        const double v = cairn(round);
        if (round > 0) row.cairn_rounds.push_back(v);
      } else if (side == 1 && config_.runs_cairn()) {
        const double v = second(round);
        if (round > 0) second_row.cairn_rounds.push_back(v);
      } else if (side == 2 && config_.runs_raw()) {
        const double v = raw(round);
        if (round > 0) row.raw_rounds.push_back(v);
      }
    }
  }
  second_row.raw_rounds = row.raw_rounds;
  for (Row* r : {&row, &second_row}) {
    if (!r->cairn_rounds.empty()) r->cairn = median(r->cairn_rounds);
    if (!r->raw_rounds.empty()) r->raw = median(r->raw_rounds);
  }
}

}  // namespace cairn_bench
