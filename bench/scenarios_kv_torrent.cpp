// The KV and torrent scenarios of issue 7: KvStore put, put_many, get and
// prefix listing, TorrentStore save_all and get, each against raw sqlite3
// (raw_kv_torrent.h) doing the same work in the same run, in alternating
// rounds (Bench::measure), with a work check of both files afterwards.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <stdexcept>

#include "cairn/cairn.h"
#include "raw_kv_torrent.h"
#include "scenarios.h"
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

void expect_count(const char* what, std::size_t got, std::size_t want) {
  if (got != want) {
    throw std::runtime_error(fmt::format("{}: {} results, expected {}", what, got, want));
  }
}

constexpr const char* kKvBytes = "length(key) + length(value)";
constexpr const char* kTorrentBytes =
    "length(info_hash) + length(name) + length(save_path) + length(pieces) + length(trackers) + "
    "length(file_priorities) + length(limits) + length(flags) + length(metainfo) + length(extra)";

// A KV write: the key and value both sides write.
struct KvWrite {
  std::string key{};
  std::string value{};
};

std::vector<KvWrite> kv_writes(std::string_view tag, std::int64_t first, std::int64_t n,
                               std::int64_t per_prefix) {
  std::vector<KvWrite> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = first; i < first + n; ++i) {
    out.push_back(KvWrite{.key = kv_key(tag, i, per_prefix), .value = kv_value(i)});
  }
  return out;
}

std::vector<cairn::KvItem> kv_items(const std::vector<KvWrite>& writes, std::size_t first,
                                    std::size_t last) {
  std::vector<cairn::KvItem> items;
  items.reserve(last - first);
  for (std::size_t i = first; i < last; ++i) {
    items.push_back(cairn::KvItem{.key = writes[i].key, .value = writes[i].value});
  }
  return items;
}

std::vector<cairn::Torrent> cairn_torrents(std::int64_t n, std::int64_t round) {
  std::vector<cairn::Torrent> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out.push_back(make_torrent(i, round));
  return out;
}

std::vector<RawTorrent> raw_torrents(std::int64_t n, std::int64_t round) {
  std::vector<RawTorrent> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) out.push_back(make_raw_torrent(i, round));
  return out;
}

// ---- The timed loops --------------------------------------------------------
// Out of line, with names of their own, for a profiler:
// valgrind --tool=callgrind --toggle-collect='*cairn_kv_get_loop*'.

[[gnu::noinline]] void cairn_kv_put_loop(cairn::KvStore& store, const std::vector<KvWrite>& w) {
  for (const KvWrite& x : w) store.put(x.key, x.value);
}

[[gnu::noinline]] void raw_kv_put_loop(RawKvWriter& writer, const std::vector<KvWrite>& w) {
  for (const KvWrite& x : w) writer.put(kKvNamespace, x.key, x.value);
}

[[gnu::noinline]] void cairn_kv_put_many_loop(cairn::KvStore& store,
                                              const std::vector<std::vector<cairn::KvItem>>& b) {
  for (const auto& batch : b) store.put_many(batch);
}

[[gnu::noinline]] void raw_kv_put_many_loop(RawKvWriter& writer, const std::vector<KvWrite>& w,
                                            std::size_t batch) {
  for (std::size_t first = 0; first < w.size(); first += batch) {
    writer.begin();
    for (std::size_t i = first; i < std::min(w.size(), first + batch); ++i) {
      writer.put_in_transaction(kKvNamespace, w[i].key, w[i].value);
    }
    writer.commit();
  }
}

[[gnu::noinline]] std::size_t cairn_kv_get_loop(cairn::KvStore& store,
                                                const std::vector<std::string>& keys) {
  std::size_t found = 0;
  for (const std::string& key : keys) found += store.get(key).value.size() == kKvValueBytes;
  return found;
}

[[gnu::noinline]] std::size_t raw_kv_get_loop(RawKvReader& reader,
                                              const std::vector<std::string>& keys) {
  std::size_t found = 0;
  for (const std::string& key : keys) {
    const auto e = reader.get(kKvNamespace, key);
    found += e && e->value.size() == kKvValueBytes ? 1 : 0;
  }
  return found;
}

