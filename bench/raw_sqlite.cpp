#include "raw_sqlite.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <stdexcept>

#include <fmt/format.h>

namespace cairn_bench {
namespace {

// cairn's defaults (include/cairn/options.h, lib/db/database.cpp).
constexpr const char* kWriterPragmas =
    "PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; PRAGMA mmap_size = 0;"
    "PRAGMA journal_size_limit = 67108864; PRAGMA trusted_schema = OFF; PRAGMA temp_store = MEMORY;";
constexpr const char* kReaderPragmas =
    "PRAGMA cache_size = -65536; PRAGMA mmap_size = 0; PRAGMA trusted_schema = OFF;"
    "PRAGMA query_only = ON;";
constexpr int kBusyTimeoutMs = 5000;
constexpr const char* kActor = "cairn";

// The statements of lib/stores/apps.cpp and lib/txn/change_log.cpp.
constexpr const char* kBegin = "BEGIN IMMEDIATE";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kSelect =
    "SELECT id, pools, triggers, meta, protocol_version, registered, last_seen, rehydrated, "
    "created_at, updated_at, revision FROM apps WHERE id = ?";
constexpr const char* kAllocateRevision = kNextRevisionSql;
constexpr const char* kUpsert =
    "INSERT INTO apps (id, pools, triggers, meta, protocol_version, registered, last_seen, "
    "rehydrated, created_at, updated_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET pools = excluded.pools, triggers = excluded.triggers, "
    "meta = excluded.meta, protocol_version = excluded.protocol_version, "
    "registered = excluded.registered, last_seen = excluded.last_seen, "
    "rehydrated = excluded.rehydrated, updated_at = excluded.updated_at, "
    "revision = excluded.revision";
constexpr const char* kDeleteMembership = "DELETE FROM app_pools WHERE pool = ? AND app_id = ?";
constexpr const char* kInsertMembership =
    "INSERT INTO app_pools (pool, app_id) VALUES (?, ?) ON CONFLICT DO NOTHING";
constexpr const char* kAppendChange =
    "INSERT INTO change_log (revision, idx, kind, op, topic, record_id, before, after, at, actor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kInPool =
    "SELECT a.id, a.pools, a.triggers, a.meta, a.protocol_version, a.registered, a.last_seen, "
    "a.rehydrated, a.created_at, a.updated_at, a.revision FROM app_pools m JOIN apps a ON a.id = "
    "m.app_id WHERE m.pool = ? AND m.app_id > ? ORDER BY m.app_id LIMIT ?";

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
  throw std::runtime_error(fmt::format("raw sqlite3: {}: {} ({})", what,
                                       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc));
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string text_column(sqlite3_stmt* s, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s, column)))
              : std::string();
}

RawApp read_row(sqlite3_stmt* s) {
  RawApp a;
  a.id = text_column(s, 0);
  a.pools_json = text_column(s, 1);
  a.triggers_json = text_column(s, 2);
  a.meta_json = text_column(s, 3);
  a.protocol_version = text_column(s, 4);
  a.registered = sqlite3_column_int64(s, 5);
  a.last_seen = sqlite3_column_int64(s, 6);
  a.rehydrated = sqlite3_column_int64(s, 7) != 0;
  a.created_at = sqlite3_column_int64(s, 8);
  a.updated_at = sqlite3_column_int64(s, 9);
  a.revision = sqlite3_column_int64(s, 10);
  return a;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
}

// The app's JSON image with the keys in the order nlohmann::json writes them,
// so the change log holds the same bytes as cairn's. Ids need no escaping
// (their alphabet has no quote, backslash or control character).
void app_image(std::string& out, const RawApp& a) {
  out.clear();
  fmt::format_to(std::back_inserter(out), R"({{"created_at":{},"id":"{}","last_seen":{},)",
                 a.created_at, a.id, a.last_seen);
  fmt::format_to(std::back_inserter(out), R"("meta":{},"pools":{},"protocol_version":)",
                 a.meta_json, a.pools_json);
  append_json_string(out, a.protocol_version);
  fmt::format_to(std::back_inserter(out),
                 R"(,"registered":{},"rehydrated":{},"revision":{},"triggers":{},"updated_at":{}}})",
                 a.registered, a.rehydrated, a.revision, a.triggers_json, a.updated_at);
}

// The names of a pools column, ["a","b"] (pool names need no escaping).
std::vector<std::string> pool_names(std::string_view json) {
  std::vector<std::string> out;
  for (std::size_t open = json.find('"'); open != std::string_view::npos;) {
    const std::size_t close = json.find('"', open + 1);
    out.emplace_back(json.substr(open + 1, close - open - 1));
    open = json.find('"', close + 1);
  }
  return out;
}

}  // namespace

