// `cairn backup create|list|verify|prune` and `cairn restore`.

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cairn/backup.h"
#include "cli.h"
#include "paths.h"
#include "table.h"
#include "progress.h"

namespace cairn::cli {
namespace {

struct BackupArgs {
  std::optional<std::string> dest;  // create: a file, or a directory to name one in
  std::optional<std::string> dir;   // list, prune
  std::string file;                 // verify
  std::size_t keep = 0;             // prune
  bool dry_run = false;             // prune
  bool overwrite = false;           // create
  std::optional<std::string> format;  // list: --format table|json|jsonl
};

struct RestoreArgs {
  std::string backup;
  std::optional<std::string> to;
  bool force = false;
  bool discard_replaced = false;
};

// Backups go to <db's directory>/backups unless told otherwise.
std::filesystem::path default_backup_dir(const Globals& globals) {
  const std::filesystem::path db(globals.db);
  return (db.has_parent_path() ? db.parent_path() : std::filesystem::path(".")) / "backups";
}

Timestamp now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A progress bar on a terminal, one line per quarter otherwise.
std::function<bool(std::int64_t, std::int64_t)> progress_reporter(const Globals& globals) {
  if (globals.quiet) return {};
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  auto last_quarter = std::make_shared<int>(-1);
  return [tty, last_quarter](std::int64_t done, std::int64_t total) {
    const int percent = total > 0 ? static_cast<int>(100 * done / total) : 100;
    if (tty) {
      const int width = 40, filled = percent * width / 100;
      std::fprintf(stderr, "\r[%s%s] %3d%%", std::string(filled, '#').c_str(),
                   std::string(width - filled, ' ').c_str(), percent);
      if (done >= total) std::fputc('\n', stderr);
    } else if (percent / 25 != *last_quarter) {
      *last_quarter = percent / 25;
      std::fprintf(stderr, "cairn: backup %d%% (%lld of %lld pages)\n", percent,
                   static_cast<long long>(done), static_cast<long long>(total));
    }
    return true;
  };
}

void print_backup(const Globals& globals, const BackupInfo& info) {
  nlohmann::json j = info;
  j["path"] = info.path.string();
  if (globals.json) {
    print_document(j);
  } else if (!globals.quiet) {
    print_fields(j, {"path", "size", "sha256", "schema_version", "last_revision", "created_at"});
  }
}

ExitCode run_create(const Globals& globals, const BackupArgs& args) {
  Registry reg = open_existing_registry(globals);
  std::filesystem::path dest =
      args.dest ? std::filesystem::path(*args.dest) : default_backup_dir(globals);
  check_backup_dest(dest);
  std::error_code ec;
  if (!args.dest || std::filesystem::is_directory(dest, ec) || args.dest->ends_with('/')) {
    dest /= backup_file_name(std::filesystem::path(globals.db).stem().string(), now_ms());
  }
  BackupOptions options;
  options.progress = progress_reporter(globals);
  options.overwrite = args.overwrite;
  print_backup(globals, reg.backup(dest, options));
  return ExitCode::ok;
}

// One row per backup: the file, its manifest's facts, and whether it verifies.
const std::vector<Column>& backup_columns() {
  using Cell = Column::Cell;
  static const std::vector<Column> columns = {
      {"PATH", "path", Cell::text, 60, true},      {"SIZE", "size", Cell::number},
      {"REVISION", "last_revision", Cell::number}, {"SCHEMA", "schema_version", Cell::number},
      {"CREATED", "created_at", Cell::time},       {"STATUS", "status", Cell::text, 80}};
  return columns;
}

ExitCode run_list(const Globals& globals, const BackupArgs& args) {
  const Format output = output_format(globals, args.format, Format::table);
  const std::filesystem::path dir = args.dir ? std::filesystem::path(*args.dir) : default_backup_dir(globals);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& listing : list_backups(dir)) {
    nlohmann::json row = listing.info;
    row["path"] = listing.info.path.string();
    row["verified"] = listing.verified;
    if (!listing.verified) row["problem"] = listing.problem;
    rows.push_back(row);
  }
  if (output == Format::json) {
    print_document(rows);
    return ExitCode::ok;
  }
  if (output == Format::jsonl) {
    for (const auto& row : rows) print_json_line(row);
    return ExitCode::ok;
  }
  std::vector<nlohmann::json> table_rows;
  for (nlohmann::json row : rows) {
    row["status"] =
        row["verified"].get<bool>() ? "verified" : "NOT VERIFIED: " + row.value("problem", "");
    table_rows.push_back(std::move(row));
  }
  print_table(backup_columns(), table_rows);
  return ExitCode::ok;
}

ExitCode run_verify(const Globals& globals, const BackupArgs& args) {
  const BackupInfo info = [&] {
    Ticker ticker(globals, "verifying " + args.file);
    return verify_backup(args.file);
  }();
  print_backup(globals, info);
  return ExitCode::ok;
}

ExitCode run_prune(const Globals& globals, const BackupArgs& args) {
  const std::filesystem::path dir = args.dir ? std::filesystem::path(*args.dir) : default_backup_dir(globals);
  nlohmann::json removed = nlohmann::json::array();
  const auto report = [&globals](const BackupListing& listing) {
    if (!globals.quiet) {
      std::cerr << "cairn: kept " << in_quotes(listing.info.path.string())
                << ", which does not verify: " << listing.problem << '\n';
    }
  };
  std::vector<std::filesystem::path> paths;
  {
    // The ticker is stopped before a kept backup is reported, so the two
    // never share a line.
    std::vector<BackupListing> kept;
    {
      Ticker ticker(globals, "pruning " + dir.string());
      paths = prune_backups(dir, args.keep, args.dry_run,
                            [&kept](const BackupListing& listing) { kept.push_back(listing); });
    }
    for (const BackupListing& listing : kept) report(listing);
  }
  for (const auto& path : paths) removed.push_back(path.string());
  if (globals.json) {
    print_document({{args.dry_run ? "would_remove" : "removed", removed}});
  } else if (!globals.quiet) {
    const char* verb = args.dry_run ? "would remove" : "removed";
    for (const auto& path : removed) std::printf("%s %s\n", verb, path.get<std::string>().c_str());
  }
  return ExitCode::ok;
}

ExitCode run_restore(const Globals& globals, const RestoreArgs& args) {
  const std::string target = args.to ? *args.to : globals.db;
  if (target.empty()) fail_usage("no target: pass --to DB, --db PATH or set CAIRN_DB");
  check_restore_target(target);
  RestoreOptions options;
  options.force = args.force;
  options.keep_replaced = !args.discard_replaced;
  RestoreResult result;
  try {
    Ticker ticker(globals, "restoring " + target);
    result = restore(args.backup, target, options);
  } catch (const Error& e) {
    // The library's "(force replaces it)" is RestoreOptions::force: the flag here.
    const std::string message = e.what();
    const std::string hint = "(force replaces it)";
    const auto at = message.find(hint);
    if (e.code() != errc::restore_refused || at == std::string::npos) throw;
    throw Error(e.code_value(), message.substr(0, at) + "(--force replaces it)" +
                                    message.substr(at + hint.size()));
  }
  nlohmann::json j = {{"target", result.target.string()},
                      {"backup_schema_version", result.backup_schema_version},
                      {"schema_version", result.schema_version},
                      {"last_revision", result.last_revision}};
  if (result.replaced_kept_as) j["replaced_kept_as"] = result.replaced_kept_as->string();
  if (globals.json) {
    print_document(j);
  } else if (!globals.quiet) {
    print_fields(j, {"target", "last_revision", "schema_version"});
  }
  return ExitCode::ok;
}

}  // namespace

