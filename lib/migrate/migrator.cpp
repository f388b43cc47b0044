#include "migrate/migrator.h"

#include <chrono>

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/version.h"
#include "db/files.h"
#include "db/transaction.h"
#include "migrate/schema.h"

namespace cairn::detail {
namespace {

constexpr const char* kCreateHistory =
    "CREATE TABLE schema_migrations (\n"
    "  version INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL,\n"
    "  checksum TEXT NOT NULL,\n"
    "  applied_at INTEGER NOT NULL,\n"
    "  duration_ms INTEGER NOT NULL\n"
    ")";
constexpr const char* kSelectHistory =
    "SELECT version, name, checksum, applied_at, duration_ms FROM schema_migrations "
    "ORDER BY version";
constexpr const char* kInsertHistory =
    "INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms) "
    "VALUES (?, ?, ?, ?, ?)";
constexpr const char* kHasHistory =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'";
constexpr const char* kObjectCount = "SELECT count(*) FROM sqlite_master";
constexpr const char* kApplicationIdQuery = "PRAGMA application_id";
constexpr const char* kUserVersionQuery = "PRAGMA user_version";

std::string step_name(const Migration& m) { return fmt::format("{:04d}_{}", m.version, m.name); }

}  // namespace

Migrator::Migrator(db::Connection& conn, const std::vector<Migration>& chain,
                   std::function<Timestamp()> clock)
    : conn_(conn), chain_(chain), clock_(std::move(clock)) {
  for (std::size_t i = 0; i < chain_.size(); ++i) {
    if (chain_[i].version != static_cast<int>(i + 1)) {
      throw Error(errc::invalid_argument,
                  fmt::format("migration chain: expected version {} at position {}, found {}",
                              i + 1, i + 1, chain_[i].version));
    }
  }
}

int Migrator::check(SchemaRule rule) {
  // One read transaction: a concurrent migrator's commit cannot fall between
  // the reads below. (Inside the caller's transaction, it is already one.)
  db::Transaction read(conn_, db::Begin::deferred, db::Nesting::join);
  const int version = check_in_transaction(rule);
  read.commit();
  return version;
}

int Migrator::check_in_transaction(SchemaRule rule) {
  const auto application_id = conn_.query_int(kApplicationIdQuery);
  if (application_id == 0) {
    if (conn_.query_int(kObjectCount) == 0) return 0;
    throw Error(errc::not_a_registry,
                "a SQLite database of another application (it has tables but no cairn "
                "application_id)");
  }
  if (application_id != kApplicationId) {
    throw Error(errc::not_a_registry,
                fmt::format("a SQLite database of another application (application_id {:#x})",
                            application_id));
  }
  if (conn_.query_int(kHasHistory) == 0) {
    throw Error(errc::corrupt, "a cairn registry without its schema_migrations table");
  }

  const auto user_version = static_cast<int>(conn_.query_int(kUserVersionQuery));
  const auto applied = history();
  const int recorded = applied.empty() ? 0 : applied.back().version;
  if (recorded > latest() || user_version > latest()) {
    throw Error(errc::schema_too_new,
                fmt::format("registry schema version {} is newer than this library's {} "
                            "(cairn {}); upgrade cairn to open it",
                            std::max(recorded, user_version), latest(), cairn::version()));
  }
  for (std::size_t i = 0; i < applied.size(); ++i) {
    if (applied[i].version != static_cast<int>(i + 1)) {
      throw Error(errc::corrupt, fmt::format("schema history is not 1..{}: step {} is version {}",
                                             applied.size(), i + 1, applied[i].version));
    }
  }
  if (recorded != user_version) {
    throw Error(errc::corrupt,
                fmt::format("schema history ({} steps) disagrees with user_version {}",
                            applied.size(), user_version));
  }
  for (const auto& step : applied) {
    const Migration& ours = chain_[static_cast<std::size_t>(step.version - 1)];
    if (step.checksum != ours.checksum) {
      throw Error(errc::migration_checksum,
                  fmt::format("migration {} was applied with checksum {} but this library's "
                              "differs ({}): an applied migration was edited",
                              step_name(ours), step.checksum, ours.checksum));
    }
  }
  if (rule == SchemaRule::exact) {
    const auto problems = schema_differences(conn_, chain_, user_version);
    if (!problems.empty()) {
      throw Error(errc::not_a_registry,
                  fmt::format("the schema is not cairn's version {}: {}{}", user_version,
                              problems.front(),
                              problems.size() > 1
                                  ? fmt::format(" (and {} more differences)", problems.size() - 1)
                                  : std::string()));
    }
  }
  return user_version;
}

std::vector<AppliedMigration> Migrator::history() {
  std::vector<AppliedMigration> out;
  if (conn_.query_int(kHasHistory) == 0) return out;
  db::Statement stmt = conn_.prepare(kSelectHistory);
  while (stmt.step()) {
    out.push_back(AppliedMigration{
        .version = static_cast<int>(stmt.column_int(0)),
        .name = std::string(stmt.column_text(1)),
        .checksum = std::string(stmt.column_text(2)),
        .applied_at = stmt.column_int(3),
        .duration_ms = stmt.column_int(4),
    });
  }
  return out;
}

std::vector<Migration> Migrator::pending(int version, std::optional<int> target) const {
  const int last = std::min(target.value_or(latest()), latest());
  std::vector<Migration> out;
  for (int v = version + 1; v <= last; ++v) out.push_back(chain_[static_cast<std::size_t>(v - 1)]);
  return out;
}

Migrator::UpResult Migrator::up(std::optional<int> target) {
  if (target && (*target < 0 || *target > latest())) {
    throw Error(errc::invalid_argument,
                fmt::format("migrate up: target version {} is outside 0..{}", *target, latest()));
  }
  UpResult result{.version = check()};
  std::vector<Migration> steps = pending(result.version, target);
  // One run at a time: a run that applied the first steps and then found the
  // rest applied by another run would report neither its steps nor the
  // version it started from, and the schema.migrated events would skip them.
  std::optional<db::RunLock> run;
  if (!steps.empty() && !conn_.path().empty()) {
    run.emplace(conn_.path(), std::chrono::milliseconds(conn_.busy_timeout_ms()));
    result.version = check();  // where the run before ours left it
    steps = pending(result.version, target);
  }
  if (!steps.empty() && before_steps) before_steps(result.version);
  for (const Migration& step : steps) {
    std::optional<int> from;
    if (&step == &steps.back()) from = result.applied_from.value_or(step.version - 1);
    if (apply(step, from) && !result.applied_from) result.applied_from = step.version - 1;
  }
  result.version = std::max(result.version, target.value_or(latest()));
  return result;
}

bool Migrator::apply(const Migration& step, std::optional<int> from) {
  const auto started = std::chrono::steady_clock::now();
  db::Transaction tx(conn_, db::Begin::immediate);
  // Another migrator may have applied this step while we waited for the lock.
  const auto current = static_cast<int>(conn_.query_int(kUserVersionQuery));
  if (current >= step.version) return false;
  if (current != step.version - 1) {
    throw Error(errc::corrupt, fmt::format("migration {}: database is at version {}",
                                           step_name(step), current));
  }
  try {
    if (step.version == 1) {
      conn_.exec(kCreateHistory);
      conn_.exec(fmt::format("PRAGMA application_id = {}", kApplicationId));
    }
    conn_.exec(step.sql);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    conn_.prepare(kInsertHistory)
        .bind_int(1, step.version)
        .bind_text(2, step.name)
        .bind_text(3, step.checksum)
        .bind_int(4, clock_())
        .bind_int(5, elapsed.count())
        .run();
    conn_.exec(fmt::format("PRAGMA user_version = {}", step.version));
    if (from && on_last_step) on_last_step(conn_, *from, step.version);
    tx.commit();
    return true;
  } catch (const Error& e) {
    throw Error(errc::migration_failed,
                fmt::format("migration {} failed, nothing of it was applied: {}", step_name(step),
                            e.what()),
                e.sqlite_code());
  }
}

}  // namespace cairn::detail
