// Schema migrations, for operators and for servers that migrate on start.
//
// Each function opens the registry file itself. Every one refuses, before
// writing anything, a file of another application (errc::not_a_registry), a
// newer schema (schema_too_new, naming both versions) and an applied
// migration that was edited (migration_checksum, naming it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/options.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

struct MigrationStep {
  int version = 0;
  std::string name{};       // "initial"
  std::string checksum{};   // SHA-256 of the migration file, as embedded
  bool applied = false;
  Timestamp applied_at = 0;
  std::int64_t duration_ms = 0;
  bool checksum_ok = true;  // applied with the same checksum as embedded
  std::string sql{};
};

struct MigrationStatus {
  int current_version = 0;
  int latest_version = 0;
  std::vector<MigrationStep> steps{};  // applied, then pending
};

// Applied and pending migrations. Reads only.
MigrationStatus migration_status(const std::filesystem::path& db);

// The steps `up` would apply (up to `to`, default: the latest), in order.
std::vector<MigrationStep> migration_plan(const std::filesystem::path& db,
                                          std::optional<int> to = {});

struct MigrateOptions {
  std::optional<int> to{};  // default: the latest
  // Take a backup before changing a non-empty database, beside it as
  // <db>.pre-migrate-v<from>-<time>.db. Default: true.
  bool backup_first = true;
};

struct MigrateResult {
  int from_version = 0;
  int to_version = 0;
  std::optional<std::filesystem::path> backup{};
};

// Applies pending migrations, each in its own transaction with its history
// row: a crash leaves every step applied wholly or not at all. Concurrent
// migrators (threads or processes) serialize; each step is applied once.
// Publishes schema.migrated (with from and to) when an existing registry
// moved forward.
MigrateResult migrate(const std::filesystem::path& db, const MigrateOptions& options = {});

struct SchemaCheck {
  bool ok = false;
  std::vector<std::string> problems{};  // checksum drift, objects missing, extra or different
};

// Whether every applied migration's checksum matches and the live schema is
// exactly the schema the migrations produce for its version. Reads only.
SchemaCheck verify_schema(const std::filesystem::path& db);

// Everything `cairn check` reports, reading only: PRAGMA integrity_check
// (which includes CHECK and NOT NULL constraints), foreign_key_check, and
// verify_schema's drift. Throws for a file that is not a registry at all.
SchemaCheck check_registry(const std::filesystem::path& db);

struct DryRun {
  int from_version = 0;
  int to_version = 0;
  std::vector<std::string> added{};    // "table x", "index y"
  std::vector<std::string> altered{};
  std::vector<std::string> removed{};
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> rows{};  // table: before, after
  std::int64_t duration_ms = 0;
};

// Copies the live database into memory, applies the pending migrations
// there, and reports what would change. The file is not modified.
DryRun migrate_dry_run(const std::filesystem::path& db);

void to_json(nlohmann::json& j, const MigrationStep& s);
void to_json(nlohmann::json& j, const MigrationStatus& s);
void to_json(nlohmann::json& j, const MigrateResult& r);
void to_json(nlohmann::json& j, const SchemaCheck& c);
void to_json(nlohmann::json& j, const DryRun& d);

}  // namespace cairn
CAIRN_API_END
