#include "migrate/on_open.h"

#include <chrono>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cairn/backup.h"
#include "cairn/error.h"
#include "db/transaction.h"
#include "migrate/migrator.h"

namespace cairn::detail {
namespace {

// Switching a new file to WAL needs a moment alone with it, and SQLite
// answers SQLITE_BUSY there without waiting (deadlock avoidance) when
// another process opens the same new file at the same time. Both steps are
// idempotent, so they are retried until the busy timeout.
int check_and_configure(db::Database& db, Migrator& migrator, int busy_timeout_ms) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_timeout_ms);
  for (;;) {
    try {
      const int version = migrator.check();
      db.configure();
      return version;
    } catch (const Error& e) {
      if (e.code() != errc::busy || std::chrono::steady_clock::now() > deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// The backup is taken holding the write lock, after looking again at the
// version: of several migrators of one file, only the first backs it up.
std::optional<std::filesystem::path> backup_before_migrating(StoreContext& ctx, int target,
                                                             const BackupFn& backup) {
  db::Database& db = ctx.open_database();
  db::Connection& writer = db.writer();
  db::Transaction hold(writer, db::Begin::immediate);
  std::optional<std::filesystem::path> path;
  const auto version = static_cast<int>(writer.query_int("PRAGMA user_version"));
  if (version > 0 && version < target) {
    const auto name = fmt::format("{}.pre-migrate-v{}", db.path().filename().string(), version);
    path = backup(db.path().parent_path() / backup_file_name(name, ctx.now()));
  }
  hold.commit();
  return path;
}

void refuse_read_only_open(const db::Database& db, int version, int target) {
  if (version == 0) {
    throw Error(errc::not_found, fmt::format("{}: the file holds no registry", db.path().string()));
  }
  if (version < target) {
    throw Error(errc::migration_failed,
                fmt::format("{}: registry schema version {} is behind this library's {}, "
                            "and a read-only open does not migrate (cairn migrate up)",
                            db.path().string(), version, target));
  }
}

}  // namespace

MigrateResult prepare_schema(StoreContext& ctx, std::optional<int> to, const BackupFn& backup) {
  db::Database& db = ctx.open_database();
  const Options& options = ctx.options();
  Migrator migrator(db.writer(), embedded_migrations(), [&ctx] { return ctx.now(); });
  const int version = check_and_configure(db, migrator, options.busy_timeout_ms);
  MigrateResult result{.from_version = version, .to_version = version};
  const int target = std::min(to.value_or(migrator.latest()), migrator.latest());
  if (options.read_only) refuse_read_only_open(db, version, target);
  if (version >= target) return result;
  if (!options.migrate_on_open && version > 0) {
    throw Error(errc::migration_failed,
                fmt::format("registry schema version {} is behind this library's {}; migrate "
                            "it (cairn migrate up) or open with migrate_on_open",
                            version, migrator.latest()));
  }
  if (version > 0 && options.backup_before_migrate && !db.in_memory()) {
    // Inside the run: of several migrators of one file, only the one that
    // migrates it backs it up.
    migrator.before_steps = [&](int from) {
      if (from > 0) result.backup = backup_before_migrating(ctx, target, backup);
    };
  }
  // schema.migrated is written in the last step's transaction: a crash or
  // an I/O error never leaves the steps applied without it. Concurrent
  // migrators: only the one that applied steps reports them.
  std::vector<Change> migrated;
  migrator.on_last_step = [&](db::Connection&, int from, int to_version) {
    if (from == 0) return;  // a new registry: nothing was migrated
    migrated = ctx.record_within([&](Writer& w) {
      w.record(Kind::registry, Op::migrated, "schema.migrated", db.path().string(), std::nullopt,
               nlohmann::json{{"from", from}, {"to", to_version}}.dump());
    });
  };
  result.to_version = migrator.up(target).version;
  if (!migrated.empty() && ctx.on_commit) ctx.on_commit(std::move(migrated));
  return result;
}

}  // namespace cairn::detail