// Pages through each prefix: the next page starts after the last key of the
// previous one; a short page ends the prefix. Returns {pages, entries}.
[[gnu::noinline]] std::pair<std::size_t, std::size_t> cairn_kv_list_loop(
    cairn::KvStore& store, const std::vector<std::string>& prefixes, std::size_t page) {
  std::size_t pages = 0, entries = 0;
  for (const std::string& prefix : prefixes) {
    cairn::KvQuery query{.prefix = prefix, .limit = page};
    for (;;) {
      const std::vector<cairn::KvEntry> got = store.list(query);
      ++pages;
      entries += got.size();
      if (got.size() < page) break;
      query.after = got.back().key;
    }
  }
  return {pages, entries};
}

[[gnu::noinline]] std::pair<std::size_t, std::size_t> raw_kv_list_loop(
    RawKvReader& reader, const std::vector<std::string>& prefixes, std::size_t page) {
  std::size_t pages = 0, entries = 0;
  for (const std::string& prefix : prefixes) {
    std::string after;
    for (;;) {
      const std::vector<RawKvEntry> got =
          reader.list(kKvNamespace, prefix, after, static_cast<std::int64_t>(page));
      ++pages;
      entries += got.size();
      if (got.size() < page) break;
      after = got.back().key;
    }
  }
  return {pages, entries};
}

[[gnu::noinline]] std::size_t cairn_torrent_get_loop(cairn::TorrentStore& store,
                                                     const std::vector<std::string>& hashes) {
  std::size_t found = 0;
  for (const std::string& h : hashes) found += store.get(h).metainfo.size() == kMetainfoBytes;
  return found;
}

[[gnu::noinline]] std::size_t raw_torrent_get_loop(RawTorrentReader& reader,
                                                   const std::vector<std::string>& hashes) {
  std::size_t found = 0;
  for (const std::string& h : hashes) {
    const auto t = reader.get(h);
    found += t && t->metainfo.size() == kMetainfoBytes ? 1 : 0;
  }
  return found;
}

}  // namespace

void Bench::check_same_table(const std::string& what, const char* table, const char* bytes_sql,
                             const fs::path& cairn, const fs::path& raw) {
  if (!config_.runs_cairn() || !config_.runs_raw()) return;
  const TableCheck c = raw_table_check(cairn, table, bytes_sql);
  const TableCheck r = raw_table_check(raw, table, bytes_sql);
  auto as_json = [&](const TableCheck& w) {
    return nlohmann::json{{"rows", w.rows},
                          {"row_bytes", w.row_bytes},
                          {"change_log", w.changes},
                          {"revision", w.revision},
                          {"image_bytes", w.image_bytes}};
  };
  setup_["work_checks"][what] = {{"same", c == r}, {"cairn", as_json(c)}, {"raw", as_json(r)}};
  if (c == r) {
    progress(
        fmt::format("{}: same rows and bytes on both sides ({} {} rows, {} change-log rows, "
                    "revision {})",
                    what, c.rows, table, c.changes, c.revision));
  } else {
    same_work_ = false;
    progress(fmt::format("{}: WORK DIFFERS: cairn {}, raw {}", what, as_json(c).dump(),
                         as_json(r).dump()));
  }
}

