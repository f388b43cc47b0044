// The raw side: the work cairn does for a put, a get and "apps in a pool",
// written directly against the sqlite3 C API with prepared statements, on the
// same schema and with the same pragmas. The schema is copied from a registry
// that cairn created, so it follows every migration (0004_write_path.sql's
// WITHOUT ROWID apps, app_pools and change_log among them).
//
// A put is, as in lib/stores/apps.cpp and lib/txn/store_context.cpp:
//   BEGIN IMMEDIATE
//   SELECT the app by id (the before image, and created/updated)
//   SELECT the newest revision + 1                  (once per transaction)
//   INSERT ... ON CONFLICT (id) DO UPDATE            (the app row)
//   DELETE / INSERT app_pools                        (the pools that changed)
//   INSERT INTO change_log (..., after = the app as JSON, ...)
//   COMMIT
// What it leaves out is what cairn adds on top: validation, the JSON
// documents (nlohmann::json) for the JSON columns and the change-log images,
// savepoints around each put inside a transaction, the event list, and the
// reader-connection pool.
//
// Threads: each object is used by one thread at a time. Errors throw
// std::runtime_error with SQLite's message.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workload.h"

namespace cairn_bench {

// The last revision and the next, as lib/txn/change_log.cpp takes them: the
// newest in the change log, or registry_state's floor.
#define CAIRN_BENCH_LAST_REVISION                              \
  "max((SELECT revision FROM registry_state WHERE id = 1), " \
  "coalesce((SELECT max(revision) FROM change_log), 0))"
inline constexpr const char* kLastRevisionSql = "SELECT " CAIRN_BENCH_LAST_REVISION;
inline constexpr const char* kNextRevisionSql = "SELECT " CAIRN_BENCH_LAST_REVISION " + 1";
#undef CAIRN_BENCH_LAST_REVISION

// One prepared statement, finalized in the destructor.
class RawStatement {
 public:
  RawStatement(sqlite3* db, const char* sql);
  RawStatement(const RawStatement&) = delete;
  RawStatement& operator=(const RawStatement&) = delete;
  ~RawStatement();

  sqlite3_stmt* get() const noexcept { return stmt_; }
  // Binds text that outlives the next step (SQLITE_STATIC).
  void bind_text(int index, std::string_view text);
  void bind_int(int index, std::int64_t value);
  // Binds bytes that outlive the next step (SQLITE_STATIC).
  void bind_blob(int index, std::string_view bytes);
  void bind_null(int index);
  // SQLITE_ROW -> true, SQLITE_DONE -> false, anything else throws.
  bool step();
  void reset() noexcept { sqlite3_reset(stmt_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One connection, closed in the destructor.
class RawConnection {
 public:
  RawConnection(const std::filesystem::path& path, int flags);
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  sqlite3* handle() const noexcept { return db_; }
  void exec(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
};

// cairn's writer pragmas (journal_mode WAL, synchronous FULL or NORMAL,
// foreign_keys, cache, mmap, journal_size_limit, trusted_schema) and reader
// pragmas (the same cache and mmap, query_only), as the raw writer and reader
// set them.
void set_writer_pragmas(RawConnection& conn, bool synchronous_full);
void set_reader_pragmas(RawConnection& conn);

// The tables and indexes of a registry that cairn created (every migration
// applied), as the CREATE statements stored in its sqlite_schema, in order.
std::vector<std::string> schema_of(const std::filesystem::path& registry);

// Creates `path` in WAL mode with `schema` (from schema_of) and the one
// registry_state row that migration 0001 inserts. Nothing else of cairn's:
// no application_id, user_version or migration history.
void raw_create_registry(const std::filesystem::path& path, const std::vector<std::string>& schema);

// The writer: one read-write connection with cairn's writer pragmas.
class RawWriter {
 public:
  RawWriter(const std::filesystem::path& path, bool synchronous_full);

  // One app in a transaction of its own.
  void put(const RawApp& app);
  // Several apps in one transaction: begin(), put_in_transaction()..., commit().
  void begin();
  void put_in_transaction(const RawApp& app);
  void commit();

 private:
  std::optional<RawApp> find(std::string_view id);

  RawConnection conn_;
  RawStatement begin_, commit_, select_, allocate_revision_, upsert_, delete_membership_,
      insert_membership_, append_change_;
  std::int64_t revision_ = 0;  // this transaction's, once taken; 0 before
  std::int64_t change_index_ = 0;
  std::string after_, before_;  // change-log images, reused
};

// A reader: one read-only connection with cairn's reader pragmas.
class RawReader {
 public:
  // cache_kib: the page cache (cairn's default unless told).
  explicit RawReader(const std::filesystem::path& path, std::int64_t cache_kib = 65536);

  std::optional<RawApp> get(std::string_view id);
  // The apps that name `pool`, by id (the same query as AppStore::in_pool).
  std::vector<RawApp> in_pool(std::string_view pool);
  // Pages this connection has read from the file so far (misses of its page
  // cache): what makes a query slower on a registry larger than the cache.
  std::int64_t cache_misses();

 private:
  RawConnection conn_;
  RawStatement select_, in_pool_;
};

// What a server does when it starts on an existing registry without cairn:
// open, set the pragmas, read one app. Returns the open connection, so that
// the caller closes it outside the timing. Throws when the app is absent.
std::unique_ptr<RawConnection> raw_open_and_get(const std::filesystem::path& path,
                                                std::string_view id);

// Table and byte counts of a registry file, to check that both sides did the
// same work: apps, app_pools and change_log rows, the revision, and the bytes
// of the apps rows and the change-log images.
struct WorkCheck {
  std::int64_t apps = 0, memberships = 0, changes = 0, revision = 0;
  std::int64_t app_bytes = 0, image_bytes = 0;
  bool operator==(const WorkCheck&) const = default;
};
WorkCheck raw_work_check(const std::filesystem::path& path);

}  // namespace cairn_bench
