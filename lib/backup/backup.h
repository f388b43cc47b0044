// The backup layer's internals, shared by Registry::backup, restore and the
// scheduler.
#pragma once

#include <filesystem>

#include "cairn/backup.h"
#include "db/database.h"

namespace cairn::detail {

// Copies the database into `dest` as described in Registry::backup. The
// caller publishes the event.
BackupInfo write_backup(db::Database& db, const std::filesystem::path& dest,
                        const BackupOptions& options, Timestamp now);

// Removes temp files of backups or restores whose process is gone.
void remove_stale_temp_files(const std::filesystem::path& dir);

// A temp file name in `dir` for this process: ".cairn-<pid>-<n>.tmp".
std::filesystem::path temp_path_in(const std::filesystem::path& dir);

// fsyncs a file by path. Throws Error(io_error).
void sync_file(const std::filesystem::path& path);

// Copies a file's bytes into a new 0600 file and fsyncs it.
void copy_file_synced(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace cairn::detail
