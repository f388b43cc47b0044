// The record commands for the two kinds that are not one JSON record under
// one key:
//
//   kv       an entry is named by a namespace and a key; its value is bytes,
//            read raw from the argument or stdin and printed as value_base64
//            (or raw with --raw); compare-and-swap is on the entry's version.
//   trigger  triggers live in the memory of the process that created them
//            (TriggerStore), so a command sees only the ones it creates: it
//            says so on stderr, once, unless --quiet.

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cairn/records.h"
#include "cairn/stores.h"
#include "cairn/tx.h"
#include "cli.h"
#include "records_cmd.h"

namespace cairn::cli {
namespace {

std::string kv_name(const std::string& name_space, const std::string& key) {
  return "kv " + in_quotes(name_space + "/" + key);
}

void print_trigger_note(const Globals& globals) {
  if (globals.quiet) return;
  std::cerr << "cairn: note: triggers live in the memory of one process; this command sees only "
               "the triggers it creates, and they end with it\n";
}

}  // namespace

// --- kv ------------------------------------------------------------------

ExitCode run_get_kv(const Globals& globals, const GetArgs& args) {
  expect_operands("get kv", args.operands, "NS KEY");
  Registry reg = open_existing_registry(globals, Access::read_only);
  const KvEntry entry = reg.kv(args.operands[0]).get(args.operands[1]);
  if (args.raw) {
    std::cout.write(entry.value.data(), static_cast<std::streamsize>(entry.value.size()));
  } else {
    print_document(entry);
  }
  return ExitCode::ok;
}

ExitCode run_put_kv(const Globals& globals, const PutArgs& args) {
  expect_operands("put kv", args.operands, "NS KEY [VALUE|-]");
  // The value is read before the registry is touched: a failed read writes nothing.
  const bool from_stdin = args.operands.size() == 2 || args.operands[2] == "-";
  const std::string value = from_stdin ? read_stdin(globals, "the value") : args.operands[2];
  const KvWriteOptions options{.expect_version = args.expect_version, .ttl_ms = args.ttl_ms};
  Registry reg = open_existing_registry(globals);
  const KvEntry stored = reg.kv(args.operands[0]).put(args.operands[1], value, options);
  if (!globals.quiet) print_document(stored);
  return ExitCode::ok;
}

ExitCode run_rm_kv(const Globals& globals, const RmArgs& args) {
  expect_operands("rm kv", args.operands, "NS KEY");
  const std::string& name_space = args.operands[0];
  const std::string& key = args.operands[1];
  Registry reg = open_existing_registry(globals);
  const Revision before = reg.revision();
  nlohmann::json entry;
  const bool removed = reg.transact([&](Tx& tx) {
    if (auto found = tx.kv(name_space).find(key)) entry = *found;
    return tx.kv(name_space).erase(key, args.expect_version);
  });
  if (!removed) throw Error(errc::not_found, kv_name(name_space, key) + " not found");
  print_removal(globals, reg, Kind::kv, name_space + "/" + key, kv_name(name_space, key), before,
                entry);
  return ExitCode::ok;
}

ExitCode run_ls_kv(const Globals& globals, const LsArgs& args) {
  expect_operands("ls kv", args.operands, "NS");
  Registry reg = open_existing_registry(globals, Access::read_only);
  const KvQuery query{.prefix = args.prefix.value_or(""), .after = args.after, .limit = args.limit};
  const std::vector<KvEntry> entries = reg.kv(args.operands[0]).list(query);
  print_records(globals, args, {entries.begin(), entries.end()});
  return ExitCode::ok;
}

// --- trigger -------------------------------------------------------------

ExitCode run_get_trigger(const Globals& globals, const GetArgs& args) {
  print_trigger_note(globals);
  expect_operands("get trigger", args.operands, "ID");
  Registry reg = open_existing_registry(globals);
  print_document(reg.triggers().get(args.operands[0]));
  return ExitCode::ok;
}

ExitCode run_put_trigger(const Globals& globals, const PutArgs& args) {
  print_trigger_note(globals);
  expect_operands("put trigger", args.operands, "[JSON|-]");
  const std::optional<std::string> argument =
      args.operands.empty() ? std::nullopt : std::optional<std::string>(args.operands.front());
  const Trigger trigger =
      decode<Trigger>(parse_json_input(read_json_text(argument, globals)), "trigger");
  Registry reg = open_existing_registry(globals);
  const Trigger created = reg.triggers().create(trigger);
  if (!globals.quiet) print_document(created);
  return ExitCode::ok;
}

ExitCode run_rm_trigger(const Globals& globals, const RmArgs& args) {
  print_trigger_note(globals);
  expect_operands("rm trigger", args.operands, "ID");
  Registry reg = open_existing_registry(globals);
  if (!reg.triggers().remove(args.operands[0])) {
    throw Error(errc::not_found, "trigger " + in_quotes(args.operands[0]) + " not found");
  }
  // Triggers are not in the change log: there is no revision to report.
  if (globals.quiet) return ExitCode::ok;
  if (globals.json) {
    print_document({{"kind", "trigger"}, {"key", args.operands[0]}});
  } else {
    std::cout << "removed trigger " << in_quotes(args.operands[0]) << "\n";
  }
  return ExitCode::ok;
}

ExitCode run_ls_trigger(const Globals& globals, const LsArgs& args) {
  print_trigger_note(globals);
  expect_operands("ls trigger", args.operands, "");
  Registry reg = open_existing_registry(globals);
  // TriggerQuery has no paging: --after and --limit apply here, on ids.
  std::vector<nlohmann::json> triggers;
  for (const Trigger& trigger : reg.triggers().list(TriggerQuery{.pool = args.pool})) {
    if (trigger.id <= args.after) continue;
    if (args.limit != 0 && triggers.size() == args.limit) break;
    triggers.emplace_back(trigger);
  }
  print_records(globals, args, triggers);
  return ExitCode::ok;
}

}  // namespace cairn::cli
