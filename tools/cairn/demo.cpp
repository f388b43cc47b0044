// `cairn demo`: the LatZero usage flow, step by step, against a real file.
//
// An app registers (naming a pool that does not exist yet), its pool and a
// memory block in it are created, then the app and the block change in one
// transaction, the server configuration is saved and loaded back; then a
// torrent and the torrent session's settings are saved (go-i2p-bt), a few
// key-value entries are written in one namespace, one of them with a TTL
// (Lampo's persister), and the registry's stats close the tour. Every write is
// an upsert or an update, so the demo runs again and again on the same file.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/records.h"
#include "cairn/registry.h"
#include "cli.h"

namespace cairn::cli {
namespace {

constexpr std::string_view kDefaultDemoPath = "./cairn-demo.db";
constexpr std::string_view kAppId = "latzero-demo";
constexpr std::string_view kPoolName = "demo-pool";
constexpr std::string_view kBlockId = "demo-greeting";
constexpr std::string_view kConfigKey = "server";
constexpr std::string_view kInfoHash = "c9e15763f722f23e98a29decdfae341b98d53056";
constexpr std::string_view kKvNamespace = "demo-sessions";
constexpr std::int64_t kSessionTtlMs = 60'000;
constexpr int kSteps = 10;

// Prints the steps as numbered lines, or as JSON Lines with --json:
// {"step": n, "of": 10, "name": ..., "message": ..., <data>}.
class StepPrinter {
 public:
  explicit StepPrinter(const Globals& globals) : globals_(globals) {}

  void step(std::string_view name, const std::string& message, nlohmann::json data = {}) {
    ++number_;
    if (globals_.quiet) return;
    if (globals_.json) {
      nlohmann::json line = {
          {"step", number_}, {"of", kSteps}, {"name", name}, {"message", message}};
      if (data.is_object()) line.update(data);
      print_json_line(line);
    } else {
      std::cout << '[' << number_ << '/' << kSteps << "] " << message << '\n' << std::flush;
    }
  }