const Bench::Dataset& Bench::kv_dataset() {
  if (kv_dataset_) return *kv_dataset_;
  Dataset d;
  d.apps = config_.kv_entries;
  d.cairn = config_.dir / fmt::format("kv-{}.cairn.db", d.apps);
  d.raw = config_.dir / fmt::format("kv-{}.raw.db", d.apps);
  const std::int64_t batch = config_.build_batch;
  nlohmann::json info = {{"kv_entries", d.apps}, {"entries_per_transaction", batch}};
  if (config_.runs_cairn()) {
    const double s = seconds_of([&] {
      cairn::Registry reg = cairn::Registry::open(d.cairn);
      cairn::KvStore store = reg.kv(kKvNamespace);
      for (std::int64_t first = 0; first < d.apps; first += batch) {
        const auto w =
            kv_writes("", first, std::min(batch, d.apps - first), config_.kv_prefix_keys);
        store.put_many(kv_items(w, 0, w.size()));
      }
    });
    info["cairn_seconds"] = s;
    progress(fmt::format("built {} kv entries through cairn in {:.1f} s", d.apps, s));
  }
  if (config_.runs_raw()) {
    const double s = seconds_of([&] {
      raw_create_registry(d.raw, raw_schema());
      RawKvWriter writer(d.raw, true);
      for (std::int64_t first = 0; first < d.apps; first += batch) {
        const auto w =
            kv_writes("", first, std::min(batch, d.apps - first), config_.kv_prefix_keys);
        writer.begin();
        for (const KvWrite& x : w) writer.put_in_transaction(kKvNamespace, x.key, x.value);
        writer.commit();
      }
    });
    info["raw_seconds"] = s;
    progress(fmt::format("built {} kv entries through raw sqlite3 in {:.1f} s", d.apps, s));
  }
  setup_["datasets"].push_back(info);
  check_same_table(fmt::format("namespace of {} kv entries", d.apps), "kv_entries", kKvBytes,
                   d.cairn, d.raw);
  kv_dataset_ = d;
  return *kv_dataset_;
}

const Bench::Dataset& Bench::torrent_dataset() {
  if (torrent_dataset_) return *torrent_dataset_;
  Dataset d;
  d.apps = config_.torrents;
  d.cairn = config_.dir / fmt::format("torrents-{}.cairn.db", d.apps);
  d.raw = config_.dir / fmt::format("torrents-{}.raw.db", d.apps);
  nlohmann::json info = {
      {"torrents", d.apps}, {"metainfo_bytes", kMetainfoBytes}, {"pieces_bytes", kPiecesBytes}};
  if (config_.runs_cairn()) {
    auto torrents = cairn_torrents(d.apps, 0);
    cairn::Registry reg = cairn::Registry::open(d.cairn);
    const double s = seconds_of([&] { (void)reg.torrents().save_all(std::move(torrents)); });
    info["cairn_first_save_all_seconds"] = s;
    progress(fmt::format("first save_all of {} torrents through cairn: {:.1f} s", d.apps, s));
  }
  if (config_.runs_raw()) {
    raw_create_registry(d.raw, raw_schema());
    const auto torrents = raw_torrents(d.apps, 0);
    RawTorrentWriter writer(d.raw, true);
    const double s = seconds_of([&] { writer.save_all(torrents); });
    info["raw_first_save_all_seconds"] = s;
    progress(fmt::format("first save_all of {} torrents through raw sqlite3: {:.1f} s", d.apps, s));
  }
  setup_["datasets"].push_back(info);
  check_same_table(fmt::format("{} torrents", d.apps), "torrents", kTorrentBytes, d.cairn, d.raw);
  torrent_dataset_ = d;
  return *torrent_dataset_;
}

