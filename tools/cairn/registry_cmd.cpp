// Commands about the registry as a whole: init, stats, check.

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "cairn/migrate.h"
#include "cli.h"
#include "table.h"

namespace cairn::cli {
namespace {

// Tool writes are recorded as this actor in the change log.
Options tool_options(const Globals& globals) {
  Options options;
  options.actor = "cairn-cli";
  if (globals.busy_timeout_ms) options.busy_timeout_ms = *globals.busy_timeout_ms;
  return options;
}

const std::string& required_db_path(const Globals& globals) {
  if (globals.db.empty()) fail_usage("no registry given: pass --db PATH or set CAIRN_DB");
  return globals.db;
}

ExitCode run_init(const Globals& globals) {
  Registry reg = open_or_create_registry(required_db_path(globals), globals);
  if (globals.quiet) return ExitCode::ok;
  nlohmann::json summary = {{"path", reg.path().string()},
                            {"schema_version", reg.schema_version()},
                            {"revision", reg.revision()}};
  if (globals.json) {
    print_document(summary);
  } else {
    print_fields(summary, {"path", "schema_version", "revision"});
  }
  return ExitCode::ok;
}

// The table of stats is its `field: value` lines, on a terminal or not: it
// was the only text form before --format, and scripts may read it.
ExitCode run_stats(const Globals& globals, const std::optional<std::string>& format) {
  const Format output = output_format(globals, format, Format::table);
  Registry reg = open_existing_registry(globals, Access::read_only);
  nlohmann::json stats = reg.stats();
  if (output == Format::json) {
    print_document(stats);
  } else if (output == Format::jsonl) {
    print_json_line(stats);
  } else {
    // Stats' fields in the order the struct declares them; any others after.
    print_fields(
        stats, {"path", "schema_version", "database_bytes", "wal_bytes", "page_size", "page_count",
                "freelist_pages", "records.apps", "records.pools", "records.memory_blocks",
                "records.config_entries", "last_revision", "oldest_revision", "statements_cached"});
  }
  return ExitCode::ok;
}

ExitCode run_check(const Globals& globals) {
  const std::string& path = required_db_path(globals);
  const SchemaCheck result = check_registry(path);
  if (globals.json) {
    print_document({{"ok", result.ok}, {"problems", result.problems}});
  } else if (result.ok) {
    if (!globals.quiet) std::cout << "ok\n";
  } else {
    for (const std::string& problem : result.problems) std::cout << problem << '\n';
  }
  if (result.ok) return ExitCode::ok;
  print_error("check found " + std::to_string(result.problems.size()) + " problem(s) in " + path);
  return ExitCode::corrupt;
}

}  // namespace

Registry open_existing_registry(const Globals& globals, Access access) {
  const std::string& path = required_db_path(globals);
  std::error_code ec;  // when the check itself fails, Registry::open reports why
  if (!std::filesystem::exists(path, ec) && !ec) {
    fail_usage("no registry at " + path + " (create one with: cairn --db " + path + " init)");
  }
  Options options = tool_options(globals);
  options.create_if_missing = false;
  options.read_only = access == Access::read_only;
  return Registry::open(path, options);
}

Registry open_or_create_registry(const std::filesystem::path& path, const Globals& globals) {
  return Registry::open(path, tool_options(globals));
}

void add_registry_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  CLI::App* init = app.add_subcommand(
      "init", "Create the registry (or open and migrate it); print its path and schema version");
  commands.push_back({init, [&globals] { return run_init(globals); }});

  CLI::App* stats = app.add_subcommand("stats", "Print the registry's statistics");
  auto stats_format = std::make_shared<std::optional<std::string>>();
  add_format_option(*stats, *stats_format, Format::table);
  commands.push_back(
      {stats, [&globals, stats_format] { return run_stats(globals, *stats_format); }});

  CLI::App* check = app.add_subcommand(
      "check", "Check the file without writing to it: integrity, CHECK constraints, foreign keys and "
      "schema drift; print ok, or the problems (exit 6)");
  commands.push_back({check, [&globals] { return run_check(globals); }});
}

}  // namespace cairn::cli
