// Database: the connections of one registry. One writer connection, guarded
// by the writer mutex, and a small pool of read-only connections for reads
// outside a transaction (WAL lets them run while the writer writes).
//
// In memory, a plain ":memory:" database is private to its connection, so an
// in-memory Database has only the writer: reads lease it under the writer
// mutex. (A shared-cache in-memory database would let readers run, but its
// table locks make readers fail with SQLITE_LOCKED while a write is open.)
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "cairn/options.h"
#include "db/connection.h"

namespace cairn::db {

class Database {
 public:
  // Opens `path`, creating it (0600, parent directories 0700) when missing.
  // Refuses, before SQLite reads it, anything that is not a regular file or
  // not a SQLite file. Writes nothing: call configure() once the caller has
  // accepted the file.
  static std::unique_ptr<Database> open_file(const std::filesystem::path& path,
                                             const Options& options);
  static std::unique_ptr<Database> open_memory(const Options& options);

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Sets the pragmas of DESIGN section 7 on the writer (WAL, synchronous,
  // foreign keys, cache, mmap, journal size limit, trusted_schema).
  void configure();

  bool in_memory() const noexcept { return in_memory_; }
  const std::filesystem::path& path() const noexcept { return path_; }

  // Replaces the writer connection with a fresh one (a durable file only):
  // after an I/O error, and above all a failed fsync, the old connection's
  // view of the file cannot be trusted (SQLite's pager may believe pages are
  // written that are not). The caller holds writer_mutex() and no
  // transaction is open. Counts in writer_reopens().
  void reopen_writer();
  std::int64_t writer_reopens() const noexcept { return writer_reopens_; }

  // ---- The WAL bound ----
  // Only the writer checkpoints (Debian's SQLite 3.40 is inside the range of
  // SQLite's WAL-reset bug, and one checkpointer avoids it). A hook on the
  // writer runs SQLite's usual passive checkpoint every 1000 pages, and
  // notes when the WAL has grown past Options::journal_size_limit: a reader
  // held an old snapshot, so checkpoints could not catch up.
  bool wal_over_bound() const noexcept { return wal_over_bound_.load(); }
  // Called (on the committing thread, holding the writer) when the WAL first
  // grows past the bound. Set before any write.
  std::function<void()> on_wal_over_bound;
  // A TRUNCATE checkpoint that does not wait for readers: true when the WAL
  // is now empty. The caller holds writer_mutex() and no transaction is open.
  bool checkpoint_truncate();
  // Notes a WAL file size seen from outside the hook (at open, in stats()):
  // another process, or a registry closed while a reader held a snapshot,
  // may have left the WAL past the bound.
  void note_wal_size(std::int64_t bytes);

  // The writer connection. The caller holds writer_mutex().
  Connection& writer() noexcept { return *writer_; }
  std::mutex& writer_mutex() noexcept { return writer_mutex_; }

  // A connection for reading, returned to the pool when the lease ends.
  class ReadLease {
   public:
    ReadLease(ReadLease&& other) noexcept;
    ReadLease& operator=(ReadLease&&) = delete;
    ~ReadLease();
    Connection& operator*() const noexcept { return *conn_; }
    Connection* operator->() const noexcept { return conn_; }

   private:
    friend class Database;
    ReadLease(Database* db, Connection* conn) : db_(db), conn_(conn) {}
    Database* db_;
    Connection* conn_;
  };
  ReadLease lease_reader();

  // Prepared statements cached over all connections. Any thread; never
  // waits for the writer.
  std::size_t statements_cached();

 private:
  Database(std::filesystem::path path, bool in_memory, const Options& options);
  std::unique_ptr<Connection> open_reader();
  void release(Connection* conn) noexcept;

  std::filesystem::path path_;
  bool in_memory_;
  Options options_;

  std::mutex writer_mutex_;
  std::unique_ptr<Connection> writer_;
  std::int64_t writer_reopens_ = 0;
  std::int64_t page_size_ = 4096;
  std::atomic<bool> wal_over_bound_{false};

  static int on_wal_commit(void* self, sqlite3* db, const char* name, int pages);

  // Guards the pool, and writer_ against replacement by reopen_writer() for
  // statements_cached() (lock order: the writer mutex, then this one).
  std::mutex readers_mutex_;
  std::condition_variable reader_free_;
  std::vector<std::unique_ptr<Connection>> readers_;  // every reader opened
  std::vector<Connection*> idle_;                      // those not leased
};

}  // namespace cairn::db
