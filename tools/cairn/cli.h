// The pieces the commands of the cairn tool share: global flags, exit codes,
// output helpers and how each group of commands registers itself.
//
// Every command reads only the public API (include/cairn). A command reports
// failure by throwing cairn::Error; main() maps its code to the exit code
// (the table is at the top of main.cpp), so a command returns something other
// than ExitCode::ok only when it has already printed the outcome itself
// (`check` finding problems).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/error.h"
#include "cairn/registry.h"

namespace CLI {
class App;
}

namespace cairn::cli {

// Process exit codes. The table with their meaning is in main.cpp and EXIT_CODES.md.
enum class ExitCode : int {
  ok = 0,
  failed = 1,
  usage = 2,
  not_found = 3,
  conflict = 4,
  refused = 5,
  corrupt = 6,
  busy = 7,
};

// The exit code for a cairn::Error of this code.
ExitCode exit_code_for(errc code) noexcept;

// The global flags, filled in by the parser before any command runs.
struct Globals {
  std::string db;      // --db, else CAIRN_DB; empty when neither is given
  bool json = false;   // --json: machine-readable output
  bool quiet = false;  // --quiet: no confirmations or progress; data and errors still print
  // --busy-timeout: how long to wait for another process's write lock
  // (Options::busy_timeout_ms); empty: the library's default.
  std::optional<int> busy_timeout_ms;
};

// Throws Error(errc::invalid_argument, message): a usage error, exit code 2.
[[noreturn]] void fail_usage(const std::string& message);

// --- Registries ----------------------------------------------------------

// Opens the registry named by --db or CAIRN_DB, which must exist already: a
// typo in a path must not leave a new empty registry behind. Throws a usage
// error when no path is given or no file is there.
// Access::read_only (inspection: get, ls, stats, export) never writes to the
// file or beside it: no migration, no journal mode change, no checkpoint.
enum class Access { read_write, read_only };
Registry open_existing_registry(const Globals& globals, Access access = Access::read_write);

// Opens the registry at `path`, creating it (and missing directories) when absent.
Registry open_or_create_registry(const std::filesystem::path& path, const Globals& globals);

// --- Vocabulary (vocabulary.cpp) ----------------------------------------

// The kinds' names in messages and --help.
inline constexpr std::string_view kKindList =
    "app, pool, block (or memory_block), config, torrent, torrent-session (or torrent_session), "
    "kv, trigger or registry";

// A kind by any of its names; a usage error naming `command` otherwise.
Kind parse_kind(const std::string& name, std::string_view command);
// A usage error naming `command` unless `topic` is one the registry publishes.
void check_topic(const std::string& topic, std::string_view command);

// --- Output --------------------------------------------------------------
// Data goes to stdout, diagnostics to stderr. Strings that are not valid UTF-8
// are printed with U+FFFD in place of the bad bytes instead of failing.

// One JSON document, indented by two spaces (get, put, ls --json, stats --json).
void print_document(const nlohmann::json& value);

// One JSON value on one line (JSON Lines: ls, demo --json).
void print_json_line(const nlohmann::json& value);

// The members of a JSON object as aligned `key: value` lines, each line
// starting with `indent`. Members of nested objects get dotted keys
// ("records.apps"). Keys named in `first` come first, in that order; the
// others follow alphabetically. Strings print without quotes ("" when empty).
void print_fields(const nlohmann::json& object, std::initializer_list<std::string_view> first,
                  std::string_view indent = "");

// `"text"`: how messages show keys and paths.
std::string in_quotes(std::string_view text);

// `cairn: error: <message>` on stderr.
void print_error(std::string_view message);

// --- JSON input ----------------------------------------------------------

// Input nested deeper than this is refused before it is built. The library's
// own limit for free-form fields (Options::max_json_depth) is lower; this one
// only keeps hostile input from costing the tool its stack or memory.
inline constexpr int kMaxInputDepth = 64;

// Larger input is refused rather than read into memory. Most records are
// small (a free-form field is at most 64 KiB by default); the largest is a
// torrent carrying 16 MiB of metainfo, about 22 MiB as base64 JSON.
inline constexpr std::size_t kMaxInputBytes = 32u << 20;

// All of stdin as bytes, at most kMaxInputBytes (a usage error beyond).
// `what` names the input in the hint printed when stdin is a terminal
// ("JSON", "the value").
std::string read_stdin(const Globals& globals, std::string_view what);

// The JSON text of a command: `argument` itself, or stdin when it is absent or "-".
// Stdin on a terminal ends at Ctrl-D or as soon as the text is one whole JSON
// object or array, so one Ctrl-D ends it even after a partial line.
std::string read_json_text(const std::optional<std::string>& argument, const Globals& globals);

// Parses JSON text. Throws a usage error that names the problem for invalid
// JSON, nesting deeper than kMaxInputDepth, or an object naming one key twice
// (`duplicate key "id"`), at any depth.
nlohmann::json parse_json_input(std::string_view text);

// --- Commands ------------------------------------------------------------

// A parsed subcommand and what runs it.
struct Command {
  CLI::App* subcommand;
  std::function<ExitCode()> run;
};

// Each adds its subcommands to `app`. `globals` must outlive the commands.
void add_registry_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_record_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_demo_command(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_watch_command(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_backup_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_migrate_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
void add_transfer_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands);
// `completion bash|zsh` and `man` (completion_cmd.cpp) read the whole tree
// of `app` when they run, so they may be added before or after the others.
void add_completion_commands(CLI::App& app, std::vector<Command>& commands);

}  // namespace cairn::cli
