// Options for opening a registry. Plain structs: every field has its default
// written inline, with the reason for it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

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
  // SQLite's 2 MiB default, lookups in a large registry go to the disk.
  // Default: 64 MiB.
  std::int64_t cache_size_kib = 64 * 1024;

  // Bytes of the file mapped into memory for reads. Default: 256 MiB.
  std::int64_t mmap_size = 256ll << 20;

  // The WAL is truncated back to this size after a checkpoint. Default: 64 MiB.
  std::int64_t journal_size_limit = 64ll << 20;

  // Read-only connections kept for reads outside a transaction. Reads beyond
  // this many at once wait for a free one. Default: 4.
  int read_connections = 4;

  // Free-form JSON fields (meta, config, permissions, values): the largest
  // serialized size and the deepest nesting accepted. Default: 64 KiB, 32.
  std::size_t max_json_bytes = 64 * 1024;
  int max_json_depth = 32;

  // Apply pending migrations when the registry is opened. When false, opening
  // a registry whose schema is behind fails with errc::migration_failed.
  // Default: true.
  bool migrate_on_open = true;

  // Who made the changes, as recorded in every change-log row and event.
  // Default: "cairn".
  std::string actor = "cairn";

  // The clock for timestamps (ms since the epoch). Tests set it to control
  // time. Default (empty): the system clock.
  std::function<Timestamp()> clock;
};

}  // namespace cairn
