// The operator's side of migrations (migrate.h): status, plan, verify and
// dry-run. `migrate` itself lives in registry.cpp, where opening does it.
#include <chrono>

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/migrate.h"
#include "db/files.h"
#include "db/online_copy.h"
#include "migrate/migrator.h"
#include "migrate/schema.h"

namespace cairn {
namespace detail {
namespace {

// Opens an existing registry file for reading only: never creates it, never
// writes to it.
db::Connection open_existing(const std::filesystem::path& path) {
  switch (db::inspect_file(path)) {
    case db::FileKind::missing:
      throw Error(errc::not_found, fmt::format("{}: no such registry", path.string()));
    case db::FileKind::not_regular:
      throw Error(errc::not_a_registry, fmt::format("{}: not a regular file", path.string()));
    case db::FileKind::other:
      throw Error(errc::not_a_registry,
                  fmt::format("{}: not a SQLite database (bad header)", path.string()));
    case db::FileKind::empty:
    case db::FileKind::sqlite:
      break;
  }
  return db::Connection(path, db::Connection::Mode::read_only, 5000);
}

Timestamp no_clock() { return 0; }

std::string quote_identifier(std::string_view identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

std::int64_t row_count(db::Connection& conn, const std::string& table) {
  const std::string sql = "SELECT count(*) FROM " + quote_identifier(table);
  try {
    db::Statement stmt = conn.prepare_once(sql);
    return stmt.step() ? stmt.column_int(0) : 0;
  } catch (const Error&) {
    return 0;  // a table that cannot be counted is reported by the schema check
  }
}

std::map<std::string, std::int64_t> row_counts(db::Connection& conn, const SchemaObjects& schema) {
  std::map<std::string, std::int64_t> out;
  for (const auto& [key, sql] : schema) {
    if (key.starts_with("table ")) out[key.substr(6)] = row_count(conn, key.substr(6));
  }
  return out;
}

}  // namespace

}  // namespace detail

MigrationStatus migration_status(const std::filesystem::path& path) {
  db::Connection conn = detail::open_existing(path);
  const auto& chain = detail::embedded_migrations();
  detail::Migrator migrator(conn, chain, detail::no_clock);
  MigrationStatus status;
  status.latest_version = migrator.latest();
  // check() identifies the file first; drift it refuses, status reports.
  bool drift = false;
  try {
    status.current_version = migrator.check(detail::SchemaRule::history_only);
  } catch (const Error& e) {
    if (e.code() != errc::migration_checksum) throw;
    drift = true;
  }
  const auto applied = migrator.history();
  if (drift) status.current_version = applied.empty() ? 0 : applied.back().version;
  for (const auto& step : applied) {
    const auto& ours = chain[static_cast<std::size_t>(step.version - 1)];
    status.steps.push_back(MigrationStep{.version = step.version,
                                         .name = step.name,
                                         .checksum = step.checksum,
                                         .applied = true,
                                         .applied_at = step.applied_at,
                                         .duration_ms = step.duration_ms,
                                         .checksum_ok = step.checksum == ours.checksum,
                                         .sql = ours.sql});
  }
  for (const auto& step : migrator.pending(status.current_version)) {
    status.steps.push_back(MigrationStep{
        .version = step.version, .name = step.name, .checksum = step.checksum, .sql = step.sql});
  }
  return status;
}

std::vector<MigrationStep> migration_plan(const std::filesystem::path& path,
                                          std::optional<int> to) {
  db::Connection conn = detail::open_existing(path);
  detail::Migrator migrator(conn, detail::embedded_migrations(), detail::no_clock);
  std::vector<MigrationStep> plan;
  for (const auto& step : migrator.pending(migrator.check(), to)) {
    plan.push_back(MigrationStep{
        .version = step.version, .name = step.name, .checksum = step.checksum, .sql = step.sql});
  }
  return plan;
}

SchemaCheck verify_schema(const std::filesystem::path& path) {
  db::Connection conn = detail::open_existing(path);
  const auto& chain = detail::embedded_migrations();
  detail::Migrator migrator(conn, chain, detail::no_clock);
  SchemaCheck check;
  int version = 0;
  try {
    version = migrator.check(detail::SchemaRule::history_only);
  } catch (const Error& e) {
    if (e.code() != errc::migration_checksum) throw;
    check.problems.push_back(e.what());
    const auto applied = migrator.history();
    version = applied.empty() ? 0 : applied.back().version;
  }
  for (auto& problem : detail::schema_differences(conn, chain, version)) {
    check.problems.push_back(std::move(problem));
  }
  check.ok = check.problems.empty();
  return check;
}

SchemaCheck check_registry(const std::filesystem::path& path) {
  SchemaCheck check = verify_schema(path);
  db::Connection conn = detail::open_existing(path);
  {
    db::Statement stmt = conn.prepare("PRAGMA integrity_check");
    while (stmt.step()) {
      if (stmt.column_text(0) != "ok") check.problems.emplace_back(stmt.column_text(0));
    }
  }
  {
    db::Statement stmt = conn.prepare("PRAGMA foreign_key_check");
    while (stmt.step()) {
      check.problems.push_back(fmt::format("foreign key: row {} of table {} names a missing row "
                                           "of {}",
                                           stmt.column_int(1), stmt.column_text(0),
                                           stmt.column_text(2)));
    }
  }
  check.ok = check.problems.empty();
  return check;
}

DryRun migrate_dry_run(const std::filesystem::path& path) {
  const auto started = std::chrono::steady_clock::now();
  db::Connection source = detail::open_existing(path);
  auto mem_owner = db::Connection::memory();
  db::Connection& mem = *mem_owner;
  db::copy_database(source, mem);
  detail::Migrator migrator(mem, detail::embedded_migrations(), detail::no_clock);
  DryRun run;
  run.from_version = migrator.check();
  const auto before = detail::schema_objects(mem);
  const auto rows_before = detail::row_counts(mem, before);
  run.to_version = migrator.up().version;
  const auto after = detail::schema_objects(mem);
  const auto rows_after = detail::row_counts(mem, after);
  for (const auto& [key, sql] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      run.added.push_back(key);
    } else if (it->second != sql) {
      run.altered.push_back(key);
    }
  }
  for (const auto& [key, sql] : before) {
    if (!after.contains(key)) run.removed.push_back(key);
  }
  for (const auto& [table, n] : rows_after) {
    auto it = rows_before.find(table);
    run.rows[table] = {it == rows_before.end() ? 0 : it->second, n};
  }
  run.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
  return run;
}

void to_json(nlohmann::json& j, const MigrationStep& s) {
  j = nlohmann::json{{"version", s.version},         {"name", s.name},
                     {"checksum", s.checksum},       {"applied", s.applied},
                     {"applied_at", s.applied_at},   {"duration_ms", s.duration_ms},
                     {"checksum_ok", s.checksum_ok}};
}

void to_json(nlohmann::json& j, const MigrationStatus& s) {
  j = nlohmann::json{{"current_version", s.current_version},
                     {"latest_version", s.latest_version},
                     {"migrations", s.steps}};
}

void to_json(nlohmann::json& j, const MigrateResult& r) {
  j = nlohmann::json{{"from_version", r.from_version}, {"to_version", r.to_version}};
  if (r.backup) j["backup"] = r.backup->string();
}

void to_json(nlohmann::json& j, const SchemaCheck& c) {
  j = nlohmann::json{{"ok", c.ok}, {"problems", c.problems}};
}

void to_json(nlohmann::json& j, const DryRun& d) {
  nlohmann::json rows = nlohmann::json::object();
  for (const auto& [table, counts] : d.rows) {
    rows[table] = {{"before", counts.first}, {"after", counts.second}};
  }
  j = nlohmann::json{{"from_version", d.from_version}, {"to_version", d.to_version},
                     {"added", d.added},               {"altered", d.altered},
                     {"removed", d.removed},           {"rows", rows},
                     {"duration_ms", d.duration_ms}};
}

}  // namespace cairn