 private:
  const Globals& globals_;
  int number_ = 0;
};

std::string joined(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : ", ") + item;
  return text;
}

// An integer member of a free-form object, or 0 when it is absent or not an integer.
std::int64_t counter(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

App demo_app() {
  App app;
  app.id = kAppId;
  app.pools = {std::string(kPoolName)};
  app.triggers = {"greeting.updated"};
  app.protocol_version = "1.0";
  app.meta = {{"description", "an app registered by cairn demo"}, {"heartbeats", 0}};
  return app;
}

Pool demo_pool() {
  Pool pool;
  pool.name = kPoolName;
  pool.type = PoolType::local;
  pool.owners = {std::string(kAppId)};
  pool.policies.read = {"*"};
  pool.policies.write = {std::string(kAppId)};
  pool.description = "the pool of cairn demo";
  return pool;
}

MemoryBlock demo_block() {
  MemoryBlock block;
  block.id = kBlockId;
  block.name = "greeting";
  block.pool = kPoolName;
  block.size = 256;
  block.type = BlockType::json;
  block.permissions = {{std::string(kAppId), {"read", "write"}}};
  block.persistent = true;
  return block;
}

void open_step(StepPrinter& out, const Registry& reg) {
  out.step("open",
           "opened registry " + reg.path().string() + " (schema version " +
               std::to_string(reg.schema_version()) + ", revision " +
               std::to_string(reg.revision()) + ")",
           {{"path", reg.path().string()}, {"schema_version", reg.schema_version()}});
}

// LatZero registers the app before its pool exists. A returning app keeps
// its meta and is marked rehydrated, as after a server restart.
void register_app_step(StepPrinter& out, Registry& reg) {
  App app = demo_app();
  const std::optional<App> previous = reg.apps().find(kAppId);
  if (previous) {
    app.meta = previous->meta;
    app.rehydrated = true;
  }
  const App stored = reg.apps().put(std::move(app));
  out.step("register_app",
           std::string(previous ? "re-registered" : "registered") + " app " + in_quotes(stored.id) +
               " in pools [" + joined(stored.pools) + "] (revision " +
               std::to_string(stored.revision) + ")",
           {{"record", stored}});
}

void pool_step(StepPrinter& out, Registry& reg) {
  const Pool stored = reg.pools().put(demo_pool());
  out.step("put_pool",
           "put pool " + in_quotes(stored.name) + " (type " + to_string(stored.type) +
               ", owners [" + joined(stored.owners) + "]) (revision " +
               std::to_string(stored.revision) + ")",
           {{"record", stored}});
}

void block_step(StepPrinter& out, Registry& reg) {
  const MemoryBlock stored = reg.blocks().put(demo_block());
  out.step("put_block",
           "put memory block " + in_quotes(stored.id) + " in pool " + in_quotes(stored.pool) +
               " (" + std::to_string(stored.size) + " bytes, version " +
               std::to_string(stored.version) + ", revision " + std::to_string(stored.revision) +
               ")",
           {{"record", stored}});
}

std::string revisions_text(Revision a, Revision b) {
  if (a == b) return "both at revision " + std::to_string(a);
  return "at revisions " + std::to_string(a) + " and " + std::to_string(b);
}

// Both changes commit together under one revision, or neither does.
void transaction_step(StepPrinter& out, Registry& reg) {
  auto [app, block] = reg.transact([](Tx& tx) {
    App a = tx.apps().update(kAppId, [](App& r) {
      r.meta["heartbeats"] = counter(r.meta, "heartbeats") + 1;
      r.last_seen = 0;  // now
    });
    MemoryBlock b = tx.blocks().update(kBlockId, [](MemoryBlock& r) {
      r.config["last_writer"] = std::string(kAppId);
      r.size = 512;
    });
    return std::pair{std::move(a), std::move(b)};
  });
  out.step("transaction",
           "one transaction updated app " + in_quotes(app.id) + " (heartbeats " +
               std::to_string(counter(app.meta, "heartbeats")) + ") and block " +
               in_quotes(block.id) + " (version " + std::to_string(block.version) + ", " +
               std::to_string(block.size) + " bytes), " +
               revisions_text(app.revision, block.revision),
           {{"app", app}, {"block", block}});
}

// LatZero's saveServerConfig / loadServerConfig.
void config_step(StepPrinter& out, Registry& reg) {
  const nlohmann::json server = {{"port", 1337}, {"backupInterval", 3600000}, {"maxBackups", 5}};
  const ConfigEntry saved = reg.config().save(kConfigKey, server);
  const nlohmann::json loaded = reg.config().load(kConfigKey).value_or(nullptr);
  out.step("config",
           "saved config " + in_quotes(kConfigKey) + " (revision " +
               std::to_string(saved.revision) + ") and loaded it back: " + loaded.dump(),
           {{"key", kConfigKey}, {"value", loaded}});
}

Torrent demo_torrent() {
  Torrent torrent;
  torrent.info_hash = kInfoHash;
  torrent.name = "cairn-demo.iso";
  torrent.state = TorrentState::started;
  torrent.save_path = "./downloads";
  torrent.total_size = 4 << 20;
  torrent.downloaded = 1 << 20;
  torrent.pieces = std::string("\xf0\x00", 2);  // 16 pieces of 256 KiB, the first 4 done
  torrent.trackers = {{"udp://tracker.example:6969/announce"}};
  torrent.extra = {{"source", "cairn demo"}};
  return torrent;
}

// go-i2p-bt keeps its torrents' state; a restarted server brings them back.
void torrent_step(StepPrinter& out, Registry& reg) {
  const Torrent stored = reg.torrents().put(demo_torrent());
  out.step("put_torrent",
           "put torrent " + in_quotes(stored.name) + " (" + to_string(stored.state) + ", " +
               std::to_string(stored.downloaded) + " of " + std::to_string(stored.total_size) +
               " bytes) (revision " + std::to_string(stored.revision) + ")",
           {{"record", stored}});
}

// Known settings are typed and range-checked; unknown ones are kept as given.
void torrent_session_step(StepPrinter& out, Registry& reg) {
  TorrentSession session = reg.torrent_session().load();
  session.download_dir = "./downloads";
  session.peer_port = 51413;
  session.speed_limit_up = 200;
  session.speed_limit_up_enabled = true;
  session.extra["demo_note"] = "kept as given";
  const TorrentSession stored = reg.torrent_session().save(std::move(session));
  out.step("torrent_session",
           "saved the torrent session (download_dir " + stored.download_dir + ", peer_port " +
               std::to_string(stored.peer_port) + ", upload limit " +
               std::to_string(stored.speed_limit_up) + " KB/s) (revision " +
               std::to_string(stored.revision) + ")",
           {{"record", stored}});
}

// Several entries in one transaction; the session token expires on its own.
void kv_step(StepPrinter& out, Registry& reg) {
  KvStore kv = reg.kv(kKvNamespace);
  const std::vector<KvEntry> stored = kv.put_many({
      KvItem{.key = "user:alice", .value = R"({"theme":"dark"})"},
      KvItem{.key = "user:bob", .value = R"({"theme":"light"})"},
      KvItem{.key = "token:demo", .value = "s3cr3t", .options = {.ttl_ms = kSessionTtlMs}},
  });
  const KvInfo info = kv.info();
  out.step("kv",
           "put " + std::to_string(stored.size()) + " entries in namespace " +
               in_quotes(kKvNamespace) + ", \"token:demo\" expiring in " +
               std::to_string(kSessionTtlMs / 1000) + " s (" + std::to_string(info.entries) +
               " entries, " + std::to_string(info.bytes) + " bytes)",
           {{"records", stored}, {"entries", info.entries}, {"bytes", info.bytes}});
}

void stats_step(StepPrinter& out, const Globals& globals, const Registry& reg) {
  const nlohmann::json stats = reg.stats();
  out.step("stats", "registry stats:", {{"stats", stats}});
  if (!globals.json && !globals.quiet) {
    print_fields(
        stats,
        {"path", "schema_version", "records.apps", "records.pools", "records.memory_blocks",
         "records.config_entries", "records.torrents", "records.kv_entries", "last_revision",
         "oldest_revision", "database_bytes", "wal_bytes"},
        "      ");
  }
}

ExitCode run_demo(const Globals& globals) {
  const std::string path = globals.db.empty() ? std::string(kDefaultDemoPath) : globals.db;
  StepPrinter out(globals);
  Registry reg = open_or_create_registry(path, globals);
  open_step(out, reg);
  register_app_step(out, reg);
  pool_step(out, reg);
  block_step(out, reg);
  transaction_step(out, reg);
  config_step(out, reg);
  torrent_step(out, reg);
  torrent_session_step(out, reg);
  kv_step(out, reg);
  stats_step(out, globals, reg);
  return ExitCode::ok;
}

}  // namespace

void add_demo_command(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  CLI::App* demo = app.add_subcommand(
      "demo", "Walk through every kind of record on a registry (default ./cairn-demo.db)");
  commands.push_back({demo, [&globals] { return run_demo(globals); }});
}

}  // namespace cairn::cli
