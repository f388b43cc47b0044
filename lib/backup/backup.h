// The backup layer's internals, shared by Registry::backup, restore and the
// scheduler.
#pragma once

#include <filesystem>
#include <functional>

#include "cairn/backup.h"
#include "db/database.h"
#include "txn/store_context.h"

namespace cairn::detail {

// Puts a finished backup in place under its name (the renames). Called by a
// Publish function, once.
using PlaceBackup = std::function<void()>;

// Records a finished backup (its event) and calls `place` inside the same
// write transaction, so that the backup appears under its name if and only
// if its event commits. When it throws before `place`, nothing at the name
// changed; after, write_backup puts the previous pair back.
using PublishBackup = std::function<void(const BackupInfo&, const PlaceBackup& place)>;

// Copies the database into `dest` as described in Registry::backup, then
// hands it to `publish` (empty: placed at once, with no event).
BackupInfo write_backup(db::Database& db, const std::filesystem::path& dest,
                        const BackupOptions& options, Timestamp now,
                        const PublishBackup& publish = {});

// Replaces the registry's content with a verified backup through its own
// writer (Registry::restore_from). Throws errc::restore_refused.
void restore_into(StoreContext& ctx, const std::filesystem::path& backup);

// Removes temp files of backups or restores whose process is gone.
void remove_stale_temp_files(const std::filesystem::path& dir);

// A temp file name in `dir` for this process: ".cairn-<pid>-<n>.tmp".
std::filesystem::path temp_path_in(const std::filesystem::path& dir);

// fsyncs a file by path. Throws Error(io_error).
void sync_file(const std::filesystem::path& path);

// Copies a file's bytes into a new 0600 file and fsyncs it.
void copy_file_synced(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace cairn::detail
