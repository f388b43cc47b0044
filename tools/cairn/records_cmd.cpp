// Commands on records: get, put, rm and ls, for KIND in app, pool, block,
// config, torrent, torrent-session, kv and trigger.
//
// Records go in and out as the JSON forms of records.h. get and put print one
// JSON document; ls prints a table on a terminal and JSON Lines when piped
// (--format table|json|jsonl; --json: one JSON array). This
// file parses the commands and handles the kinds that are one JSON record
// named by one key; kv and trigger are in kv_trigger_cmd.cpp.

#include "records_cmd.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cstddef>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/events.h"
#include "cairn/records.h"
#include "cairn/stores.h"
#include "cairn/tx.h"
#include "cli.h"
#include "table.h"

namespace cairn::cli {
namespace {

enum class RecordKind { app, pool, block, config, torrent, torrent_session, kv, trigger };

RecordKind record_kind(const std::string& name) {
  switch (parse_kind(name, "kind")) {
    case Kind::app: return RecordKind::app;
    case Kind::pool: return RecordKind::pool;
    case Kind::memory_block: return RecordKind::block;
    case Kind::config: return RecordKind::config;
    case Kind::torrent: return RecordKind::torrent;
    case Kind::torrent_session: return RecordKind::torrent_session;
    case Kind::kv: return RecordKind::kv;
    case Kind::trigger: return RecordKind::trigger;
    case Kind::registry: break;
  }
  fail_usage("kind: registry has no records of its own (it names events: cairn watch --kind registry)");
}

// What names one record of the kind on the command line (get, rm).
std::string_view key_shape(RecordKind kind) {
  switch (kind) {
    case RecordKind::torrent:
      return "HASH";
    case RecordKind::torrent_session:
      return "";  // there is one
    case RecordKind::kv:
      return "NS KEY";
    case RecordKind::trigger:
      return "ID";
    case RecordKind::app:
    case RecordKind::pool:
    case RecordKind::block:
    case RecordKind::config:
      break;
  }
  return "KEY";
}

// The key given on the command line. Info hashes are stored in lowercase;
// clients often show them in uppercase, so the tool accepts both.
std::string key_operand(RecordKind kind, const std::vector<std::string>& operands) {
  std::string key = operands.front();
  if (kind == RecordKind::torrent) {
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return key;
}

bool one_of(RecordKind kind, std::initializer_list<RecordKind> kinds) {
  for (RecordKind k : kinds) {
    if (k == kind) return true;
  }
  return false;
}

// A usage error when an option was given for a kind it does not apply to:
// "ls torrent: --pool applies to app, block and trigger only".
void check_applies(bool given, RecordKind kind, std::initializer_list<RecordKind> kinds,
                   const std::string& command, std::string_view option,
                   std::string_view kinds_text) {
  if (given && !one_of(kind, kinds)) {
    fail_usage(command + ": " + std::string(option) + " applies to " + std::string(kinds_text) +
               " only");
  }
}

// --- get -----------------------------------------------------------------

ExitCode run_get(const Globals& globals, const GetArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  const std::string command = "get " + args.kind;
  check_applies(args.raw, kind, {RecordKind::kv}, command, "--raw", "kv");
  if (kind == RecordKind::kv) return run_get_kv(globals, args);
  if (kind == RecordKind::trigger) return run_get_trigger(globals, args);
  expect_operands(command, args.operands, key_shape(kind));

  Registry reg = open_existing_registry(globals, Access::read_only);
  const std::string key = args.operands.empty() ? std::string() : key_operand(kind, args.operands);
  nlohmann::json record;
  switch (kind) {
    case RecordKind::app:
      record = reg.apps().get(key);
      break;
    case RecordKind::pool:
      record = reg.pools().get(key);
      break;
    case RecordKind::block:
      record = reg.blocks().get(key);
      break;
    case RecordKind::config:
      record = reg.config().get(key);
      break;
    case RecordKind::torrent:
      record = reg.torrents().get(key);
      break;
    case RecordKind::torrent_session:  // the defaults, at revision 0, until one is saved
      record = reg.torrent_session().load();
      break;
    case RecordKind::kv:
    case RecordKind::trigger:
      break;  // handled above
  }
  print_document(record);
  return ExitCode::ok;
}

// --- put -----------------------------------------------------------------

ExitCode run_put(const Globals& globals, const PutArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  const std::string command = "put " + args.kind;
  check_applies(args.expect_version.has_value(), kind, {RecordKind::kv}, command,
                "--expect-version", "kv");
  check_applies(args.ttl_ms.has_value(), kind, {RecordKind::kv}, command, "--ttl-ms", "kv");
  if (kind == RecordKind::kv && args.expect_revision) {
    fail_usage(command + ": kv entries have versions, not revisions: use --expect-version");
  }
  check_applies(args.expect_revision.has_value(), kind,
                {RecordKind::app, RecordKind::pool, RecordKind::block, RecordKind::config,
                 RecordKind::torrent, RecordKind::torrent_session},
                command, "--expect-revision",
                "app, pool, block, config, torrent and torrent-session");
  if (kind == RecordKind::kv) return run_put_kv(globals, args);
  if (kind == RecordKind::trigger) return run_put_trigger(globals, args);
  expect_operands(command, args.operands, "[JSON|-]");

  // Read and check the input before the registry is touched.
  const std::optional<std::string> argument =
      args.operands.empty() ? std::nullopt : std::optional<std::string>(args.operands.front());
  const nlohmann::json input = parse_json_input(read_json_text(argument, globals));
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
    case RecordKind::torrent:
      stored = reg.torrents().put(decode<Torrent>(input, "torrent"), expect);
      break;
    case RecordKind::torrent_session:
      stored = reg.torrent_session().save(decode<TorrentSession>(input, "torrent-session"), expect);
      break;
    case RecordKind::kv:
    case RecordKind::trigger:
      break;  // handled above
  }
  if (!globals.quiet) print_document(stored);
  return ExitCode::ok;
}

// --- rm ------------------------------------------------------------------

ExitCode run_rm(const Globals& globals, const RmArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  const std::string command = "rm " + args.kind;
  if (kind == RecordKind::torrent_session) {
    fail_usage("rm: the torrent session cannot be removed; put the settings you want instead");
  }
  if (args.cascade && kind != RecordKind::pool) fail_usage("rm: --cascade applies to pools only");
  check_applies(args.expect_version.has_value(), kind, {RecordKind::kv}, command,
                "--expect-version", "kv");
  if (kind == RecordKind::kv && args.expect_revision) {
    fail_usage(command + ": kv entries have versions, not revisions: use --expect-version");
  }
  check_applies(args.expect_revision.has_value(), kind,
                {RecordKind::app, RecordKind::pool, RecordKind::block, RecordKind::config,
                 RecordKind::torrent},
                command, "--expect-revision", "app, pool, block, config and torrent");
  if (kind == RecordKind::kv) return run_rm_kv(globals, args);
  if (kind == RecordKind::trigger) return run_rm_trigger(globals, args);
  expect_operands(command, args.operands, key_shape(kind));

  const std::string key = key_operand(kind, args.operands);
  const Expect expect = Expect{args.expect_revision};
  Registry reg = open_existing_registry(globals);
  // The record is read in the removal's own transaction, so what is printed
  // is exactly what was removed.
  const Revision before = reg.revision();
  bool removed = false;
  nlohmann::json record;
  Kind event_kind = Kind::app;
  reg.transact([&](Tx& tx) {
    switch (kind) {
      case RecordKind::app:
        event_kind = Kind::app;
        if (auto found = tx.apps().find(key)) record = *found;
        removed = tx.apps().remove(key, expect);
        break;
      case RecordKind::pool:
        event_kind = Kind::pool;
        if (auto found = tx.pools().find(key)) record = *found;
        try {
          removed = tx.pools().remove(key, expect, args.cascade ? Cascade::yes : Cascade::no);
        } catch (const Error& e) {
          if (e.code() != errc::constraint || args.cascade) throw;
          throw Error(e.code_value(), std::string(e.what()) + ": cairn rm pool " + key +
                                          " --cascade removes them with it");
        }
        break;
      case RecordKind::block:
        event_kind = Kind::memory_block;
        if (auto found = tx.blocks().find(key)) record = *found;
        removed = tx.blocks().remove(key, expect);
        break;
      case RecordKind::config:
        event_kind = Kind::config;
        if (auto found = tx.config().find(key)) record = *found;
        removed = tx.config().remove(key, expect);
        break;
      case RecordKind::torrent:
        event_kind = Kind::torrent;
        if (auto found = tx.torrents().find(key)) record = *found;
        removed = tx.torrents().remove(key, expect);
        break;
      case RecordKind::torrent_session:
      case RecordKind::kv:
      case RecordKind::trigger:
        break;  // handled above
    }
  });
  // The library treats removing an absent key as success; a script asking the
  // tool to remove one most likely has the wrong key, so it hears about it.
  if (!removed) throw Error(errc::not_found, args.kind + " " + in_quotes(key) + " not found");
  print_removal(globals, reg, event_kind, key, args.kind + " " + in_quotes(key), before, record);
  return ExitCode::ok;
}

// --- ls ------------------------------------------------------------------

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
    case RecordKind::torrent: {
      TorrentQuery query;
      if (args.state) query.state = torrent_state_from_string(*args.state);
      query.after = args.after;
      query.limit = args.limit;
      return to_json_values(reg.torrents().list(query));
    }
    case RecordKind::torrent_session:
    case RecordKind::kv:
    case RecordKind::trigger:
      break;  // not listed here
  }
  return {};
}

