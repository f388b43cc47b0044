#include "db/connection.h"

#include <fmt/format.h>

#include <cctype>

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
  check_bind(
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
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
  check_bind(sqlite3_bind_blob64(stmt_, index, blob_pointer(data, size), size, SQLITE_TRANSIENT),
             index);
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
  // No SQLITE_OPEN_URI: a name is a name (only sqlite_uri() below builds one).
  const int flags = SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case Connection::Mode::read_only:
      return flags | SQLITE_OPEN_READONLY;
    case Connection::Mode::read_only_immutable:
      return flags | SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
    case Connection::Mode::read_write:
      return flags | SQLITE_OPEN_READWRITE;
    case Connection::Mode::read_write_create:
      return flags | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  }
  return flags;
}

}  // namespace

std::string sqlite_filename(const std::filesystem::path& path) {
  // A relative name gets "./" in front, so that SQLite never takes it for a
  // URI ("file:...") or for the in-memory database (":memory:"), even when
  // URIs are enabled process-wide (SQLITE_USE_URI, sqlite3_config).
  if (path.is_absolute()) return path.native();
  return "./" + path.native();
}

std::string sqlite_uri(const std::filesystem::path& path, std::string_view query) {
  // RFC 3986 with every byte outside the unreserved set and '/' escaped, so
  // that '?', '#', '%' and '&' in the name stay part of the name. An absolute
  // path behind "file://" (an empty authority) keeps a leading "//" a path.
  const std::string absolute = std::filesystem::absolute(path).native();
  std::string uri = "file://";
  for (unsigned char c : absolute) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      uri += static_cast<char>(c);
    } else {
      uri += fmt::format("%{:02X}", c);
    }
  }
  if (!query.empty()) {
    uri += '?';
    uri += query;
  }
  return uri;
}

namespace {

// sqlite3_open_v2, then the busy timeout. A failed open still allocates a
// handle (unless memory ran out), which must be closed; the error names the
// path, and its code is the extended one.
sqlite3* open_handle(const std::string& name, int flags, int busy_ms,
                     const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(name.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    const int extended = db == nullptr ? rc : sqlite3_extended_errcode(db);
    sqlite3_close(db);
    throw_sqlite(nullptr, extended, "open " + path.string());
  }
  if (busy_ms > 0) sqlite3_busy_timeout(db, busy_ms);
  return db;
}

sqlite3* open_database(const std::filesystem::path& path, Connection::Mode mode, int busy_ms) {
  const std::string name = mode == Connection::Mode::read_only_immutable
                               ? sqlite_uri(path, "mode=ro&immutable=1")
                               : sqlite_filename(path);
  return open_handle(name, open_flags(mode), busy_ms, path);
}

}  // namespace

Connection::Connection(const std::filesystem::path& path, Mode mode, int busy_timeout_ms)
    : path_(path), busy_timeout_ms_(busy_timeout_ms),
      db_(open_database(path, mode, busy_timeout_ms)) {
  harden();
  // Only the registry's writer checkpoints (Database::on_wal_commit), even
  // when a read-only connection is the last to close.
  if (mode == Mode::read_only || mode == Mode::read_only_immutable) {
    sqlite3_db_config(handle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  }
}

Connection::Connection(InMemory, int busy_timeout_ms)
    : busy_timeout_ms_(busy_timeout_ms),
      db_(open_handle(":memory:", SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      busy_timeout_ms, ":memory:")) {
  harden();
}

std::unique_ptr<Connection> Connection::memory(int busy_timeout_ms) {
  return std::unique_ptr<Connection>(new Connection(InMemory{}, busy_timeout_ms));
}

// Before the schema is first read: a file's schema is input, never code to
// trust. DEFENSIVE refuses writable_schema and the other ways to corrupt a
// file through SQL; trusted_schema off keeps the schema's views and triggers
// from calling functions with side effects.
void Connection::harden() {
  sqlite3_extended_result_codes(handle(), 1);
  sqlite3_db_config(handle(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(handle(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
}

void Connection::Close::operator()(sqlite3* db) const noexcept { sqlite3_close(db); }

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
  int rc = sqlite3_prepare_v3(handle(), sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt,
                              nullptr);
  if (rc == SQLITE_ERROR) {
    // Our SQL is constant and tested against the schema: when it does not
    // compile, the schema in the file is damaged (or was edited by hand).
    throw Error(
        errc::corrupt,
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

Statement Connection::prepare_once(const std::string& sql) {
  return Statement(compile(sql.c_str(), false), handle(), nullptr, true);
}

bool Connection::try_exec(const char* sql) noexcept {
  return sqlite3_exec(handle(), sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

std::int64_t Connection::changes() const noexcept { return sqlite3_changes64(handle()); }

bool Connection::in_transaction() const noexcept { return sqlite3_get_autocommit(handle()) == 0; }

}  // namespace cairn::db
