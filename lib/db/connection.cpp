#include "db/connection.h"

#include <SQLiteCpp/Exception.h>
#include <fmt/format.h>

#include "db/error_map.h"

namespace cairn::db {

Statement::Statement(Statement&& other) noexcept
    : stmt_(other.stmt_), db_(other.db_), in_use_(other.in_use_), owned_(other.owned_) {
  other.stmt_ = nullptr;
  other.in_use_ = nullptr;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (owned_) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  *in_use_ = false;
}

void Statement::check_bind(int rc, int index) {
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "bind parameter " + std::to_string(index));
}

Statement& Statement::bind_int(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view value) {
  check_bind(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8),
             index);
  return *this;
}

namespace {
// A zero-length blob is still a blob, not NULL: SQLite needs a non-null pointer.
const void* blob_pointer(const void* data, std::size_t size) {
  static const char empty = 0;
  return size == 0 ? &empty : data;
}
}  // namespace

Statement& Statement::bind_blob(int index, const void* data, std::size_t size) {
  check_bind(
      sqlite3_bind_blob64(stmt_, index, blob_pointer(data, size), size, SQLITE_TRANSIENT), index);
  return *this;
}

Statement& Statement::bind_blob_borrowed(int index, const void* data, std::size_t size) {
  check_bind(sqlite3_bind_blob64(stmt_, index, blob_pointer(data, size), size, SQLITE_STATIC),
             index);
  return *this;
}

Statement& Statement::bind_null(int index) {
  check_bind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  throw_sqlite(db_, rc, "step");
}

void Statement::run() {
  while (step()) {
  }
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::column_int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string_view Statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (text == nullptr) return {};
  return {text, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::string_view Statement::column_blob(int column) const {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  if (data == nullptr) return {};
  return {data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

namespace {

int open_flags(Connection::Mode mode) {
  // NOMUTEX: each connection is used by one thread at a time (see header).
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  switch (mode) {
    case Connection::Mode::read_only: return flags | SQLITE_OPEN_READONLY;
    case Connection::Mode::read_write: return flags | SQLITE_OPEN_READWRITE;
    case Connection::Mode::read_write_create:
      return flags | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  }
  return flags;
}

SQLite::Database open_database(const std::string& target, Connection::Mode mode, int busy_ms) {
  try {
    return SQLite::Database(target, open_flags(mode), busy_ms);
  } catch (const SQLite::Exception& e) {
    throw_sqlite(nullptr, e.getExtendedErrorCode(), "open " + target);
  }
}

}  // namespace

Connection::Connection(const std::string& target, Mode mode, int busy_timeout_ms)
    : db_(open_database(target, mode, busy_timeout_ms)) {
  sqlite3_extended_result_codes(handle(), 1);
  // Only the registry's writer checkpoints (Database::on_wal_commit), even
  // when a read-only connection is the last to close.
  if (mode == Mode::read_only) {
    sqlite3_db_config(handle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  }
}

Connection::~Connection() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
}

void Connection::exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(handle(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw_sqlite(handle(), rc, "exec");
}

sqlite3_stmt* Connection::compile(const char* sql, bool persistent) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(handle(), sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0,
                              &stmt, nullptr);
  if (rc == SQLITE_ERROR) {
    // Our SQL is constant and tested against the schema: when it does not
    // compile, the schema in the file is damaged (or was edited by hand).
    throw Error(errc::corrupt,
                fmt::format("prepare: {}: the database schema is damaged", sqlite3_errmsg(handle())),
                sqlite3_extended_errcode(handle()));
  }
  if (rc != SQLITE_OK) throw_sqlite(handle(), rc, "prepare");
  return stmt;
}

Statement Connection::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    it = cache_.emplace(sql, Cached{compile(sql, true), false}).first;
    cached_count_.store(cache_.size());
  }
  Cached& cached = it->second;
  if (cached.in_use) return Statement(compile(sql, false), handle(), nullptr, true);
  cached.in_use = true;
  return Statement(cached.stmt, handle(), &cached.in_use, false);
}

std::int64_t Connection::query_int(const char* sql) {
  Statement stmt = prepare(sql);
  if (!stmt.step()) return 0;
  return stmt.column_int(0);
}

}  // namespace cairn::db
