// `cairn demo`: the whole product, step by step, against a real file.
//
// A subscriber prints every change after it commits. An app registers
// (naming a pool that does not exist yet), its pool and a memory block are
// created, the app and the block change in one transaction; a stale
// compare-and-swap is refused, and a transaction that fails is rolled back
// with no event. The server configuration, a torrent, the torrent session and
// a few key-value entries (one with a TTL) are saved. Another process (this
// tool, run by the demo) writes, and the subscriber sees it. An online backup
// is taken while a writer thread goes on, verified, restored into a new file
// and compared with the original; the migration status is shown, and an
// export is imported into an in-memory registry and exported again,
// unchanged. The stats close the tour. Every write is an upsert or an
// update, and the backup and the restored copy go to a temporary directory
// that is removed at the end, so the demo runs again and again on one file.

#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cairn/backup.h"
#include "cairn/migrate.h"
#include "cairn/records.h"
#include "cairn/registry.h"
#include "cli.h"

extern char** environ;

namespace cairn::cli {
namespace {

constexpr std::string_view kDefaultDemoPath = "./cairn-demo.db";
constexpr std::string_view kAppId = "latzero-demo";
constexpr std::string_view kPoolName = "demo-pool";
constexpr std::string_view kBlockId = "demo-greeting";
constexpr std::string_view kConfigKey = "server";
constexpr std::string_view kInfoHash = "c9e15763f722f23e98a29decdfae341b98d53056";
constexpr std::string_view kKvNamespace = "demo-sessions";
constexpr std::string_view kLoadNamespace = "demo-load";
constexpr std::int64_t kSessionTtlMs = 60'000;
constexpr int kSteps = 19;

// Prints the steps as numbered lines, and the subscriber's events indented
// under them; with --json, JSON Lines: {"step": n, "of": 19, "name": ...,
// "message": ..., <data>} and {"event": ...}. Called from the subscriber's
// thread too.
class StepPrinter {
 public:
  explicit StepPrinter(const Globals& globals) : globals_(globals) {}