// KV 1. One 100-byte value per put, one transaction each, new keys.
void Bench::kv_put_single(bool synchronous_full) {
  const char* mode = synchronous_full ? "FULL" : "NORMAL";
  progress(fmt::format("kv put, 1 entry per transaction, synchronous {}", mode));
  const std::int64_t n = synchronous_full ? config_.put_full_ops : config_.put_normal_ops;
  const fs::path cairn_path = config_.dir / fmt::format("kv-put-{}.cairn.db", mode);
  const fs::path raw_path = config_.dir / fmt::format("kv-put-{}.raw.db", mode);
  Row row{.operation = fmt::format("kv put, {} B value, 1/tx, synchronous {}", kKvValueBytes, mode),
          .unit = "ops/s"};
  {
    std::optional<cairn::Registry> reg;
    std::optional<cairn::KvStore> store;
    std::optional<RawKvWriter> writer;
    if (config_.runs_cairn()) {
      reg.emplace(cairn::Registry::open(
          cairn_path,
          cairn::Options{.synchronous = synchronous_full ? cairn::Synchronous::full
                                                         : cairn::Synchronous::normal}));
      store.emplace(reg->kv(kKvNamespace));
    }
    if (config_.runs_raw()) {
      raw_create_registry(raw_path, raw_schema());
      writer.emplace(raw_path, synchronous_full);
    }
    measure(
        row, config_.rounds,
        [&](int round) {
          const auto w = kv_writes("put", round * n, n, config_.kv_prefix_keys);
          return static_cast<double>(n) / seconds_of([&] { cairn_kv_put_loop(*store, w); });
        },
        [&](int round) {
          const auto w = kv_writes("put", round * n, n, config_.kv_prefix_keys);
          return static_cast<double>(n) / seconds_of([&] { raw_kv_put_loop(*writer, w); });
        });
  }
  row.note = fmt::format("{} new keys per round, {} rounds, one namespace, empty at start", n,
                         config_.rounds);
  check_same_table(row.operation, "kv_entries", kKvBytes, cairn_path, raw_path);
  rows_.push_back(std::move(row));
}

// KV 2. put_many of batch_size entries, one transaction each.
void Bench::kv_put_many() {
  progress(fmt::format("kv put_many, {} entries per call", config_.batch_size));
  const std::int64_t n = config_.batch_size * config_.batches_per_round;
  const auto batch = static_cast<std::size_t>(config_.batch_size);
  const fs::path cairn_path = config_.dir / "kv-put-many.cairn.db";
  const fs::path raw_path = config_.dir / "kv-put-many.raw.db";
  Row row{.operation = fmt::format("kv put_many, {}/call (entries/s)", config_.batch_size),
          .unit = "ops/s"};
  {
    std::optional<cairn::Registry> reg;
    std::optional<cairn::KvStore> store;
    std::optional<RawKvWriter> writer;
    if (config_.runs_cairn()) {
      reg.emplace(cairn::Registry::open(cairn_path));
      store.emplace(reg->kv(kKvNamespace));
    }
    if (config_.runs_raw()) {
      raw_create_registry(raw_path, raw_schema());
      writer.emplace(raw_path, true);
    }
    measure(
        row, config_.rounds,
        [&](int round) {
          const auto w = kv_writes("many", round * n, n, config_.kv_prefix_keys);
          std::vector<std::vector<cairn::KvItem>> batches;
          for (std::size_t first = 0; first < w.size(); first += batch) {
            batches.push_back(kv_items(w, first, std::min(w.size(), first + batch)));
          }
          return static_cast<double>(n) /
                 seconds_of([&] { cairn_kv_put_many_loop(*store, batches); });
        },
        [&](int round) {
          const auto w = kv_writes("many", round * n, n, config_.kv_prefix_keys);
          return static_cast<double>(n) /
                 seconds_of([&] { raw_kv_put_many_loop(*writer, w, batch); });
        });
  }
  row.note = fmt::format("{} calls of {} new {}-byte entries per round, synchronous FULL",
                         config_.batches_per_round, config_.batch_size, kKvValueBytes);
  check_same_table(row.operation, "kv_entries", kKvBytes, cairn_path, raw_path);
  rows_.push_back(std::move(row));
}

