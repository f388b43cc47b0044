// Commands on records: get, put, rm and ls, for KIND in app, pool, block, config.
//
// Records go in and out as the JSON forms of records.h. get and put print one
// JSON document; ls prints JSON Lines, or one JSON array with --json.

#include <CLI/CLI.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/records.h"
#include "cairn/stores.h"
#include "cli.h"

namespace cairn::cli {
namespace {

enum class RecordKind { app, pool, block, config };

const std::vector<std::string> kKindNames = {"app", "pool", "block", "config"};

RecordKind record_kind(const std::string& name) {
  if (name == "app") return RecordKind::app;
  if (name == "pool") return RecordKind::pool;
  if (name == "block") return RecordKind::block;
  if (name == "config") return RecordKind::config;
  fail_usage("unknown kind \"" + name + "\" (expected app, pool, block or config)");
}

// --- get -----------------------------------------------------------------

struct GetArgs {
  std::string kind;
  std::string key;
};

ExitCode run_get(const Globals& globals, const GetArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  Registry reg = open_existing_registry(globals);
  nlohmann::json record;
  switch (kind) {
    case RecordKind::app:
      record = reg.apps().get(args.key);
      break;
    case RecordKind::pool:
      record = reg.pools().get(args.key);
      break;
    case RecordKind::block:
      record = reg.blocks().get(args.key);
      break;
    case RecordKind::config:
      record = reg.config().get(args.key);
      break;
  }
  print_document(record);
  return ExitCode::ok;
}

// --- put -----------------------------------------------------------------

struct PutArgs {
  std::string kind;
  std::optional<std::string> json;
  std::optional<Revision> expect_revision;
};

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

ExitCode run_put(const Globals& globals, const PutArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  // Read and check the input before the registry is touched.
  const nlohmann::json input = parse_json_input(read_json_text(args.json, globals));
  const Expect expect = Expect{args.expect_revision};
  Registry reg = open_existing_registry(globals);
  nlohmann::json stored;
  switch (kind) {
    case RecordKind::app:
      stored = reg.apps().put(decode<App>(input, "app"), expect);
      break;
    case RecordKind::pool:
      stored = reg.pools().put(decode<Pool>(input, "pool"), expect);
      break;
    case RecordKind::block:
      stored = reg.blocks().put(decode<MemoryBlock>(input, "block"), expect);
      break;
    case RecordKind::config:
      stored = reg.config().put(decode<ConfigEntry>(input, "config"), expect);
      break;
  }
  if (!globals.quiet) print_document(stored);
  return ExitCode::ok;
}

// --- rm ------------------------------------------------------------------

struct RmArgs {
  std::string kind;
  std::string key;
  std::optional<Revision> expect_revision;
  bool cascade = false;
};

ExitCode run_rm(const Globals& globals, const RmArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  if (args.cascade && kind != RecordKind::pool) fail_usage("rm: --cascade applies to pools only");
  const Expect expect = Expect{args.expect_revision};
  Registry reg = open_existing_registry(globals);
  bool removed = false;
  switch (kind) {
    case RecordKind::app:
      removed = reg.apps().remove(args.key, expect);
      break;
    case RecordKind::pool:
      removed = reg.pools().remove(args.key, expect, args.cascade ? Cascade::yes : Cascade::no);
      break;
    case RecordKind::block:
      removed = reg.blocks().remove(args.key, expect);
      break;
    case RecordKind::config:
      removed = reg.config().remove(args.key, expect);
      break;
  }
  // The library treats removing an absent key as success; a script asking the
  // tool to remove one most likely has the wrong key, so it hears about it.
  if (!removed) throw Error(errc::not_found, args.kind + " " + in_quotes(args.key) + " not found");
  return ExitCode::ok;
}

// --- ls ------------------------------------------------------------------

struct LsArgs {
  std::string kind;
  std::optional<std::string> pool;
  std::optional<std::string> type;
  std::string after;
  std::size_t limit = 0;
};

template <class R>
std::vector<nlohmann::json> to_json_values(const std::vector<R>& records) {
  return {records.begin(), records.end()};
}

std::vector<nlohmann::json> list_records(Registry& reg, RecordKind kind, const LsArgs& args) {
  switch (kind) {
    case RecordKind::app:
      return to_json_values(
          reg.apps().list(AppQuery{.pool = args.pool, .after = args.after, .limit = args.limit}));
    case RecordKind::pool: {
      PoolQuery query;
      if (args.type) query.type = pool_type_from_string(*args.type);
      query.after = args.after;
      query.limit = args.limit;
      return to_json_values(reg.pools().list(query));
    }
    case RecordKind::block: {
      MemoryBlockQuery query;
      query.pool = args.pool;
      if (args.type) query.type = block_type_from_string(*args.type);
      query.after = args.after;
      query.limit = args.limit;
      return to_json_values(reg.blocks().list(query));
    }
    case RecordKind::config:
      return to_json_values(
          reg.config().list(ConfigQuery{.after = args.after, .limit = args.limit}));
  }
  return {};
}

ExitCode run_ls(const Globals& globals, const LsArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  if (args.pool && kind != RecordKind::app && kind != RecordKind::block) {
    fail_usage("ls " + args.kind + ": --pool applies to app and block only");
  }
  if (args.type && kind != RecordKind::pool && kind != RecordKind::block) {
    fail_usage("ls " + args.kind + ": --type applies to pool and block only");
  }
  Registry reg = open_existing_registry(globals);
  const std::vector<nlohmann::json> records = list_records(reg, kind, args);
  if (globals.json) {
    print_document(nlohmann::json(records));
  } else {
    for (const nlohmann::json& record : records) print_json_line(record);
  }
  return ExitCode::ok;
}

// --- registration --------------------------------------------------------

// CLI11's own NonNegativeNumber prints the whole range of a double when it fails.
CLI::Validator not_negative() {
  return CLI::Validator(
      [](const std::string& value) {
        return value.rfind('-', 0) == 0 ? std::string("must not be negative") : std::string();
      },
      "", "NOT_NEGATIVE");
}

CLI::Option* add_kind(CLI::App& sub, std::string& kind) {
  return sub.add_option("kind", kind, "Record kind: app, pool, block or config")
      ->required()
      ->type_name("KIND")
      ->check(CLI::IsMember(kKindNames));
}

}  // namespace

void add_record_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  // The parsed values live as long as the commands that read them.
  auto get = std::make_shared<GetArgs>();
  CLI::App* get_cmd = app.add_subcommand("get", "Print one record as JSON");
  add_kind(*get_cmd, get->kind);
  get_cmd->add_option("key", get->key, "Id, name or config key")->required()->type_name("KEY");
  commands.push_back({get_cmd, [&globals, get] { return run_get(globals, *get); }});