  void step(std::string_view name, const std::string& message, nlohmann::json data = {}) {
    std::lock_guard lock(mu_);
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

  void event(const Event& e) {
    std::lock_guard lock(mu_);
    if (globals_.quiet) return;
    if (globals_.json) {
      print_json_line({{"event", e}});
    } else {
      std::cout << "      subscriber: revision " << e.revision << ' ' << e.topic << ' '
                << in_quotes(e.id) << (e.actor.empty() ? "" : " by " + e.actor) << '\n'
                << std::flush;
    }
  }

  // Lines under a step (not in --json, where the step's data says it).
  void detail(const std::string& text) {
    std::lock_guard lock(mu_);
    if (!globals_.quiet && !globals_.json) std::cout << "      " << text << '\n' << std::flush;
  }

 private:
  const Globals& globals_;
  std::mutex mu_;
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

// Every change, received on the subscription's own thread after it commits,
// and printed under the step that made it (settle()). The load writer's
// entries (during the backup) are counted, not printed.
class DemoSubscriber {
 public:
  DemoSubscriber(Registry& reg, StepPrinter& out) : reg_(reg), out_(out) {
    sub_ = reg.subscribe({}, [this](std::span<const Event> events) {
      std::lock_guard lock(mu_);
      for (const Event& e : events) {
        if (e.kind == Kind::kv && e.id.starts_with(std::string(kLoadNamespace) + "/")) {
          ++load_events_;
        } else {
          received_.push_back(e);
        }
      }
    });
  }

  // Waits until the subscriber has handled every commit so far, then prints
  // what it received.
  void settle() {
    reg_.wait_for(reg_.revision());
    std::vector<Event> events;
    {
      std::lock_guard lock(mu_);
      events.swap(received_);
    }
    for (const Event& e : events) out_.event(e);
  }
  std::int64_t load_events() {
    std::lock_guard lock(mu_);
    return load_events_;
  }

 private:
  Registry& reg_;
  StepPrinter& out_;
  std::mutex mu_;  // guards received_ and load_events_
  std::vector<Event> received_;
  std::int64_t load_events_ = 0;
  Subscription sub_;
};

void subscribe_step(StepPrinter& out, const Registry& reg) {
  out.step("subscribe",
           "subscribed to every change from revision " + std::to_string(reg.revision() + 1) +
               "; the subscriber receives each one after its commit, on its own thread, and it is "
               "printed under the step that made it");
}

// A write that names the revision it read is refused when another came first.
void conflict_step(StepPrinter& out, Registry& reg) {
  const App current = reg.apps().get(kAppId);
  const Revision stale = current.revision - 1;
  App edited = current;
  edited.meta["note"] = "written from a stale read";
  try {
    reg.apps().put(std::move(edited), Expect{.revision = stale});
  } catch (const Error& e) {
    if (e.code() != errc::conflict) throw;
    out.step("compare_and_swap",
             "a put expecting revision " + std::to_string(stale) +
                 " was refused (conflict, exit code 4 in the CLI): " + e.what(),
             {{"expected_revision", stale}});
    return;
  }
  throw std::runtime_error("demo: a write expecting a stale revision was accepted");
}

// Nothing of a failed transaction is kept or published.
struct CallerGaveUp : std::exception {};

void rollback_step(StepPrinter& out, Registry& reg) {
  const Revision before = reg.revision();
  try {
    reg.transact([](Tx& tx) {
      tx.config().save("demo.rolled-back", "never committed");
      tx.apps().update(kAppId, [](App& a) { a.meta["heartbeats"] = -1; });
      throw CallerGaveUp();
    });
  } catch (const CallerGaveUp&) {
  }
  if (reg.config().find("demo.rolled-back") || reg.revision() != before) {
    throw std::runtime_error("demo: a rolled-back transaction left a write behind");
  }
  out.step("rollback",
           "a transaction of two writes threw and was rolled back: revision still " +
               std::to_string(reg.revision()) + ", no event",
           {{"revision_before", before}, {"revision_after", reg.revision()}});
}

// This tool, run as a second process, writes to the same file; the
// subscriber here sees its commit (PRAGMA data_version, then the change log).
void other_process_step(StepPrinter& out, Registry& reg, DemoSubscriber& subscriber) {
  const Revision before = reg.revision();
  const std::string db = reg.path().string();
  const std::string value = "written by process " + std::to_string(::getpid()) + "'s child";
  std::vector<std::string> args = {"cairn", "--quiet", "--db", db, "put", "kv",
                                   std::string(kKvNamespace), "from-another-process", value};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  if (posix_spawn(&child, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("demo: could not start a second cairn process");
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("demo: the second cairn process failed");
  }
  reg.wait_for(reg.revision());
  out.step("other_process",
           "process " + std::to_string(child) + " ran `cairn put kv " + std::string(kKvNamespace) +
               " from-another-process ...` on the same file: revision " +
               std::to_string(before) + " -> " + std::to_string(reg.revision()),
           {{"pid", child}, {"revision", reg.revision()}});
  subscriber.settle();
}

// A consistent snapshot while a writer thread commits: the copy is one read
// transaction, and the writer never waits for it.
BackupInfo backup_step(StepPrinter& out, Registry& reg, const std::filesystem::path& dir,
                       DemoSubscriber& subscriber) {
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> written{0};
  std::thread writer([&] {
    KvStore load = reg.kv(kLoadNamespace);
    while (!stop.load()) {
      load.put("entry-" + std::to_string(written.load() % 100), std::to_string(written.load()));
      written.fetch_add(1);
    }
  });
  while (written.load() < 20) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::int64_t at_start = written.load();
  BackupInfo info;
  try {
    info = reg.backup(dir / "registry.backup.db");
  } catch (...) {
    stop = true;
    writer.join();
    throw;
  }
  const std::int64_t during = written.load() - at_start;
  while (written.load() < at_start + during + 20) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop = true;
  writer.join();
  reg.wait_for(reg.revision());
  out.step("backup",
           "online backup " + info.path.string() + " at revision " +
               std::to_string(info.last_revision) + " (" + std::to_string(info.size) +
               " bytes, " + std::to_string(info.duration_ms) + " ms) while a writer thread committed " +
               std::to_string(written.load()) + " KV writes (" + std::to_string(during) +
               " during the copy); the subscriber counted " +
               std::to_string(subscriber.load_events()) + " of them",
           {{"backup", info}, {"writer_commits", written.load()}});
  subscriber.settle();
  return info;
}

void verify_step(StepPrinter& out, const BackupInfo& backup) {
  const BackupInfo verified = verify_backup(backup.path);
  out.step("verify",
           "verified the backup: manifest, size, SHA-256 " + verified.sha256.substr(0, 16) +
               "..., exact schema v" + std::to_string(verified.schema_version) +
               ", integrity_check ok (as `cairn backup verify`)",
           {{"backup", verified}});
}

std::string export_text(const Registry& reg, std::vector<Kind> kinds = {}) {
  std::ostringstream text;
  reg.export_records(text, ExportOptions{.kinds = std::move(kinds)});
  return text.str();
}

// Restored into a new file, the backup holds what the registry held at the
// backup's revision: every kind but the load writer's KV entries is the same.
void restore_step(StepPrinter& out, const Registry& reg, const BackupInfo& backup,
                  const std::filesystem::path& dir) {
  const RestoreResult restored = restore(backup.path, dir / "restored.db");
  Options read_only;
  read_only.read_only = true;
  const Registry copy = Registry::open(restored.target, read_only);
  const std::vector<Kind> kinds = {Kind::app,    Kind::pool,           Kind::memory_block,
                                   Kind::config, Kind::torrent_session, Kind::torrent};
  const bool same = export_text(copy, kinds) == export_text(reg, kinds);
  if (!same || copy.revision() != backup.last_revision) {
    throw std::runtime_error("demo: the restored copy differs from the original");
  }
  out.step("restore",
           "restored the backup into " + restored.target.string() + ": revision " +
               std::to_string(copy.revision()) +
               ", and its apps, pools, blocks, config and torrents export exactly as the "
               "original's",
           {{"target", restored.target.string()}, {"revision", copy.revision()}});
}

void migrate_status_step(StepPrinter& out, const Registry& reg) {
  const MigrationStatus status = migration_status(reg.path());
  std::size_t applied = 0;
  for (const MigrationStep& step : status.steps) applied += step.applied ? 1 : 0;
  out.step("migrate_status",
           "schema version " + std::to_string(status.current_version) + " of " +
               std::to_string(status.latest_version) + ": " + std::to_string(applied) +
               " migrations applied, checksums " +
               (std::all_of(status.steps.begin(), status.steps.end(),
                            [](const MigrationStep& s) { return s.checksum_ok; })
                    ? "ok"
                    : "DIFFER") +
               " (as `cairn migrate status`)",
           {{"status", status}});
  for (const MigrationStep& step : status.steps) {
    out.detail("v" + std::to_string(step.version) + " " + step.name +
               (step.applied ? " applied" : " pending"));
  }
}

// JSON Lines out, into another registry, and out again: the same text.
void export_import_step(StepPrinter& out, const Registry& reg) {
  const std::string exported = export_text(reg);
  Registry memory = Registry::open_in_memory();
  std::istringstream in(exported);
  const ImportResult imported = memory.import_records(in);
  const bool same = export_text(memory) == exported;
  if (!same) throw std::runtime_error("demo: the export changed through an import");
  out.step("export_import",
           "exported " + std::to_string(imported.records) + " records (" +
               std::to_string(exported.size()) +
               " bytes of JSON Lines), imported them into an in-memory registry in one "
               "transaction, and its export is byte-identical",
           {{"records", imported.records}, {"bytes", exported.size()}});
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

// A temporary directory for the backup and the restored copy, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cairn-demo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw Error(errc::io_error, "demo: could not create a temporary directory");
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

ExitCode run_demo(const Globals& globals) {
  const std::string path = globals.db.empty() ? std::string(kDefaultDemoPath) : globals.db;
  StepPrinter out(globals);
  Registry reg = open_or_create_registry(path, globals);
  open_step(out, reg);
  DemoSubscriber subscriber(reg, out);
  subscribe_step(out, reg);
  // Each step waits for the subscriber, so that its events print under it.
  auto then_settle = [&](auto&& step) {
    step();
    subscriber.settle();
  };
  then_settle([&] { register_app_step(out, reg); });
  then_settle([&] { pool_step(out, reg); });
  then_settle([&] { block_step(out, reg); });
  then_settle([&] { transaction_step(out, reg); });
  then_settle([&] { conflict_step(out, reg); });
  then_settle([&] { rollback_step(out, reg); });
  then_settle([&] { config_step(out, reg); });
  then_settle([&] { torrent_step(out, reg); });
  then_settle([&] { torrent_session_step(out, reg); });
  then_settle([&] { kv_step(out, reg); });
  other_process_step(out, reg, subscriber);
  const ScratchDir scratch;
  const BackupInfo backup = backup_step(out, reg, scratch.path(), subscriber);
  verify_step(out, backup);
  restore_step(out, reg, backup, scratch.path());
  migrate_status_step(out, reg);
  export_import_step(out, reg);
  stats_step(out, globals, reg);
  return ExitCode::ok;
}

}  // namespace

void add_demo_command(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  CLI::App* demo = app.add_subcommand(
      "demo",
      "Walk through the whole product on a registry file (default ./cairn-demo.db): records, "
      "a subscriber, another process, compare-and-swap, rollback, online backup, verify, "
      "restore, migrations, export/import");
  commands.push_back({demo, [&globals] { return run_demo(globals); }});
}

}  // namespace cairn::cli