// ---- RawStatement, RawConnection --------------------------------------------

RawStatement::RawStatement(sqlite3* db, const char* sql) : db_(db) {
  const int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  if (rc != SQLITE_OK) fail(db, rc, fmt::format("prepare {}", sql));
}

RawStatement::~RawStatement() { sqlite3_finalize(stmt_); }

void RawStatement::bind_text(int index, std::string_view text) {
  const int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC,
                                     SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
}

void RawStatement::bind_int(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
}

void RawStatement::bind_blob(int index, std::string_view bytes) {
  const int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
}

void RawStatement::bind_null(int index) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) fail(db_, rc, "bind");
}

bool RawStatement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  fail(db_, rc, "step");
}

RawConnection::RawConnection(const std::filesystem::path& path, int flags) {
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    throw std::runtime_error(fmt::format("raw sqlite3: open {}: {}", path.string(), message));
  }
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);
}

RawConnection::~RawConnection() { sqlite3_close_v2(db_); }

void RawConnection::exec(const std::string& sql) {
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(db_, rc, fmt::format("exec {}", sql));
}

void set_writer_pragmas(RawConnection& conn, bool synchronous_full) {
  conn.exec(fmt::format("PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; {}",
                        synchronous_full ? "FULL" : "NORMAL", kWriterPragmas));
}

void set_reader_pragmas(RawConnection& conn) { conn.exec(kReaderPragmas); }

std::vector<std::string> schema_of(const std::filesystem::path& registry) {
  RawConnection conn(registry, SQLITE_OPEN_READONLY);
  RawStatement s(conn.handle(),
                 "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
                 "ORDER BY rowid");
  std::vector<std::string> out;
  while (s.step()) out.push_back(text_column(s.get(), 0));
  return out;
}