  auto put = std::make_shared<PutArgs>();
  CLI::App* put_cmd =
      app.add_subcommand("put",
                         "Insert or replace a record given as JSON; print it as stored (config: "
                         "{\"key\": ..., \"value\": ...})");
  add_kind(*put_cmd, put->kind);
  put_cmd->add_option("json", put->json, "The record as JSON; absent or -: read stdin")
      ->type_name("JSON");
  put_cmd
      ->add_option("--expect-revision", put->expect_revision,
                   "Write only if the record's revision is REV (0: only if absent); else exit 4")
      ->type_name("REV")
      ->check(not_negative());
  commands.push_back({put_cmd, [&globals, put] { return run_put(globals, *put); }});

  auto rm = std::make_shared<RmArgs>();
  CLI::App* rm_cmd = app.add_subcommand("rm", "Remove a record; exit 3 if it is absent");
  add_kind(*rm_cmd, rm->kind);
  rm_cmd->add_option("key", rm->key, "Id, name or config key")->required()->type_name("KEY");
  rm_cmd
      ->add_option("--expect-revision", rm->expect_revision,
                   "Remove only if the record's revision is REV; else exit 4")
      ->type_name("REV")
      ->check(not_negative());
  rm_cmd->add_flag("--cascade", rm->cascade, "Pools: also remove the memory blocks in the pool");
  commands.push_back({rm_cmd, [&globals, rm] { return run_rm(globals, *rm); }});

  auto ls = std::make_shared<LsArgs>();
  CLI::App* ls_cmd = app.add_subcommand(
      "ls", "List records ordered by key, one JSON object per line (--json: one array)");
  add_kind(*ls_cmd, ls->kind);
  ls_cmd->add_option("--pool", ls->pool, "app, block: only those in this pool")->type_name("P");
  ls_cmd
      ->add_option("--type", ls->type,
                   "pool: local, global or encrypted; block: binary, json or stream")
      ->type_name("T");
  ls_cmd->add_option("--after", ls->after, "Only keys after K (paging)")->type_name("K");
  ls_cmd->add_option("--limit", ls->limit, "At most N records (0: all)")
      ->type_name("N")
      ->check(not_negative());
  commands.push_back({ls_cmd, [&globals, ls] { return run_ls(globals, *ls); }});
}

}  // namespace cairn::cli