// KV 3. get of random keys of a namespace of kv_entries.
void Bench::kv_get() {
  const Dataset& d = kv_dataset();
  progress(fmt::format("kv get over {} entries, random keys", d.apps));
  const auto n = static_cast<std::size_t>(config_.kv_get_ops);
  std::mt19937_64 rng(config_.seed + 200);
  std::uniform_int_distribution<std::int64_t> pick(0, d.apps - 1);
  std::vector<std::vector<std::string>> keys(static_cast<std::size_t>(config_.rounds) + 1);
  for (auto& round_keys : keys) {
    round_keys.reserve(n);
    for (std::size_t k = 0; k < n; ++k) {
      round_keys.push_back(kv_key("", pick(rng), config_.kv_prefix_keys));
    }
  }
  Row row{.operation = fmt::format("kv get, {} entries, random", count_label(d.apps)),
          .unit = "ops/s"};
  {
    std::optional<cairn::Registry> reg;
    std::optional<cairn::KvStore> store;
    std::optional<RawKvReader> reader;
    if (config_.runs_cairn()) {
      reg.emplace(cairn::Registry::open(d.cairn));
      store.emplace(reg->kv(kKvNamespace));
    }
    if (config_.runs_raw()) reader.emplace(d.raw);
    measure(
        row, config_.rounds,
        [&](int round) {
          const auto& k = keys[static_cast<std::size_t>(round)];
          std::size_t found = 0;
          const double s = seconds_of([&] { found = cairn_kv_get_loop(*store, k); });
          expect_count("cairn kv get", found, n);
          return static_cast<double>(n) / s;
        },
        [&](int round) {
          const auto& k = keys[static_cast<std::size_t>(round)];
          std::size_t found = 0;
          const double s = seconds_of([&] { found = raw_kv_get_loop(*reader, k); });
          expect_count("raw kv get", found, n);
          return static_cast<double>(n) / s;
        });
  }
  row.note = fmt::format("{} gets per round of {}-byte values, keys drawn with seed {}", n,
                         kKvValueBytes, config_.seed + 200);
  rows_.push_back(std::move(row));
}

// KV 4. Paging through whole prefixes of kv_prefix_keys keys.
void Bench::kv_list_prefix() {
  const Dataset& d = kv_dataset();
  const auto page = static_cast<std::size_t>(config_.kv_page);
  progress(
      fmt::format("kv list, prefixes of {} keys in pages of {}", config_.kv_prefix_keys, page));
  const std::int64_t buckets = std::max<std::int64_t>(1, d.apps / config_.kv_prefix_keys);
  std::mt19937_64 rng(config_.seed + 300);
  std::uniform_int_distribution<std::int64_t> pick(0, buckets - 1);
  std::vector<std::vector<std::string>> prefixes(static_cast<std::size_t>(config_.rounds) + 1);
  for (auto& p : prefixes) {
    for (std::int64_t k = 0; k < config_.kv_prefixes_listed; ++k) p.push_back(kv_prefix(pick(rng)));
  }
  const auto entries_per_round =
      static_cast<std::size_t>(config_.kv_prefixes_listed * config_.kv_prefix_keys);
  Row row{.operation = fmt::format("kv list, {}-key prefix, pages of {} (pages/s)",
                                   count_label(config_.kv_prefix_keys), page),
          .unit = "ops/s"};
  std::size_t pages_per_round = 0;
  {
    std::optional<cairn::Registry> reg;
    std::optional<cairn::KvStore> store;
    std::optional<RawKvReader> reader;
    if (config_.runs_cairn()) {
      reg.emplace(cairn::Registry::open(d.cairn));
      store.emplace(reg->kv(kKvNamespace));
    }
    if (config_.runs_raw()) reader.emplace(d.raw);
    measure(
        row, config_.rounds,
        [&](int round) {
          std::pair<std::size_t, std::size_t> got;
          const double s = seconds_of([&] {
            got = cairn_kv_list_loop(*store, prefixes[static_cast<std::size_t>(round)], page);
          });
          expect_count("cairn kv list", got.second, entries_per_round);
          pages_per_round = got.first;
          return static_cast<double>(got.first) / s;
        },
        [&](int round) {
          std::pair<std::size_t, std::size_t> got;
          const double s = seconds_of([&] {
            got = raw_kv_list_loop(*reader, prefixes[static_cast<std::size_t>(round)], page);
          });
          expect_count("raw kv list", got.second, entries_per_round);
          pages_per_round = got.first;
          return static_cast<double>(got.first) / s;
        });
  }
  row.note = fmt::format(
      "{} random prefixes paged through per round ({} list calls, {} entries), namespace of {}",
      config_.kv_prefixes_listed, pages_per_round, entries_per_round, d.apps);
  rows_.push_back(std::move(row));
}