void raw_create_registry(const std::filesystem::path& path,
                         const std::vector<std::string>& schema) {
  RawConnection conn(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  conn.exec("PRAGMA journal_mode = WAL");
  conn.exec("BEGIN IMMEDIATE");
  for (const std::string& sql : schema) conn.exec(sql);
  conn.exec("INSERT INTO registry_state (id, revision) VALUES (1, 0); COMMIT");
}

// ---- RawWriter --------------------------------------------------------------

namespace {

// The writer pragmas, set before any statement is prepared.
sqlite3* configure_writer(RawConnection& conn, bool synchronous_full) {
  conn.exec(fmt::format("PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; {}",
                        synchronous_full ? "FULL" : "NORMAL", kWriterPragmas));
  return conn.handle();
}

}  // namespace

RawWriter::RawWriter(const std::filesystem::path& path, bool synchronous_full)
    : conn_(path, SQLITE_OPEN_READWRITE),
      begin_(configure_writer(conn_, synchronous_full), kBegin),
      commit_(conn_.handle(), kCommit),
      select_(conn_.handle(), kSelect),
      allocate_revision_(conn_.handle(), kAllocateRevision),
      upsert_(conn_.handle(), kUpsert),
      delete_membership_(conn_.handle(), kDeleteMembership),
      insert_membership_(conn_.handle(), kInsertMembership),
      append_change_(conn_.handle(), kAppendChange) {}

void RawWriter::begin() {
  begin_.step();
  begin_.reset();
  revision_ = 0;
  change_index_ = 0;
}

void RawWriter::commit() {
  try {
    commit_.step();
    commit_.reset();
  } catch (...) {
    sqlite3_exec(conn_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void RawWriter::put(const RawApp& app) {
  begin();
  try {
    put_in_transaction(app);
  } catch (...) {
    sqlite3_exec(conn_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  commit();
}

std::optional<RawApp> RawWriter::find(std::string_view id) {
  select_.bind_text(1, id);
  std::optional<RawApp> found;
  if (select_.step()) found = read_row(select_.get());
  select_.reset();
  return found;
}

void RawWriter::put_in_transaction(const RawApp& app) {
  const std::int64_t now = now_ms();
  const std::optional<RawApp> before = find(app.id);
  if (revision_ == 0) {
    allocate_revision_.step();
    revision_ = sqlite3_column_int64(allocate_revision_.get(), 0);
    allocate_revision_.reset();
  }

  RawApp row = app;
  row.created_at = before ? before->created_at : now;
  row.updated_at = now;
  row.revision = revision_;
  row.registered = before ? before->registered : row.created_at;
  if (row.last_seen == 0) row.last_seen = now;

  upsert_.bind_text(1, row.id);
  upsert_.bind_text(2, row.pools_json);
  upsert_.bind_text(3, row.triggers_json);
  upsert_.bind_text(4, row.meta_json);
  upsert_.bind_text(5, row.protocol_version);
  upsert_.bind_int(6, row.registered);
  upsert_.bind_int(7, row.last_seen);
  upsert_.bind_int(8, row.rehydrated ? 1 : 0);
  upsert_.bind_int(9, row.created_at);
  upsert_.bind_int(10, row.updated_at);
  upsert_.bind_int(11, row.revision);
  upsert_.step();
  upsert_.reset();

  if (!before || before->pools_json != row.pools_json) {
    // As lib/stores/apps.cpp: only the pools that changed.
    const std::vector<std::string> old = before ? pool_names(before->pools_json)
                                                : std::vector<std::string>{};
    auto has = [](const std::vector<std::string>& pools, const std::string& pool) {
      return std::find(pools.begin(), pools.end(), pool) != pools.end();
    };
    for (const std::string& pool : old) {
      if (has(row.pools, pool)) continue;
      delete_membership_.bind_text(1, pool);
      delete_membership_.bind_text(2, row.id);
      delete_membership_.step();
      delete_membership_.reset();
    }
    for (const std::string& pool : row.pools) {
      if (has(old, pool)) continue;
      insert_membership_.bind_text(1, pool);
      insert_membership_.bind_text(2, row.id);
      insert_membership_.step();
      insert_membership_.reset();
    }
  }

  app_image(after_, row);
  append_change_.bind_int(1, revision_);
  append_change_.bind_int(2, change_index_++);
  append_change_.bind_text(3, "app");
  append_change_.bind_text(4, before ? "updated" : "created");
  append_change_.bind_text(5, before ? "app.updated" : "app.registered");
  append_change_.bind_text(6, row.id);
  if (before) {
    app_image(before_, *before);
    append_change_.bind_text(7, before_);
  } else {
    append_change_.bind_null(7);
  }
  append_change_.bind_text(8, after_);
  append_change_.bind_int(9, now);
  append_change_.bind_text(10, kActor);
  append_change_.step();
  append_change_.reset();
}

// ---- RawReader --------------------------------------------------------------

RawReader::RawReader(const std::filesystem::path& path, std::int64_t cache_kib)
    : conn_(path, SQLITE_OPEN_READONLY),
      select_((conn_.exec(kReaderPragmas),
               conn_.exec(fmt::format("PRAGMA cache_size = -{}", cache_kib)), conn_.handle()),
              kSelect),
      in_pool_(conn_.handle(), kInPool) {}

std::optional<RawApp> RawReader::get(std::string_view id) {
  select_.bind_text(1, id);
  std::optional<RawApp> found;
  if (select_.step()) found = read_row(select_.get());
  select_.reset();
  return found;
}

std::int64_t RawReader::cache_misses() {
  int current = 0, highest = 0;
  sqlite3_db_status(conn_.handle(), SQLITE_DBSTATUS_CACHE_MISS, &current, &highest, 0);
  return current;
}

std::vector<RawApp> RawReader::in_pool(std::string_view pool) {
  in_pool_.bind_text(1, pool);
  in_pool_.bind_text(2, "");
  in_pool_.bind_int(3, -1);
  std::vector<RawApp> out;
  while (in_pool_.step()) out.push_back(read_row(in_pool_.get()));
  in_pool_.reset();
  return out;
}

std::unique_ptr<RawConnection> raw_open_and_get(const std::filesystem::path& path,
                                                std::string_view id) {
  auto conn = std::make_unique<RawConnection>(path, SQLITE_OPEN_READWRITE);
  conn->exec(fmt::format("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; {}",
                         kWriterPragmas));
  RawStatement select(conn->handle(), kSelect);
  select.bind_text(1, id);
  if (!select.step() || read_row(select.get()).id != id) {
    throw std::runtime_error(fmt::format("raw sqlite3: app {} not found after open", id));
  }
  return conn;
}

WorkCheck raw_work_check(const std::filesystem::path& path) {
  RawConnection conn(path, SQLITE_OPEN_READONLY);
  auto query = [&](const char* sql) {
    RawStatement s(conn.handle(), sql);
    return s.step() ? sqlite3_column_int64(s.get(), 0) : 0;
  };
  WorkCheck c;
  c.apps = query("SELECT count(*) FROM apps");
  c.memberships = query("SELECT count(*) FROM app_pools");
  c.changes = query("SELECT count(*) FROM change_log");
  c.revision = query(kLastRevisionSql);
  c.app_bytes = query(
      "SELECT total(length(id) + length(pools) + length(triggers) + length(meta) + "
      "length(protocol_version)) FROM apps");
  c.image_bytes =
      query("SELECT total(length(after)) + total(coalesce(length(before), 0)) FROM change_log");
  return c;
}

}  // namespace cairn_bench
