#include "db/database.h"

#include <utility>

#include <fmt/format.h>

#include "cairn/error.h"
#include "db/files.h"

namespace cairn::db {

Database::Database(std::filesystem::path path, bool in_memory, const Options& options)
    : path_(std::move(path)), in_memory_(in_memory), options_(options) {}

Database::~Database() = default;

std::unique_ptr<Database> Database::open_file(const std::filesystem::path& path,
                                              const Options& options) {
  if (path.empty()) throw Error(errc::invalid_argument, "registry path is empty");
  switch (inspect_file(path)) {
    case FileKind::not_regular:
      throw Error(errc::not_a_registry, fmt::format("{}: not a regular file", path.string()));
    case FileKind::other:
      throw Error(errc::not_a_registry,
                  fmt::format("{}: not a SQLite database (bad header)", path.string()));
    case FileKind::missing:
      if (options.read_only || !options.create_if_missing) {
        throw Error(errc::not_found, fmt::format("{}: no such registry", path.string()));
      }
      make_private_dirs(path.parent_path());
      // Another opener may create it between our look and ours: that is fine.
      if (!create_private_file(path) && inspect_file(path) == FileKind::not_regular) {
        throw Error(errc::not_a_registry, fmt::format("{}: not a regular file", path.string()));
      }
      break;
    case FileKind::empty:
      if (options.read_only || !options.create_if_missing) {
        throw Error(errc::not_found,
                    fmt::format("{}: the file is empty, not a registry", path.string()));
      }
      break;
    case FileKind::sqlite:
      break;
  }
  std::unique_ptr<Database> db(new Database(path, false, options));
  db->writer_ = std::make_unique<Connection>(
      path, options.read_only ? Connection::Mode::read_only : Connection::Mode::read_write,
      options.busy_timeout_ms);
  return db;
}

std::unique_ptr<Database> Database::open_memory(const Options& options) {
  std::unique_ptr<Database> db(new Database(":memory:", true, options));
  db->writer_ = Connection::memory(options.busy_timeout_ms);
  return db;
}

void Database::configure() {
  Connection& w = *writer_;
  if (options_.read_only) {
    // Connection settings only: nothing here writes to the file.
    w.exec(
        fmt::format("PRAGMA query_only = ON; PRAGMA cache_size = -{}; PRAGMA mmap_size = {};"
                    "PRAGMA temp_store = MEMORY;",
                    options_.cache_size_kib, options_.mmap_size));
    return;
  }
  if (!in_memory_) {
    Statement mode = w.prepare("PRAGMA journal_mode = WAL");
    if (!mode.step() || mode.column_text(0) != "wal") {
      throw Error(errc::io_error, fmt::format("{}: cannot switch to WAL mode", path_.string()));
    }
  }
  // Numbers come from Options (integers), never from text input.
  // temp_store = MEMORY keeps the savepoint journal (each store call inside a
  // caller's transaction runs in a savepoint) off the disk: a put of 1,000
  // apps per transaction ran at 0.32 of raw sqlite3 with a temp file, 0.60
  // without (bench put_batched). The cost is memory: the journal holds the
  // original of every page changed while a savepoint is open, so one call
  // that changes many pages inside a transaction (put_many, save_all,
  // erase_prefix, a nested transact) holds them in the heap until it ends.
  w.exec(fmt::format(
      "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA cache_size = -{};"
      "PRAGMA mmap_size = {}; PRAGMA journal_size_limit = {}; PRAGMA trusted_schema = OFF;"
      "PRAGMA temp_store = MEMORY;",
      options_.synchronous == Synchronous::full ? "FULL" : "NORMAL", options_.cache_size_kib,
      options_.mmap_size, options_.journal_size_limit));
  if (!in_memory_) {
    page_size_ = w.query_int("PRAGMA page_size");
    // Replaces SQLite's own autocheckpoint hook (see on_wal_commit).
    sqlite3_wal_hook(w.handle(), &Database::on_wal_commit, this);
  }
}

int Database::on_wal_commit(void* self, sqlite3* db, const char* name, int pages) {
  auto* database = static_cast<Database*>(self);
  constexpr int kAutoCheckpointPages = 1000;  // SQLite's default
  if (pages >= kAutoCheckpointPages) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }
  // The file's size: a 32-byte header, then frames of a 24-byte header and a page.
  const std::int64_t bytes = 32 + static_cast<std::int64_t>(pages) * (database->page_size_ + 24);
  if (bytes > database->options_.journal_size_limit && !database->wal_over_bound_.exchange(true)) {
    if (database->on_wal_over_bound) database->on_wal_over_bound();
  }
  return SQLITE_OK;
}

