// cairn: the command-line tool for a cairn registry.
//
//   cairn [--db PATH] [--json] [--quiet] [--busy-timeout MS] COMMAND
//
// Exit codes (also in EXIT_CODES.md, for the README). Scripts may rely on them.
//
//   code  meaning          raised by
//   0     ok
//   1     failed           any other cairn::Error (io_error, disk_full, migration_failed,
//                          compacted, backup_failed, closed), any other exception
//   2     usage error      bad arguments, bad JSON input, no --db nor CAIRN_DB,
//                          errc::invalid_argument
//   3     not found        errc::not_found (get of an absent key, rm of an absent key)
//   4     conflict         errc::conflict, errc::already_exists, errc::constraint
//   5     refused          errc::not_a_registry, schema_too_new, migration_checksum,
//                          restore_refused, read_only
//   6     corrupt          errc::corrupt, and `check` finding problems
//   7     busy             errc::busy (the message names the registry file)
//
// Data goes to stdout; diagnostics go to stderr as `cairn: error: <message>`.
// No exception leaves main().

#include <CLI/CLI.hpp>
#include <algorithm>
#include <exception>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "cairn/error.h"
#include "cairn/registry.h"
#include "cli.h"
#include "paths.h"

namespace cairn::cli {

ExitCode exit_code_for(errc code) noexcept {
  switch (code) {
    case errc::ok:  // an Error always reports a failure, whatever its code says
      return ExitCode::failed;
    case errc::invalid_argument:
      return ExitCode::usage;
    case errc::not_found:
      return ExitCode::not_found;
    case errc::conflict:
    case errc::already_exists:
    case errc::constraint:
      return ExitCode::conflict;
    case errc::not_a_registry:
    case errc::schema_too_new:
    case errc::migration_checksum:
    case errc::restore_refused:
    case errc::read_only:
      return ExitCode::refused;
    case errc::corrupt:
      return ExitCode::corrupt;
    case errc::busy:
      return ExitCode::busy;
    case errc::io_error:
    case errc::disk_full:
    case errc::migration_failed:
    case errc::compacted:
    case errc::backup_failed:
    case errc::closed:
      return ExitCode::failed;
  }
  return ExitCode::failed;  // a code newer than this table
}

void fail_usage(const std::string& message) { throw Error(errc::invalid_argument, message); }

namespace {

int to_int(ExitCode code) { return static_cast<int>(code); }

// A lock held past the busy timeout is another process's doing: the message
// names the registry file, so that the user can find who holds it, and how
// long we waited. (The library's message may name only a backup or a step.)
std::string busy_message(const Error& e, const Globals& globals) {
  const int waited_ms = globals.busy_timeout_ms.value_or(Options{}.busy_timeout_ms);
  std::string message = e.what();
  if (!globals.db.empty() && message.find(globals.db) == std::string::npos) {
    message = globals.db + ": " + message;
  }
  return message + "; another process held the registry's write lock for more than " +
         std::to_string(waited_ms) + " ms (see --busy-timeout)";
}

ExitCode run_command(const Command& command, const Globals& globals) {
  try {
    return command.run();
  } catch (const Error& e) {
    if (e.code_value() != errc::busy) throw;
    throw Error(errc::busy, busy_message(e, globals), e.sqlite_code());
  }
}

// Parses the command line and runs the one subcommand it names.
int run(int argc, char** argv) {
  Globals globals;
  CLI::App app{
      "cairn: inspect and edit a cairn registry (apps, pools, memory blocks, config, torrents, "
      "key-value entries)",
      "cairn"};
  app.set_version_flag("--version", std::string("cairn ") + cairn::version());
  app.footer(
      "Exit codes: 0 ok, 1 failed, 2 usage error, 3 not found, 4 conflict, 5 refused,\n"
      "            6 corrupt, 7 busy (see tools/cairn/EXIT_CODES.md)");
  app.require_subcommand(1);
  // Global flags are accepted after the subcommand too: `cairn ls app --json`.
  app.fallthrough();
  app.add_option("--db", globals.db, "Registry file (default: $CAIRN_DB)")
      ->envname("CAIRN_DB")
      ->type_name("PATH");
  app.add_flag("--json", globals.json, "Machine-readable output (JSON)");
  app.add_flag("--quiet,-q", globals.quiet,
               "No confirmations or progress; data and errors still print");
  app.add_option("--busy-timeout", globals.busy_timeout_ms,
                 "How long to wait for another process's write lock before exit 7 "
                 "(default: 5000)")
      ->type_name("MS")
      ->check(CLI::Range(0, std::numeric_limits<int>::max()));

  std::vector<Command> commands;
  add_registry_commands(app, globals, commands);
  add_demo_command(app, globals, commands);
  add_record_commands(app, globals, commands);
  add_watch_command(app, globals, commands);
  add_backup_commands(app, globals, commands);
  add_migrate_commands(app, globals, commands);
  add_transfer_commands(app, globals, commands);
  add_completion_commands(app, commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // `cairn foo`: CLI11 says only that a subcommand is required; name it.
    const std::vector<std::string> rest = app.remaining();
    const bool any_command = std::any_of(commands.begin(), commands.end(),
                                         [](const Command& c) { return c.subcommand->parsed(); });
    if (!any_command && !rest.empty() && !rest.front().starts_with("-")) {
      print_error("unknown command " + in_quotes(rest.front()) + " (see cairn --help)");
    } else {
      print_error(std::string(e.what()) + " (see cairn --help)");
    }
    return to_int(ExitCode::usage);
  }

  if (!globals.db.empty()) check_db_path(globals.db);  // paths.h: no link, FIFO or directory
  for (const Command& command : commands) {
    if (command.subcommand->parsed()) return to_int(run_command(command, globals));
  }
  print_error("no command given (see cairn --help)");
  return to_int(ExitCode::usage);
}

}  // namespace
}  // namespace cairn::cli

int main(int argc, char** argv) {
  using cairn::cli::ExitCode;
  using cairn::cli::print_error;
  int code = static_cast<int>(ExitCode::failed);
  try {
    code = cairn::cli::run(argc, argv);
  } catch (const cairn::Error& e) {
    print_error(e.what());
    code = static_cast<int>(cairn::cli::exit_code_for(e.code_value()));
  } catch (const std::exception& e) {
    print_error(e.what());
  } catch (...) {
    print_error("unknown failure");
  }
  // Output that never arrived (a full disk behind a redirect) is a failure too.
  std::cout.flush();
  if (!std::cout && code == 0) {
    print_error("cannot write to stdout");
    code = static_cast<int>(ExitCode::failed);
  }
  return code;
}
