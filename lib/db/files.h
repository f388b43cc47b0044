// File-system rules of DESIGN section 7: private directories and files, and
// a look at a file before SQLite touches it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>

namespace cairn::db {

enum class FileKind {
  missing,
  empty,        // zero bytes: SQLite treats it as a new database
  sqlite,       // starts with "SQLite format 3\0"
  other,        // anything else: never handed to SQLite as a database
  not_regular,  // a directory, FIFO, socket or device
};

// What is at `path`. A symlink is judged by its target.
FileKind inspect_file(const std::filesystem::path& path);

// Creates each missing directory of `dir` with mode 0700, whatever the umask.
// Existing directories are left as they are. Throws Error(io_error).
void make_private_dirs(const std::filesystem::path& dir);

// Creates `path` as an empty file with mode 0600, whatever the umask.
// Returns false when it exists already; throws Error(io_error) when it cannot
// be created.
bool create_private_file(const std::filesystem::path& path);

// fsyncs a directory, so that a rename or create inside it is durable.
void sync_directory(const std::filesystem::path& dir);

// Size in bytes, or 0 when the file is missing.
std::int64_t file_size_or_zero(const std::filesystem::path& path) noexcept;

// One run of several transactions (a migration: one transaction per step) at
// a time per database, across threads and processes: an exclusive flock on
// `<database>-migrate.lock`, created 0600 (never through a symlink) and
// removed by the holder when it is done. It must be a file of its own: a
// close() of any descriptor of the database file would drop SQLite's own
// POSIX locks on it. Throws Error(busy) when another holder keeps it past
// `timeout`, and Error(io_error) when the file cannot be made.
class RunLock {
 public:
  RunLock(const std::filesystem::path& database, std::chrono::milliseconds timeout);
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  ~RunLock();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace cairn::db