ExitCode run_ls(const Globals& globals, const LsArgs& args) {
  const RecordKind kind = record_kind(args.kind);
  const std::string command = "ls " + args.kind;
  if (kind == RecordKind::torrent_session) {
    fail_usage("ls: there is one torrent session; print it with: cairn get torrent-session");
  }
  check_applies(args.pool.has_value(), kind,
                {RecordKind::app, RecordKind::block, RecordKind::trigger}, command, "--pool",
                "app, block and trigger");
  check_applies(args.type.has_value(), kind, {RecordKind::pool, RecordKind::block}, command,
                "--type", "pool and block");
  check_applies(args.state.has_value(), kind, {RecordKind::torrent}, command, "--state", "torrent");
  check_applies(args.prefix.has_value(), kind, {RecordKind::kv}, command, "--prefix", "kv");
  if (kind == RecordKind::kv) return run_ls_kv(globals, args);
  if (kind == RecordKind::trigger) return run_ls_trigger(globals, args);
  expect_operands(command, args.operands, "");

  Registry reg = open_existing_registry(globals, Access::read_only);
  print_records(globals, args, list_records(reg, kind, args));
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

// The operands after KIND, each its own single-valued positional: CLI11
// splits an argument like "[a,b]" of a many-valued option into items, which
// would mangle JSON arrays and KV values.
class OperandSlots {
 public:
  void add(CLI::App& sub, const std::string& name, const std::string& type_name,
           const std::string& help) {
    sub.add_option(name, slots_.at(used_++), help)->type_name(type_name);
  }
  // The operands given, in order.
  std::vector<std::string> given() const {
    std::vector<std::string> operands;
    for (const std::optional<std::string>& slot : slots_) {
      if (slot) operands.push_back(*slot);
    }
    return operands;
  }

 private:
  std::array<std::optional<std::string>, 3> slots_{};
  std::size_t used_ = 0;
};

CLI::Option* add_kind(CLI::App& sub, std::string& kind) {
  return sub
      .add_option("kind", kind,
                  "Record kind: app, pool, block (memory_block), config, torrent, "
                  "torrent-session (torrent_session), kv or trigger")
      ->required()
      ->type_name("KIND");
}

// Triggers live in one process's memory (see TriggerStore).
constexpr const char* kTriggerNote = "in memory, per process: a command sees only its own";

}  // namespace

