// Backups and restore.
//
// A backup is a standalone SQLite file plus a JSON manifest beside it
// (<file>.manifest.json: SHA-256, size, schema version, last revision,
// created_at, cairn version). Restore trusts neither: it checks the manifest,
// the hash, PRAGMA integrity_check and the schema version before it touches
// the target, and replaces the target atomically.
//
// Threads: these functions may run from any thread. Errors: Error with
// errc::backup_failed (backup) or errc::restore_refused (verify, restore),
// naming the file and the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/events.h"
#include "cairn/options.h"
#include "cairn/records.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

struct BackupOptions {
  // Called after each step with the pages copied so far and the total.
  // Returning false cancels: nothing is left under the final name.
  std::function<bool(std::int64_t copied_pages, std::int64_t total_pages)> progress;
  // Pages copied per step, inside one read transaction (so the copy is one
  // consistent snapshot and never restarts under concurrent writers).
  // Default: 4096 (16 MiB of 4 KiB pages).
  int pages_per_step = 4096;
  // Replace a backup (and its manifest) already at the destination. The
  // replaced pair stays verifiable throughout: it is linked aside as
  // <file>.previous (with <file>.previous.manifest.json) until the new pair
  // is complete, so a crash between the two renames leaves it there.
  // Default: false (a destination that exists is refused).
  bool overwrite = false;
};

struct BackupInfo {
  std::filesystem::path path{};
  std::filesystem::path manifest{};
  std::int64_t size = 0;
  std::string sha256{};
  int schema_version = 0;
  Revision last_revision = 0;
  Timestamp created_at = 0;
  std::string cairn_version{};
  std::int64_t duration_ms = 0;  // to take it (0 when read back from a manifest)
};

void to_json(nlohmann::json& j, const BackupInfo& info);

// The manifest of a backup file: <file>.manifest.json.
std::filesystem::path manifest_path(const std::filesystem::path& backup);

// Checks a backup without trusting it: a regular, non-empty SQLite file; a
// manifest whose size and SHA-256 match; a cairn registry (application_id);
// a schema no newer than this library's whose sqlite_master holds exactly
// the tables, indexes, triggers and views that cairn's migrations create for
// its version; PRAGMA integrity_check ok. Reads only: the file's bytes are
// never changed and nothing is created beside it.
// Throws Error(restore_refused) naming the problem.
BackupInfo verify_backup(const std::filesystem::path& backup);

struct BackupListing {
  BackupInfo info{};
  bool verified = false;
  std::string problem{};  // why it does not verify
};

// The backups (*.db with a manifest) in `dir`, newest first.
std::vector<BackupListing> list_backups(const std::filesystem::path& dir);

// Keeps the newest `keep` backups of `dir` that verify and removes the
// older ones that verify (with their manifests), and manifests whose backup
// is gone. A backup that does not verify (unreadable, altered, not cairn's)
// is never removed: list_backups reports it. Removes nothing when fewer
// than `keep` verify. `keep` 0 is refused (errc::invalid_argument). With
// `dry_run`, removes nothing and returns what it would remove. Returns the
// removed backup files (their manifests go with them) and orphan manifests.
// `not_verified`, when given, is told of each backup left because it did
// not verify, with the reason.
std::vector<std::filesystem::path> prune_backups(
    const std::filesystem::path& dir, std::size_t keep, bool dry_run = false,
    const std::function<void(const BackupListing&)>& not_verified = {});

// "<name>-<UTC time>.db", e.g. "registry-20261122T230501.123Z.db".
std::string backup_file_name(std::string_view name, Timestamp at);

struct RestoreOptions {
  // Keep the replaced database (and its -wal) as <db>.before-restore-<time>.
  // Default: true.
  bool keep_replaced = true;
  // Replace a target that exists but is not a cairn registry. Default: false.
  bool force = false;
};

struct RestoreResult {
  std::filesystem::path target{};
  std::optional<std::filesystem::path> replaced_kept_as{};
  int backup_schema_version = 0;
  int schema_version = 0;         // after migrating an older backup forward
  Revision last_revision = 0;
};

// Replaces `target` with the verified content of `backup`. Refused
// (errc::restore_refused), with the target untouched: anything verify_backup
// refuses; a target that a live process (this one included) holds open; a
// target that is not a cairn registry (unless options.force). Stale -wal and
// -shm files of the target are moved aside or removed, never applied to the
// restored file. An older schema is migrated forward after the restore.
RestoreResult restore(const std::filesystem::path& backup, const std::filesystem::path& target,
                      const RestoreOptions& options = {});

}  // namespace cairn
CAIRN_API_END