// Torrents 1. save_all of every torrent, again and again: go-i2p-bt saves
// its torrents' state periodically, so after the first save (the dataset)
// every save updates each torrent (counters, last activity).
void Bench::torrent_save_all() {
  const Dataset& d = torrent_dataset();
  progress(fmt::format("torrent save_all of {} torrents", d.apps));
  Row row{
      .operation = fmt::format("torrent save_all, {} torrents (torrents/s)", count_label(d.apps)),
      .unit = "ops/s"};
  {
    std::optional<cairn::Registry> reg;
    std::optional<RawTorrentWriter> writer;
    if (config_.runs_cairn()) reg.emplace(cairn::Registry::open(d.cairn));
    if (config_.runs_raw()) writer.emplace(d.raw, true);
    measure(
        row, config_.torrent_rounds,
        [&](int round) {
          auto torrents = cairn_torrents(d.apps, round + 1);
          std::vector<cairn::Torrent> stored;
          const double s =
              seconds_of([&] { stored = reg->torrents().save_all(std::move(torrents)); });
          expect_count("cairn save_all", stored.size(), static_cast<std::size_t>(d.apps));
          return static_cast<double>(d.apps) / s;
        },
        [&](int round) {
          const auto torrents = raw_torrents(d.apps, round + 1);
          const double s = seconds_of([&] { writer->save_all(torrents); });
          return static_cast<double>(d.apps) / s;
        });
  }
  row.note = fmt::format(
      "each round re-saves all {} torrents in one call ({} KB metainfo, {} KB pieces each: about "
      "{} MB), synchronous FULL; {} rounds; the first save_all (the dataset) is in \"setup\"",
      d.apps, kMetainfoBytes / 1024, kPiecesBytes / 1024,
      d.apps * static_cast<std::int64_t>(kMetainfoBytes + kPiecesBytes) >> 20,
      config_.torrent_rounds);
  check_same_table(row.operation, "torrents", kTorrentBytes, d.cairn, d.raw);
  rows_.push_back(std::move(row));
}

// Torrents 2. get of random torrents (the whole record, metainfo included).
void Bench::torrent_get() {
  const Dataset& d = torrent_dataset();
  progress(fmt::format("torrent get over {} torrents, random", d.apps));
  const auto n = static_cast<std::size_t>(config_.torrent_get_ops);
  std::mt19937_64 rng(config_.seed + 400);
  std::uniform_int_distribution<std::int64_t> pick(0, d.apps - 1);
  std::vector<std::vector<std::string>> hashes(static_cast<std::size_t>(config_.rounds) + 1);
  for (auto& h : hashes) {
    for (std::size_t k = 0; k < n; ++k) h.push_back(torrent_hash(pick(rng)));
  }
  Row row{.operation = fmt::format("torrent get, {} torrents, random", count_label(d.apps)),
          .unit = "ops/s"};
  {
    std::optional<cairn::Registry> reg;
    std::optional<cairn::TorrentStore> store;
    std::optional<RawTorrentReader> reader;
    if (config_.runs_cairn()) {
      reg.emplace(cairn::Registry::open(d.cairn));
      store.emplace(reg->torrents());
    }
    if (config_.runs_raw()) reader.emplace(d.raw);
    measure(
        row, config_.rounds,
        [&](int round) {
          std::size_t found = 0;
          const double s = seconds_of([&] {
            found = cairn_torrent_get_loop(*store, hashes[static_cast<std::size_t>(round)]);
          });
          expect_count("cairn torrent get", found, n);
          return static_cast<double>(n) / s;
        },
        [&](int round) {
          std::size_t found = 0;
          const double s = seconds_of([&] {
            found = raw_torrent_get_loop(*reader, hashes[static_cast<std::size_t>(round)]);
          });
          expect_count("raw torrent get", found, n);
          return static_cast<double>(n) / s;
        });
  }
  row.note = fmt::format("{} gets per round; each returns the whole torrent ({} KB metainfo)", n,
                         kMetainfoBytes / 1024);
  rows_.push_back(std::move(row));
}

}  // namespace cairn_bench
