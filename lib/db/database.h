// Database: the connections of one registry. One writer connection, guarded
// by the writer mutex, and a small pool of read-only connections for reads
// outside a transaction (WAL lets them run while the writer writes).
//
// In memory, a plain ":memory:" database is private to its connection, so an
// in-memory Database has only the writer: reads lease it under the writer
// mutex. (A shared-cache in-memory database would let readers run, but its
// table locks make readers fail with SQLITE_LOCKED while a write is open.)
#pragma once

#include <condition_variable>
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

  // Prepared statements cached over all connections.
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

  std::mutex readers_mutex_;
  std::condition_variable reader_free_;
  std::vector<std::unique_ptr<Connection>> readers_;  // every reader opened
  std::vector<Connection*> idle_;                      // those not leased
};

}  // namespace cairn::db
