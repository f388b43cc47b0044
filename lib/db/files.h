// File-system rules of DESIGN section 7: private directories and files, and
// a look at a file before SQLite touches it.
#pragma once

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

}  // namespace cairn::db