void expect_operands(std::string_view command, const std::vector<std::string>& operands,
                     std::string_view shape) {
  std::size_t words = 0;
  bool last_optional = false;
  for (std::size_t at = 0; at < shape.size();) {
    const std::size_t end = std::min(shape.find(' ', at), shape.size());
    ++words;
    last_optional = shape[at] == '[';
    at = end + 1;
  }
  const std::size_t least = last_optional ? words - 1 : words;
  if (operands.size() >= least && operands.size() <= words) return;
  const std::string got = std::to_string(operands.size()) +
                          (operands.size() == 1 ? " argument" : " arguments") + " after the kind";
  if (words == 0) fail_usage(std::string(command) + ": expected nothing, got " + got);
  fail_usage(std::string(command) + ": expected " + std::string(shape) + ", got " + got);
}

void print_removal(const Globals& globals, const Registry& reg, Kind kind, const std::string& key,
                   const std::string& name, Revision before, const nlohmann::json& removed) {
  if (globals.quiet) return;
  // The last removal of this key after `before` is ours: another process
  // may have written in between, but not removed the key after we did.
  const std::vector<Event> events = reg.changes(before + 1);
  Revision revision = 0;
  for (const Event& event : events) {
    if (event.op == Op::removed && event.kind == kind && event.id == key) {
      revision = event.revision;
    }
  }
  nlohmann::json cascaded = nlohmann::json::array();
  if (kind == Kind::pool) {
    for (const Event& event : events) {
      if (revision == 0 || event.revision != revision || event.op != Op::removed ||
          event.kind != Kind::memory_block) {
        continue;
      }
      cascaded.push_back({{"kind", to_string(event.kind)},
                          {"key", event.id},
                          {"revision", event.revision},
                          {"record", event.before.value_or(nullptr)}});
    }
  }
  if (globals.json) {
    nlohmann::json out = {
        {"kind", to_string(kind)}, {"key", key}, {"revision", revision}, {"record", removed}};
    if (kind == Kind::pool) out["cascaded"] = cascaded;
    print_document(out);
    return;
  }
  std::cout << "removed " << name << " (revision " << revision << ")\n";
  for (const nlohmann::json& block : cascaded) {
    std::cout << "removed block " << in_quotes(block.at("key").get<std::string>()) << " (revision "
              << revision << ", with the pool)\n";
  }
}

