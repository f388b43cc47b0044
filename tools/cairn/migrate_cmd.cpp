// `cairn migrate status|plan|up|verify|dry-run`. These never open a Registry
// (which would migrate on open): they work on the file through migrate.h.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cairn/migrate.h"
#include "cli.h"
#include "table.h"
#include "progress.h"

namespace cairn::cli {
namespace {

struct MigrateArgs {
  std::optional<int> to;
  bool no_backup = false;
  std::optional<std::string> format;  // status: --format table|json|jsonl
};

const std::string& db_path(const Globals& globals) {
  if (globals.db.empty()) fail_usage("no registry given: pass --db PATH or set CAIRN_DB");
  return globals.db;
}

// A usage error unless `to` is absent or a version `command` can reach:
// from the current version (already there: "up to date") to the newest
// migration this build knows. Migrations only go forward, so a target below
// the current version is a mistake, not something already done.
void check_target(const Globals& globals, const MigrateArgs& args, const char* command) {
  if (!args.to) return;
  const MigrationStatus status = migration_status(db_path(globals));
  const int to = *args.to;
  if (to >= status.current_version && to <= status.latest_version) return;
  const std::string where = "the schema is at version " + std::to_string(status.current_version) +
                            " and the newest known migration is " +
                            std::to_string(status.latest_version);
  if (to < status.current_version) {
    fail_usage(std::string(command) + " --to " + std::to_string(to) + ": " + where +
               "; migrations only go forward");
  }
  fail_usage(std::string(command) + " --to " + std::to_string(to) + ": " + where +
             "; there is no version " + std::to_string(to));
}

ExitCode run_status(const Globals& globals, const MigrateArgs& args) {
  const Format output = output_format(globals, args.format, Format::table);
  const MigrationStatus status = migration_status(db_path(globals));
  if (output == Format::json) {
    print_document(status);
    return ExitCode::ok;
  }
  if (output == Format::jsonl) {
    print_json_line(status);
    return ExitCode::ok;
  }
  using Cell = Column::Cell;
  static const std::vector<Column> columns = {{"VERSION", "version", Cell::number},
                                              {"NAME", "name"},
                                              {"STATE", "state"},
                                              {"APPLIED", "applied_at", Cell::time},
                                              {"MS", "duration_ms", Cell::number},
                                              {"CHECKSUM", "checksum_state"}};
  std::vector<nlohmann::json> rows;
  for (const auto& step : status.steps) {
    rows.push_back({{"version", step.version},
                    {"name", step.name},
                    {"state", step.applied ? "applied" : "pending"},
                    {"applied_at", step.applied_at},
                    {"duration_ms", step.duration_ms},
                    {"checksum_state", !step.applied      ? "-"
                                       : step.checksum_ok ? "ok"
                                                          : "DRIFT"}});
  }
  std::printf("schema version %d of %d\n", status.current_version, status.latest_version);
  std::cout.flush();  // printf and cout share stdout; keep their order
  print_table(columns, rows);
  return ExitCode::ok;
}

ExitCode run_plan(const Globals& globals, const MigrateArgs& args) {
  check_target(globals, args, "migrate plan");
  const auto plan = migration_plan(db_path(globals), args.to);
  if (globals.json) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : plan) {
      nlohmann::json j = step;
      j["sql"] = step.sql;
      steps.push_back(j);
    }
    print_document(steps);
    return ExitCode::ok;
  }
  if (plan.empty() && !globals.quiet) std::fprintf(stderr, "cairn: up to date\n");
  for (const auto& step : plan) {
    std::printf("-- %04d_%s\n%s\n", step.version, step.name.c_str(), step.sql.c_str());
  }
  return ExitCode::ok;
}

ExitCode run_up(const Globals& globals, const MigrateArgs& args) {
  check_target(globals, args, "migrate up");
  MigrateOptions options;
  options.to = args.to;
  options.backup_first = !args.no_backup;
  const MigrateResult result = [&] {
    Ticker ticker(globals, "migrating " + db_path(globals));
    return migrate(db_path(globals), options);
  }();
  if (globals.json) {
    print_document(result);
  } else if (!globals.quiet) {
    if (result.to_version == result.from_version) {
      std::printf("up to date at version %d\n", result.to_version);
    } else {
      std::printf("applied: version %d -> %d\n", result.from_version, result.to_version);
    }
    if (result.backup) std::printf("backup: %s\n", result.backup->c_str());
  }
  return ExitCode::ok;
}

ExitCode run_verify(const Globals& globals) {
  const SchemaCheck check = verify_schema(db_path(globals));
  if (globals.json) {
    print_document(check);
  } else {
    if (check.ok && !globals.quiet) std::printf("ok\n");
    for (const auto& problem : check.problems) std::printf("%s\n", problem.c_str());
  }
  return check.ok ? ExitCode::ok : ExitCode::failed;
}

ExitCode run_dry_run(const Globals& globals) {
  const DryRun run = [&] {
    Ticker ticker(globals, "dry run: migrating an in-memory copy of " + db_path(globals));
    return migrate_dry_run(db_path(globals));
  }();
  if (globals.json) {
    print_document(run);
    return ExitCode::ok;
  }
  std::printf("version %d -> %d (in memory, %lld ms; the file was not changed)\n", run.from_version,
              run.to_version, static_cast<long long>(run.duration_ms));
  for (const auto& name : run.added) std::printf("  + %s\n", name.c_str());
  for (const auto& name : run.altered) std::printf("  ~ %s\n", name.c_str());
  for (const auto& name : run.removed) std::printf("  - %s\n", name.c_str());
  for (const auto& [table, rows] : run.rows) {
    std::printf("  rows %-20s %lld -> %lld\n", table.c_str(), static_cast<long long>(rows.first),
                static_cast<long long>(rows.second));
  }
  return ExitCode::ok;
}

}  // namespace

void add_migrate_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto args = std::make_shared<MigrateArgs>();
  CLI::App* migrate_cmd = app.add_subcommand("migrate", "Schema migrations");
  migrate_cmd->require_subcommand(1);

  CLI::App* status = migrate_cmd->add_subcommand("status", "Applied and pending migrations");
  add_format_option(*status, args->format, Format::table);
  commands.push_back({status, [&globals, args] { return run_status(globals, *args); }});

  CLI::App* plan = migrate_cmd->add_subcommand("plan", "The SQL that `up` would run, in order");
  plan->add_option("--to", args->to, "Stop at this version");
  commands.push_back({plan, [&globals, args] { return run_plan(globals, *args); }});

  CLI::App* up = migrate_cmd->add_subcommand(
      "up", "Apply pending migrations (backing up a registry with data first)");
  up->add_option("--to", args->to, "Stop at this version");
  up->add_flag("--no-backup", args->no_backup, "Do not back up before migrating");
  commands.push_back({up, [&globals, args] { return run_up(globals, *args); }});

  CLI::App* verify = migrate_cmd->add_subcommand(
      "verify", "Exit 0 only if every checksum matches and the schema is the expected one");
  commands.push_back({verify, [&globals] { return run_verify(globals); }});

  CLI::App* dry_run = migrate_cmd->add_subcommand(
      "dry-run", "Apply pending migrations to an in-memory copy and report what would change");
  commands.push_back({dry_run, [&globals] { return run_dry_run(globals); }});
}

}  // namespace cairn::cli
