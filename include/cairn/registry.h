// Registry: the entry point. It owns the database connections, the stores'
// shared state and (later) the event bus.
//
// Ownership: a Registry is a movable value; stores and transactions obtained
// from it hold a pointer to its implementation and must not outlive it.
// Threads: every member may be called from any thread. Writes are serialized
// by one writer mutex; reads outside a transaction use read-only connections
// and do not wait for the writer (in a durable registry).
// Errors: every failure throws cairn::Error (error.h). Destructors never throw.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "cairn/backup.h"
#include "cairn/events.h"
#include "cairn/options.h"
#include "cairn/records.h"
#include "cairn/stats.h"
#include "cairn/stores.h"
#include "cairn/transfer.h"
#include "cairn/tx.h"
#include "cairn/version.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

CAIRN_DETAIL_BEGIN
namespace detail {
class RegistryImpl;
}  // namespace detail
CAIRN_DETAIL_END

class Registry {
 public:
  // Opens (creating if missing) a durable registry file in WAL mode, and
  // applies pending migrations unless options.migrate_on_open is false.
  // Missing directories are created 0700; the database, -wal and -shm 0600.
  // Refused, with nothing written: a file that is not SQLite
  // (errc::not_a_registry), a SQLite file of another application
  // (not_a_registry), a newer schema (schema_too_new), an applied migration
  // that differs (migration_checksum).
  static Registry open(const std::filesystem::path& path, const Options& options = {});

  // The whole registry in memory: same API, no durability. Reads share the
  // writer connection, so they wait for a running transaction.
  static Registry open_in_memory(const Options& options = {});

  Registry(Registry&&) noexcept;
  Registry& operator=(Registry&&) noexcept;
  ~Registry();

  AppStore apps();
  PoolStore pools();
  MemoryBlockStore blocks();
  ConfigStore config();
  TorrentStore torrents();
  TorrentSessionStore torrent_session();
  // The namespace's entries; the name follows the key rules (records.h).
  KvStore kv(std::string_view name_space);
  // In memory only; not part of transactions (see TriggerStore).
  TriggerStore triggers();

  // Opens a write transaction on this thread (BEGIN IMMEDIATE), or a
  // savepoint when this thread already has one.
  Tx begin();

  // Runs fn(tx) in a transaction: commit when it returns, roll back when it
  // throws (the exception propagates). Returns what fn returns.
  template <class Fn>
  auto transact(Fn&& fn) {
    Tx tx = begin();
    if constexpr (std::is_void_v<std::invoke_result_t<Fn&, Tx&>>) {
      fn(tx);
      tx.commit();
    } else {
      auto result = fn(tx);
      tx.commit();
      return result;
    }
  }

  // The revision of the last committed write (0 for an empty registry).
  Revision revision() const;
  int schema_version() const;
  Stats stats() const;

  // The change log from revision `from` (inclusive), oldest first, at most
  // `limit` events (0: no limit).
  std::vector<Event> changes(Revision from, std::size_t limit = 0) const;

  // Delivers committed events to `handler` (see events.h), including writes
  // of other processes on the same file. Throws errc::compacted when
  // options.from is older than the retained change log, naming the oldest
  // revision kept; errc::already_exists when a live subscription has the
  // same name.
  Subscription subscribe(const Filter& filter, Handler handler,
                         const SubscribeOptions& options = {});

  // Blocks until every subscriber has handled `revision` (or the timeout
  // passes: returns false). Must not be called from a handler.
  bool wait_for(Revision revision,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // Applies change-log retention now (it also runs in the background while
  // anyone is subscribed). Returns the number of change-log rows removed.
  std::size_t compact_change_log();

  // Writes a consistent online backup to `dest` (a file path; its directory
  // is created 0700 if missing) while writers go on: a temp file (0600) in
  // the same directory, fsynced and checked with quick_check, then the
  // manifest, then an atomic rename and a directory fsync. Publishes
  // backup.created. Throws errc::backup_failed.
  BackupInfo backup(const std::filesystem::path& dest, const BackupOptions& options = {});

  // Replaces this registry's content with a verified backup, through its own
  // connection (other connections see the new content at once), keeping
  // revisions increasing. Publishes registry.restored: subscribers should
  // re-read what they cache. Throws errc::restore_refused.
  void restore_from(const std::filesystem::path& backup);

  // Writes every durable record (apps, pools, memory blocks, config, the
  // torrent session, torrents, KV entries; or only options.kinds) as JSON
  // Lines: a header line, then one {"kind": ..., "record": ...} per line,
  // in a fixed order and ordered by key, without revisions. Expired KV
  // entries are left out. Returns the number of records written.
  std::size_t export_records(std::ostream& out, const ExportOptions& options = {}) const;
  // Reads what export_records wrote and writes it in one transaction: all or
  // nothing. Records keep their timestamps and versions and replace records
  // with the same key. A bad line fails with errc::invalid_argument whose
  // message starts with "line N:".
  ImportResult import_records(std::istream& in);
  // The same, reporting progress through options.progress.
  ImportResult import_records(std::istream& in, const ImportOptions& options);
  // PRAGMA integrity_check: {"ok"} when the file is sound, else the problems.
  std::vector<std::string> integrity_check() const;

  const std::filesystem::path& path() const;

  // Closes the connections. Later calls fail with errc::closed. Idempotent;
  // the destructor does it too.
  void close() noexcept;

 private:
  CAIRN_HIDDEN explicit Registry(std::unique_ptr<detail::RegistryImpl> impl);
  std::unique_ptr<detail::RegistryImpl> impl_;
};

}  // namespace cairn
CAIRN_API_END
