// What the record commands (get, put, rm, ls) share between records_cmd.cpp,
// which parses them and handles the kinds given as one JSON record (app,
// pool, block, config, torrent, torrent-session), and kv_trigger_cmd.cpp,
// which handles the two kinds that differ: kv (raw value bytes, versions,
// TTL) and trigger (in the memory of one process).
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.h"

namespace cairn::cli {

// The parsed command lines. `operands` are the positional arguments after
// KIND; how many each kind takes is checked with expect_operands().
struct GetArgs {
  std::string kind{};
  std::vector<std::string> operands{};
  bool raw = false;  // kv: the value's bytes instead of the entry's JSON
};

struct PutArgs {
  std::string kind{};
  std::vector<std::string> operands{};
  std::optional<Revision> expect_revision{};
  std::optional<std::int64_t> expect_version{};  // kv
  std::optional<std::int64_t> ttl_ms{};          // kv
};

struct RmArgs {
  std::string kind{};
  std::vector<std::string> operands{};
  std::optional<Revision> expect_revision{};
  std::optional<std::int64_t> expect_version{};  // kv
  bool cascade = false;                          // pool
};

struct LsArgs {
  std::string kind{};
  std::vector<std::string> operands{};
  std::optional<std::string> pool{};
  std::optional<std::string> type{};
  std::optional<std::string> state{};   // torrent
  std::optional<std::string> prefix{};  // kv
  std::string after{};
  std::size_t limit = 0;
  std::optional<std::string> format{};  // --format table|json|jsonl (table.h)
};

// Fails with a usage error unless `operands` holds `shape`'s number of
// words, or one fewer when the last is in brackets: shape "NS KEY [VALUE|-]"
// takes 2 or 3. `command` ("get kv") names the command in the message.
void expect_operands(std::string_view command, const std::vector<std::string>& operands,
                     std::string_view shape);

// The record of type R that `input` describes. Throws a usage error when the
// input is not an object or a field has the wrong type.
template <class R>
R decode(const nlohmann::json& input, std::string_view kind) {
  if (!input.is_object()) {
    fail_usage(std::string(kind) + ": expected a JSON object, got " + input.type_name());
  }
  try {
    return input.get<R>();
  } catch (const nlohmann::json::exception& e) {
    fail_usage(std::string(kind) + ": " + e.what());
  }
}

// What rm prints once `removed` (the record as it was, read in the removal's
// transaction) is gone: `removed app "render-1" (revision 7)`, and a line per
// memory block a pool's --cascade removed with it; with --json one object
// {kind, key, revision, record[, cascaded: [{kind, key, revision, record}]]};
// nothing with --quiet. `name` is how messages name the record (`app
// "render-1"`, `kv "ns/key"`); the removal's revision and the cascaded blocks
// come from the change log after `before`, the revision read before the
// transaction began.
void print_removal(const Globals& globals, const Registry& reg, Kind kind, const std::string& key,
                   const std::string& name, Revision before, const nlohmann::json& removed);

// ls output: one JSON line per record, or one JSON array with --json.
// ls output: a table on a terminal (the columns of record_columns()), one
// JSON line per record when piped, or as --format / --json say.
void print_records(const Globals& globals, const LsArgs& args,
                   const std::vector<nlohmann::json>& records);

// kv: get kv NS KEY [--raw], put kv NS KEY [VALUE|-], rm kv NS KEY, ls kv NS.
ExitCode run_get_kv(const Globals& globals, const GetArgs& args);
ExitCode run_put_kv(const Globals& globals, const PutArgs& args);
ExitCode run_rm_kv(const Globals& globals, const RmArgs& args);
ExitCode run_ls_kv(const Globals& globals, const LsArgs& args);

// trigger: get trigger ID, put trigger [JSON|-], rm trigger ID, ls trigger.
// Each prints a note on stderr (unless --quiet) that triggers live in the
// memory of one process, so a command only ever sees its own.
ExitCode run_get_trigger(const Globals& globals, const GetArgs& args);
ExitCode run_put_trigger(const Globals& globals, const PutArgs& args);
ExitCode run_rm_trigger(const Globals& globals, const RmArgs& args);
ExitCode run_ls_trigger(const Globals& globals, const LsArgs& args);

}  // namespace cairn::cli