void add_backup_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* backup = app.add_subcommand("backup", "Online backups: create, list, verify, prune");
  backup->require_subcommand(1);

  CLI::App* create = backup->add_subcommand(
      "create", "Back up the registry online (default: into <db dir>/backups/)");
  create->add_option("DEST", args->dest, "A backup file, or a directory to name one in");
  create->add_flag("--overwrite", args->overwrite,
                   "Replace an existing backup of that name (kept as <DEST>.previous until the "
                   "new one is in place)");
  commands.push_back({create, [&globals, args] { return run_create(globals, *args); }});

  CLI::App* list = backup->add_subcommand("list", "List backups with their manifest facts");
  list->add_option("DIR", args->dir, "The backup directory (default: <db dir>/backups)");
  add_format_option(*list, args->format, Format::table);
  commands.push_back({list, [&globals, args] { return run_list(globals, *args); }});

  CLI::App* verify = backup->add_subcommand("verify", "Verify a backup file (exit 5 if it fails)");
  verify->add_option("FILE", args->file, "The backup file")->required();
  commands.push_back({verify, [&globals, args] { return run_verify(globals, *args); }});

  CLI::App* prune = backup->add_subcommand("prune", "Keep the newest N backups that verify");
  prune->add_option("--keep", args->keep, "How many verified backups to keep (at least 1)")
      ->required()
      ->check(CLI::PositiveNumber);
  prune->add_flag("--dry-run", args->dry_run, "Print what would be removed; remove nothing");
  prune->add_option("DIR", args->dir, "The backup directory (default: <db dir>/backups)");
  commands.push_back({prune, [&globals, args] { return run_prune(globals, *args); }});

  auto restore_args = std::make_shared<RestoreArgs>();
  CLI::App* restore_cmd = app.add_subcommand(
      "restore", "Replace a registry with a verified backup (the replaced file is kept aside)");
  restore_cmd->add_option("FILE", restore_args->backup, "The backup file")->required();
  restore_cmd->add_option("--to", restore_args->to, "The registry to replace (default: --db)");
  restore_cmd->add_flag("--force", restore_args->force,
                        "Replace a target that is not a cairn registry");
  restore_cmd->add_flag("--discard-replaced", restore_args->discard_replaced,
                        "Do not keep the replaced database as <db>.before-restore-<time>");
  commands.push_back(
      {restore_cmd, [&globals, restore_args] { return run_restore(globals, *restore_args); }});
}

}  // namespace cairn::cli
