// One SQLite connection with its cache of prepared statements.
//
// Threads: a Connection is used by one thread at a time; the Database hands
// it out under a lock (the writer mutex, or a reader lease). Errors: every
// failed call throws cairn::Error through db/error_map.h.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cairn::db {

// The name handed to sqlite3_open_v2 for `path`, read as a plain file name.
std::string sqlite_filename(const std::filesystem::path& path);
// A SQLite URI naming exactly `path` (every metacharacter percent-encoded),
// with `query` ("mode=ro&immutable=1") after it.
std::string sqlite_uri(const std::filesystem::path& path, std::string_view query);

// A prepared statement borrowed from a Connection's cache. Destroying it
// resets the statement and clears its bindings, so the cache can hand it out
// again. Bound text and blobs are copied (SQLITE_TRANSIENT): binding a
// temporary is safe (bind_blob_borrowed is the one exception).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind_int(int index, std::int64_t value);
  Statement& bind_text(int index, std::string_view value);
  Statement& bind_blob(int index, const void* data, std::size_t size);
  // Binds a blob without copying it (SQLITE_STATIC), for the large values of
  // a record (a torrent's metainfo, a KV value): the caller keeps the bytes
  // alive and unchanged until this statement has run.
  Statement& bind_blob_borrowed(int index, const void* data, std::size_t size);
  Statement& bind_null(int index);

  // Advances to the next row: true when there is one, false when done.
  bool step();
  // Runs a statement that returns no rows (INSERT, UPDATE, DELETE...).
  void run();

  bool is_null(int column) const;
  std::int64_t column_int(int column) const;
  // Valid until the next step() or the statement's destruction.
  std::string_view column_text(int column) const;
  std::string_view column_blob(int column) const;

 private:
  friend class Connection;
  Statement(sqlite3_stmt* stmt, sqlite3* db, bool* in_use, bool owned)
      : stmt_(stmt), db_(db), in_use_(in_use), owned_(owned) {}
  void check_bind(int rc, int index);

  sqlite3_stmt* stmt_;
  sqlite3* db_;
  bool* in_use_;  // the cache's flag for this statement; null when owned
  bool owned_;    // prepared outside the cache (the cached one was busy)
};

class Connection {
 public:
  enum class Mode {
    read_write,
    read_write_create,
    read_only,
    // Read-only, and the file is taken to be one that nothing changes (a
    // backup): no locks, and no -wal, -shm or -journal is read or created.
    read_only_immutable,
  };

  // Opens the file at `path`, whatever bytes its name holds: the name is
  // never read as a SQLite URI ("file:x?y" is the file of that name), and
  // ":memory:" is a file in the working directory (memory() is the in-memory
  // database). Every connection runs with SQLITE_DBCONFIG_DEFENSIVE and
  // trusted_schema off. Throws Error on failure.
  Connection(const std::filesystem::path& path, Mode mode, int busy_timeout_ms);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // A private in-memory database.
  static std::unique_ptr<Connection> memory(int busy_timeout_ms = 0);
  // Runs one or more statements without results (DDL, pragmas, BEGIN...).
  void exec(std::string_view sql);

  // The cached prepared statement for `sql`. `sql` must have static storage
  // (one of our constants): the cache is keyed by its address. If the cached
  // statement is in use (a nested query of the same SQL), a fresh one is
  // prepared for this use.
  Statement prepare(const char* sql);

  // A pragma or query that returns one integer (e.g. "PRAGMA user_version").
  std::int64_t query_int(const char* sql);
  // A statement built at run time (it names a table, say): compiled for one
  // use, not cached.
  Statement prepare_once(const std::string& sql);
  // Runs `sql` and reports whether it succeeded, never throwing: for ending a
  // transaction while an error is already on its way out.
  bool try_exec(const char* sql) noexcept;
  // Rows changed by the last INSERT, UPDATE or DELETE on this connection.
  std::int64_t changes() const noexcept;
  // Whether a transaction is open (BEGIN without COMMIT or ROLLBACK yet).
  bool in_transaction() const noexcept;

  // The file, as opened (empty for memory()), and the busy timeout it waits.
  const std::filesystem::path& path() const noexcept { return path_; }
  int busy_timeout_ms() const noexcept { return busy_timeout_ms_; }

  sqlite3* handle() const noexcept { return db_.get(); }
  // Safe to call from any thread (stats).
  std::size_t statements_cached() const noexcept { return cached_count_.load(); }

 private:
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };

  struct InMemory {};
  Connection(InMemory, int busy_timeout_ms);
  struct Close {
    void operator()(sqlite3* db) const noexcept;
  };
  void harden();
  sqlite3_stmt* compile(const char* sql, bool persistent);

  std::filesystem::path path_;
  int busy_timeout_ms_;
  std::unique_ptr<sqlite3, Close> db_;
  // Declared after db_: finalized (in ~Connection) before the database closes.
  std::unordered_map<const char*, Cached> cache_;
  std::atomic<std::size_t> cached_count_{0};
};

}  // namespace cairn::db