void Database::note_wal_size(std::int64_t bytes) {
  if (!in_memory_ && bytes > options_.journal_size_limit) wal_over_bound_ = true;
}

bool Database::checkpoint_truncate() {
  if (in_memory_ || options_.read_only) return true;
  sqlite3* w = writer_->handle();
  sqlite3_busy_timeout(w, 0);  // readers on an old snapshot: try again later
  const int rc = sqlite3_wal_checkpoint_v2(w, "main", SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(w, options_.busy_timeout_ms);
  if (rc != SQLITE_OK) return false;
  wal_over_bound_ = false;
  return true;
}

void Database::reopen_writer() {
  if (in_memory_) return;  // the data lives in the connection: nothing to reopen
  auto fresh = std::make_unique<Connection>(
      path_, options_.read_only ? Connection::Mode::read_only : Connection::Mode::read_write,
      options_.busy_timeout_ms);
  std::unique_ptr<Connection> old;
  {
    // statements_cached() reads writer_ without the writer mutex.
    std::lock_guard lock(readers_mutex_);
    old = std::exchange(writer_, std::move(fresh));
  }
  old.reset();  // closed outside the lock: closing may checkpoint
  configure();
  ++writer_reopens_;
}

std::unique_ptr<Connection> Database::open_reader() {
  auto conn =
      std::make_unique<Connection>(path_, Connection::Mode::read_only, options_.busy_timeout_ms);
  conn->exec(
      fmt::format("PRAGMA cache_size = -{}; PRAGMA mmap_size = {}; PRAGMA trusted_schema = OFF;"
                  "PRAGMA query_only = ON;",
                  options_.cache_size_kib, options_.mmap_size));
  return conn;
}

Database::ReadLease::ReadLease(ReadLease&& other) noexcept : db_(other.db_), conn_(other.conn_) {
  other.db_ = nullptr;
}

Database::ReadLease::~ReadLease() {
  if (db_ != nullptr) db_->release(conn_);
}

Database::ReadLease Database::lease_reader() {
  if (in_memory_) {
    writer_mutex_.lock();
    return ReadLease(this, writer_.get());
  }
  std::unique_lock lock(readers_mutex_);
  const auto capacity = static_cast<std::size_t>(std::max(1, options_.read_connections));
  reader_free_.wait(lock, [&] { return !idle_.empty() || readers_.size() < capacity; });
  if (idle_.empty()) {
    readers_.push_back(open_reader());
    return ReadLease(this, readers_.back().get());
  }
  Connection* conn = idle_.back();
  idle_.pop_back();
  return ReadLease(this, conn);
}

void Database::release(Connection* conn) noexcept {
  // Not conn == writer_: a file registry's writer may be reopened meanwhile.
  if (in_memory_) {
    writer_mutex_.unlock();
    return;
  }
  {
    std::lock_guard lock(readers_mutex_);
    idle_.push_back(conn);
  }
  reader_free_.notify_one();
}

std::size_t Database::statements_cached() {
  std::lock_guard lock(readers_mutex_);
  std::size_t total = writer_->statements_cached();
  for (const auto& reader : readers_) total += reader->statements_cached();
  return total;
}

}  // namespace cairn::db