void print_records(const Globals& globals, const LsArgs& args,
                   const std::vector<nlohmann::json>& records) {
  switch (output_format(globals, args.format, Format::jsonl)) {
    case Format::table:
      print_table(record_columns(parse_kind(args.kind, "ls")), records);
      break;
    case Format::json:
      print_document(nlohmann::json(records));
      break;
    case Format::jsonl:
      for (const nlohmann::json& record : records) print_json_line(record);
      break;
  }
}

void add_record_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  // The parsed values live as long as the commands that read them.
  auto get = std::make_shared<GetArgs>();
  CLI::App* get_cmd = app.add_subcommand("get", "Print one record as JSON");
  get_cmd->footer(
      "  get KIND KEY             app, pool, block, config: id, name or config key\n"
      "  get torrent HASH         the info hash (40 or 64 hex digits)\n"
      "  get torrent-session      the session settings (the defaults, revision 0, until saved)\n"
      "  get kv NS KEY [--raw]    the entry, value as value_base64; --raw: the value's bytes\n"
      "  get trigger ID           " +
      std::string(kTriggerNote) + "\n");
  add_kind(*get_cmd, get->kind);
  auto get_operands = std::make_shared<OperandSlots>();
  get_operands->add(*get_cmd, "key", "KEY",
                    "Id, name, config key, info hash or trigger id; kv: the namespace");
  get_operands->add(*get_cmd, "kv_key", "KEY", "kv: the key");
  get_cmd->add_flag("--raw", get->raw, "kv: print the value's bytes as they are, nothing else");
  commands.push_back({get_cmd, [&globals, get, get_operands] {
                        get->operands = get_operands->given();
                        return run_get(globals, *get);
                      }});

  auto put = std::make_shared<PutArgs>();
  CLI::App* put_cmd =
      app.add_subcommand("put", "Insert or replace a record given as JSON; print it as stored");
  put_cmd->footer(
      "  put KIND [JSON|-]        app, pool, block, torrent, torrent-session: the record's JSON\n"
      "                           config: {\"key\": ..., \"value\": ...}\n"
      "  put kv NS KEY [VALUE|-]  the value's bytes as they are, from the argument or stdin\n"
      "                           (absent or -); a value starting with -: put kv NS KEY -- -V\n"
      "  put trigger [JSON|-]     create a trigger and print it; " +
      std::string(kTriggerNote) + "\n");
  add_kind(*put_cmd, put->kind);
  auto put_operands = std::make_shared<OperandSlots>();
  put_operands->add(*put_cmd, "input", "JSON",
                    "The record as JSON, absent or -: read stdin; kv: the namespace");
  put_operands->add(*put_cmd, "kv_key", "KEY", "kv: the key");
  put_operands->add(*put_cmd, "value", "VALUE", "kv: the value's bytes; absent or -: read stdin");
  put_cmd
      ->add_option("--expect-revision", put->expect_revision,
                   "Write only if the record's revision is REV (0: only if absent); else exit 4")
      ->type_name("REV")
      ->check(not_negative());
  put_cmd
      ->add_option("--expect-version", put->expect_version,
                   "kv: write only if the entry's version is V (0: only if absent); else exit 4")
      ->type_name("V")
      ->check(not_negative());
  put_cmd->add_option("--ttl-ms", put->ttl_ms, "kv: the entry expires N ms after the write")
      ->type_name("N");
  commands.push_back({put_cmd, [&globals, put, put_operands] {
                        put->operands = put_operands->given();
                        return run_put(globals, *put);
                      }});

  auto rm = std::make_shared<RmArgs>();
  CLI::App* rm_cmd = app.add_subcommand("rm", "Remove a record; exit 3 if it is absent");
  rm_cmd->footer(
      "  rm KIND KEY              app, pool, block, config\n"
      "  rm torrent HASH\n"
      "  rm kv NS KEY [--expect-version V]\n"
      "  rm trigger ID            " +
      std::string(kTriggerNote) + "\n");
  add_kind(*rm_cmd, rm->kind);
  auto rm_operands = std::make_shared<OperandSlots>();
  rm_operands->add(*rm_cmd, "key", "KEY",
                   "Id, name, config key, info hash or trigger id; kv: the namespace");
  rm_operands->add(*rm_cmd, "kv_key", "KEY", "kv: the key");
  rm_cmd
      ->add_option("--expect-revision", rm->expect_revision,
                   "Remove only if the record's revision is REV; else exit 4")
      ->type_name("REV")
      ->check(not_negative());
  rm_cmd
      ->add_option("--expect-version", rm->expect_version,
                   "kv: remove only if the entry's version is V; else exit 4")
      ->type_name("V")
      ->check(not_negative());
  rm_cmd->add_flag("--cascade", rm->cascade, "Pools: also remove the memory blocks in the pool");
  commands.push_back({rm_cmd, [&globals, rm, rm_operands] {
                        rm->operands = rm_operands->given();
                        return run_rm(globals, *rm);
                      }});

  auto ls = std::make_shared<LsArgs>();
  CLI::App* ls_cmd = app.add_subcommand(
      "ls",
      "List records ordered by key: a table on a terminal, else one JSON object per line "
      "(--json: one array)");
  ls_cmd->footer(
      "  ls KIND                  app, pool, block, config, torrent\n"
      "  ls kv NS [--prefix P]    the namespace's live entries\n"
      "  ls trigger               " +
      std::string(kTriggerNote) + "\n");
  add_kind(*ls_cmd, ls->kind);
  auto ls_operands = std::make_shared<OperandSlots>();
  ls_operands->add(*ls_cmd, "ns", "NS", "kv: the namespace");
  ls_cmd->add_option("--pool", ls->pool, "app, block, trigger: only those in this pool")
      ->type_name("P");
  ls_cmd
      ->add_option("--type", ls->type,
                   "pool: local, global or encrypted; block: binary, json or stream")
      ->type_name("T");
  ls_cmd->add_option("--state", ls->state, "torrent: added, started, stopped, completed or removed")
      ->type_name("S");
  ls_cmd->add_option("--prefix", ls->prefix, "kv: only keys starting with P")->type_name("P");
  ls_cmd->add_option("--after", ls->after, "Only keys after K (paging)")->type_name("K");
  ls_cmd->add_option("--limit", ls->limit, "At most N records (0: all)")
      ->type_name("N")
      ->check(not_negative());
  add_format_option(*ls_cmd, ls->format, Format::jsonl);
  commands.push_back({ls_cmd, [&globals, ls, ls_operands] {
                        ls->operands = ls_operands->given();
                        return run_ls(globals, *ls);
                      }});
}

}  // namespace cairn::cli
