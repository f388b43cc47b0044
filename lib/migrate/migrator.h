// The migration engine: identifies a database, and applies a chain of
// migrations to it, one BEGIN IMMEDIATE transaction per step.
//
// Each step commits together with its history row and PRAGMA user_version,
// so a database is never half-migrated ("dirty"). Concurrent migrators (other
// connections, other processes) serialize on the write lock, and a step found
// already applied inside the transaction is skipped: each is applied once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cairn/options.h"
#include "db/connection.h"
#include "migrate/migration.h"

namespace cairn::detail {

// PRAGMA application_id of every cairn registry ("cair").
inline constexpr std::int32_t kApplicationId = 0x63616972;

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
  Timestamp applied_at = 0;
  std::int64_t duration_ms = 0;
};

// How much of a database check() compares with the chain.
enum class SchemaRule {
  exact,         // the history, and sqlite_master object by object
  history_only,  // the history only: for tools that report drift instead
};

class Migrator {
 public:
  // `chain` must be numbered 1..N without gaps (errc::invalid_argument).
  // Both references must outlive the Migrator.
  Migrator(db::Connection& conn, const std::vector<Migration>& chain,
           std::function<Timestamp()> clock);

  // Identifies the database without writing to it, and returns its schema
  // version (0 for a new, empty database). Throws not_a_registry (another
  // application's file), schema_too_new (a version beyond the chain),
  // migration_checksum (an applied step differs from the chain's), corrupt
  // (history and user_version disagree), and, under SchemaRule::exact,
  // not_a_registry when sqlite_master holds any table, index, trigger or view
  // that the chain does not create for that version, lacks one, or holds one
  // with other SQL (the message names it): a file's schema runs on every
  // write, so only cairn's own is accepted.
  int check(SchemaRule rule = SchemaRule::exact);

  // Applied steps, oldest first (empty for a new database).
  std::vector<AppliedMigration> history();

  // Steps after `version`, up to `target` (default: the last).
  std::vector<Migration> pending(int version, std::optional<int> target = {}) const;

  struct UpResult {
    int version = 0;                   // the version reached
    std::optional<int> applied_from{};  // set when this call applied steps: the version before
  };

  // Applies the pending steps up to `target` (default: the last), as one run:
  // on a file, runs of other connections and processes wait for this one
  // (db::RunLock, up to the connection's busy timeout, then errc::busy), so
  // a run's steps follow each other. A step that a migrator without the lock
  // applied meanwhile is skipped, and not reported as ours.
  // A failing step is rolled back whole and throws migration_failed naming
  // it; the steps before it stay applied.
  UpResult up(std::optional<int> target = {});

  int latest() const noexcept { return static_cast<int>(chain_.size()); }

  // Runs inside the transaction of the last step that up() applies, before it
  // commits, with the versions before and after this call's steps: what it
  // writes (the schema.migrated change-log row) commits with that step or not
  // at all. May be empty.
  std::function<void(db::Connection&, int from, int to)> on_last_step;
  // Runs once in up(), holding the run lock, before the first step, with the
  // version the run starts from; not at all when no step is pending. What it
  // throws ends the run with nothing applied. May be empty.
  std::function<void(int from)> before_steps;

 private:
  int check_in_transaction(SchemaRule rule);
  // false: already applied by another. `from` is set for the last step.
  bool apply(const Migration& step, std::optional<int> from);

  db::Connection& conn_;
  const std::vector<Migration>& chain_;
  std::function<Timestamp()> clock_;
};

}  // namespace cairn::detail
