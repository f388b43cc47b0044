// Options for opening a registry. Plain structs: every field has its default
// written inline, with the reason for it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

// Milliseconds since the Unix epoch, UTC.
using Timestamp = std::int64_t;

enum class Synchronous {
  // fsync the WAL on every commit: a committed write survives power loss.
  full,
  // fsync only at checkpoints: may lose the last commits on power loss,
  // never on a process crash. Several times faster for single-record writes.
  normal,
};

struct Options {
  // Durability of each commit. Default: full, because a registry is the
  // source of truth for the server that links it.
  Synchronous synchronous = Synchronous::full;

  // How long a writer waits for another process's write lock before the call
  // fails with errc::busy. Default: 5000 ms.
  int busy_timeout_ms = 5000;

  // Page cache per connection, in KiB. Metadata is read at random by key; with
  // SQLite's 2 MiB default, lookups in a large registry go to the disk. Each
  // connection (the writer and every reader) fills its own, up to this size,
  // as it reads: with no mmap, a registry much larger than this can hold that
  // much memory per connection. Default: 64 MiB.
  std::int64_t cache_size_kib = 64 * 1024;

  // Bytes of the file mapped into memory for reads. Default: 0 (reads go
  // through the page cache). SQLite unmaps the whole mapping whenever a read
  // transaction sees another connection's commit, so with a writer committing
  // hundreds of times a second every reader pays a munmap, page faults and
  // TLB shootdowns: measured, readers with a writer fell to 0.35 of their
  // speed alone with 256 MiB mapped and kept 0.84 with none (bench
  // `concurrent`), while gets alone were no slower. Worth setting for a
  // read-mostly registry larger than the page cache: mapped pages are shared
  // with the OS's file cache instead of copied into each connection's.
  std::int64_t mmap_size = 0;

  // The bound on the WAL file. Checkpoints keep it below this size; when a
  // long-lived reader holds an old snapshot the WAL grows past it, stats()
  // warns, and once the reader lets go a background checkpoint truncates it
  // within checkpoint_interval_ms. Default: 64 MiB.
  std::int64_t journal_size_limit = 64ll << 20;
  // How often the background thread retries that checkpoint while the WAL is
  // over the bound. Default: 1000 ms.
  int checkpoint_interval_ms = 1000;

  // Read-only connections kept for reads outside a transaction. Reads beyond
  // this many at once wait for a free one. Default: 4.
  int read_connections = 4;

  // Free-form JSON fields (meta, config, permissions, values): the largest
  // serialized size and the deepest nesting accepted. Default: 64 KiB, 32.
  std::size_t max_json_bytes = 64 * 1024;
  int max_json_depth = 32;

  // The largest KV value accepted, in bytes. Values are read and written
  // whole, and each write's event carries the value. Default: 1 MiB.
  std::size_t max_kv_value_bytes = 1u << 20;

  // How often expired KV entries and triggers are purged in the background
  // (each with its expired event), once any were written with a TTL. Reads
  // never return them even before. Default: 1000 ms.
  int purge_interval_ms = 1000;

  // A trigger created without a TTL lives this long. Default: 60 s.
  std::int64_t trigger_default_ttl_ms = 60'000;

  // Live triggers held in memory at most; creating one more fails with
  // errc::constraint. Default: 100,000.
  std::size_t max_triggers = 100'000;

  // Open for reading only: nothing is ever written to the file or beside it
  // by this registry (no migration, no journal mode change, no checkpoint,
  // no purge, no retention, no stored subscription position). Refuses a
  // missing or empty file (errc::not_found) and a registry whose schema is
  // behind this library's (errc::migration_failed, naming both versions).
  // Every write fails with errc::read_only. For inspection: the CLI opens
  // this way for get, ls, stats, check, export and watch, so that looking at
  // a backup leaves its SHA-256 as it was. Default: false.
  bool read_only = false;

  // Create the registry when the file is missing (or empty). When false,
  // opening a missing or empty file fails with errc::not_found. Default: true.
  bool create_if_missing = true;

  // Apply pending migrations when the registry is opened. When false, opening
  // a registry whose schema is behind fails with errc::migration_failed.
  // Default: true.
  bool migrate_on_open = true;

  // Before migrating a registry that has data, back it up beside the file as
  // <db>.pre-migrate-v<from>-<time>.db. Default: true.
  bool backup_before_migrate = true;

  // Who made the changes, as recorded in every change-log row and event.
  // Default: "cairn".
  std::string actor = "cairn";

  // The clock for timestamps (ms since the epoch). Tests set it to control
  // time. Default (empty): the system clock.
  std::function<Timestamp()> clock{};

  // Where the registry reports what it cannot throw (a subscriber's handler
  // that threw, a background task that failed). Default (empty): stderr.
  std::function<void(std::string_view message)> log{};

  // ---- Change log and events ----

  // The change log keeps at most this many revisions... Default: 100,000.
  std::int64_t change_log_max_revisions = 100'000;
  // ...and none older than this. Default: 7 days.
  std::int64_t change_log_max_age_ms = 7ll * 24 * 3600 * 1000;
  // Retention never removes what a named subscription has not acknowledged,
  // unless it lags more than this many revisions behind: it is then told to
  // resync. Default: 1,000,000.
  std::int64_t subscription_max_lag = 1'000'000;
  // How often retention runs, while anyone is subscribed. Default: 60 s.
  int retention_interval_ms = 60'000;
  // How often the registry looks for writes of other processes (PRAGMA
  // data_version), while anyone is subscribed. Default: 50 ms.
  int watch_interval_ms = 50;

  // ---- Scheduled backups (LatZero's backupInterval / maxBackups) ----

  // When both are set, a background thread writes
  // <backup_dir>/<backup_name>-<UTC time>.db every backup_interval_ms and
  // keeps the newest max_backups that verify. Default: off.
  std::string backup_dir{};
  std::int64_t backup_interval_ms = 0;
  std::size_t max_backups = 5;
  std::string backup_name = "registry";
};

}  // namespace cairn
CAIRN_API_END
