// Registry: opens the database, brings its schema up to date, and hands out
// stores and transactions over one StoreContext.
#include "cairn/registry.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "cairn/migrate.h"

#include "backup/backup.h"
#include "backup/scheduler.h"
#include "db/database.h"
#include "db/files.h"
#include "events/event_bus.h"
#include "migrate/migration.h"
#include "migrate/on_open.h"
#include "stores/export.h"
#include "stores/kv.h"
#include "stores/triggers.h"
#include "txn/change_log.h"
#include "txn/store_context.h"

namespace cairn {
namespace detail {

class RegistryImpl {
 public:
  RegistryImpl(std::unique_ptr<db::Database> db, const Options& options)
      : ctx(std::move(db), options),
        bus(std::make_shared<EventBus>(ctx)),
        triggers(ctx.options(), [this] { return ctx.now(); },
                 [bus = bus.get()](std::vector<Event>&& events) {
                   bus->publish_live_only(std::move(events));
                 }) {
    ctx.on_commit = [bus = bus.get()](std::vector<Change>&& events) {
      bus->publish(std::move(events));
    };
  }

  ~RegistryImpl() { close(); }

  // Background work stops first: it reads the database and stores positions.
  void close() noexcept {
    stop_maintenance();
    if (scheduler) scheduler->stop();
    bus->stop();
    ctx.on_commit = nullptr;
    ctx.on_expiring_write = nullptr;
    ctx.close();
  }

  // ---- Background maintenance ----
  // One thread purges expired KV entries and triggers, and truncates a WAL
  // that grew past its bound. A file registry starts it at open: another
  // process may write entries with a TTL at any time, and only a registry
  // that looks will purge them (one indexed seek per tick when nothing
  // expired). An in-memory registry starts it on its first write with a TTL,
  // the first use of triggers, or the WAL passing its bound, so one that
  // needs none of it has no thread.

  void enable_maintenance() {
    if (ctx.options().read_only) return;  // purges and checkpoints write
    ctx.on_expiring_write = [this] { start_maintenance(); };
    ctx.open_database().on_wal_over_bound = [this] { start_maintenance(); };
    const db::Database& database = ctx.open_database();
    if (!database.in_memory()) {
      start_maintenance();
      note_wal_size(db::file_size_or_zero(database.path().string() + "-wal"));
    }
  }

  // A WAL past its bound that this registry's own commits did not grow
  // (another process's, or one left by a registry closed while a reader held
  // a snapshot) is truncated by the maintenance thread too. `bytes`: the
  // -wal file's size, as the caller just read it.
  void note_wal_size(std::int64_t bytes) {
    db::Database& db = ctx.open_database();
    db.note_wal_size(bytes);
    if (db.wal_over_bound()) start_maintenance();
  }

  void start_maintenance() {
    if (ctx.options().read_only) return;
    std::lock_guard lock(maintenance_mu);
    if (maintenance.joinable() || maintenance_stopping) return;
    maintenance = std::thread([this] { maintenance_loop(); });
  }

  void maintenance_loop() {
    const Options& o = ctx.options();
    const auto interval = std::chrono::milliseconds(
        std::max(1, o.purge_interval_ms > 0 ? std::min(o.purge_interval_ms, o.checkpoint_interval_ms)
                                            : o.checkpoint_interval_ms));
    std::unique_lock lock(maintenance_mu);
    while (!maintenance_cv.wait_for(lock, interval, [this] { return maintenance_stopping; })) {
      lock.unlock();
      try {
        if (o.purge_interval_ms > 0) {
          triggers.purge_expired();
          // Never waits for the writer: a busy writer means "next time".
          purge_expired_kv(ctx, kPurgeBatch, /*wait=*/false);
        }
        if (ctx.open_database().wal_over_bound()) ctx.try_checkpoint();
      } catch (const std::exception& e) {
        log(fmt::format("cairn: background maintenance: {}", e.what()));
      }
      lock.lock();
    }
  }

  void stop_maintenance() noexcept {
    {
      std::lock_guard lock(maintenance_mu);
      maintenance_stopping = true;
    }
    maintenance_cv.notify_all();
    if (maintenance.joinable()) maintenance.join();
  }

  MigrateResult prepare_schema(std::optional<int> to = {}) {
    return detail::prepare_schema(ctx, to, [this](const std::filesystem::path& dest) {
      return write_backup(ctx.open_database(), dest, {}, ctx.now()).path;
    });
  }

  void start_scheduled_backups() {
    const Options& o = ctx.options();
    if (o.read_only || o.backup_dir.empty() || o.backup_interval_ms <= 0) return;
    scheduler = std::make_unique<BackupScheduler>(
        o.backup_dir, o.backup_name, std::chrono::milliseconds(o.backup_interval_ms),
        o.max_backups, [this](const std::filesystem::path& dest) { backup(dest, {}); },
        [this] { return ctx.now(); }, [this](const std::string& m) { log(m); });
  }

  BackupInfo backup(const std::filesystem::path& dest, const BackupOptions& options) {
    ctx.refuse_if_read_only();  // a backup is recorded in the change log
    // No backup without its event, and no event without its backup: the
    // backup takes its name inside the transaction that records it.
    BackupInfo info = write_backup(
        ctx.open_database(), dest, options, ctx.now(),
        [this, &dest](const BackupInfo& made, const PlaceBackup& place) {
          ctx.write([&](Writer& w) {
            w.record(Kind::registry, Op::backed_up, "backup.created", dest.string(),
                     std::nullopt, nlohmann::json(made).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            place();
          });
        });
    {
      std::lock_guard lock(backup_mu);
      last_backup = info;
    }
    return info;
  }

  void log(const std::string& message) const {
    if (ctx.options().log) {
      ctx.options().log(message);
    } else {
      std::fprintf(stderr, "%s\n", message.c_str());
    }
  }

  static constexpr std::size_t kPurgeBatch = 1000;

  StoreContext ctx;
  std::shared_ptr<EventBus> bus;
  TriggerTable triggers;
  std::unique_ptr<BackupScheduler> scheduler;

  std::mutex maintenance_mu;
  std::condition_variable maintenance_cv;
  bool maintenance_stopping = false;
  std::thread maintenance;

  std::mutex backup_mu;  // guards the last_backup facts
  BackupInfo last_backup;
};

}  // namespace detail

// ---- Tx ---------------------------------------------------------------------

Tx::Tx(Tx&& other) noexcept : ctx_(other.ctx_), depth_(other.depth_), active_(other.active_) {
  other.active_ = false;
}

Tx::~Tx() { rollback(); }

AppStore Tx::apps() { return AppStore(ctx_); }
PoolStore Tx::pools() { return PoolStore(ctx_); }
MemoryBlockStore Tx::blocks() { return MemoryBlockStore(ctx_); }
ConfigStore Tx::config() { return ConfigStore(ctx_); }
TorrentStore Tx::torrents() { return TorrentStore(ctx_); }
TorrentSessionStore Tx::torrent_session() { return TorrentSessionStore(ctx_); }
KvStore Tx::kv(std::string_view name_space) { return KvStore(ctx_, std::string(name_space)); }

void Tx::commit() {
  ctx_->open_database();  // errc::closed after Registry::close()
  if (!active_) throw Error(errc::invalid_argument, "transaction: already finished");
  try {
    ctx_->commit(depth_);
    active_ = false;
  } catch (...) {
    rollback();
    throw;
  }
}

void Tx::rollback() noexcept {
  if (!active_) return;
  active_ = false;
  ctx_->rollback(depth_);
}

// ---- Registry ---------------------------------------------------------------

Registry::Registry(std::unique_ptr<detail::RegistryImpl> impl) : impl_(std::move(impl)) {}
Registry::Registry(Registry&&) noexcept = default;
Registry& Registry::operator=(Registry&&) noexcept = default;
Registry::~Registry() = default;

Registry Registry::open(const std::filesystem::path& path, const Options& options) {
  auto impl =
      std::make_unique<detail::RegistryImpl>(db::Database::open_file(path, options), options);
  impl->prepare_schema();
  // Before any background thread: enable_maintenance() sets the hooks that
  // the backups' commits call.
  impl->enable_maintenance();
  impl->start_scheduled_backups();
  return Registry(std::move(impl));
}

Registry Registry::open_in_memory(const Options& options) {
  auto impl = std::make_unique<detail::RegistryImpl>(db::Database::open_memory(options), options);
  impl->prepare_schema();
  impl->enable_maintenance();
  return Registry(std::move(impl));
}

AppStore Registry::apps() { return AppStore(&impl_->ctx); }
PoolStore Registry::pools() { return PoolStore(&impl_->ctx); }
MemoryBlockStore Registry::blocks() { return MemoryBlockStore(&impl_->ctx); }
ConfigStore Registry::config() { return ConfigStore(&impl_->ctx); }
TorrentStore Registry::torrents() { return TorrentStore(&impl_->ctx); }
TorrentSessionStore Registry::torrent_session() { return TorrentSessionStore(&impl_->ctx); }
KvStore Registry::kv(std::string_view name_space) {
  impl_->ctx.open_database();  // errc::closed after close()
  return KvStore(&impl_->ctx, std::string(name_space));
}
TriggerStore Registry::triggers() {
  impl_->ctx.open_database();
  impl_->start_maintenance();
  return TriggerStore(&impl_->triggers);
}

std::size_t Registry::export_records(std::ostream& out, const ExportOptions& options) const {
  return detail::export_jsonl(impl_->ctx, out, options);
}

ImportResult Registry::import_records(std::istream& in) {
  return detail::import_jsonl(impl_->ctx, in, ImportOptions{});
}

ImportResult Registry::import_records(std::istream& in, const ImportOptions& options) {
  return detail::import_jsonl(impl_->ctx, in, options);
}

Tx Registry::begin() { return Tx(&impl_->ctx, impl_->ctx.begin()); }

Revision Registry::revision() const {
  return impl_->ctx.read([](db::Connection& c) { return detail::current_revision(c); });
}

int Registry::schema_version() const {
  return impl_->ctx.read(
      [](db::Connection& c) { return static_cast<int>(c.query_int("PRAGMA user_version")); });
}

std::vector<Event> Registry::changes(Revision from, std::size_t limit) const {
  return impl_->ctx.read(
      [&](db::Connection& c) { return detail::read_changes(c, from, limit); });
}

std::vector<std::string> Registry::integrity_check() const {
  return impl_->ctx.read([](db::Connection& c) {
    std::vector<std::string> problems;
    db::Statement stmt = c.prepare("PRAGMA integrity_check");
    while (stmt.step()) problems.emplace_back(stmt.column_text(0));
    return problems;
  });
}

Stats Registry::stats() const {
  const db::Database& db = impl_->ctx.open_database();
  Stats s = impl_->ctx.read([](db::Connection& c) {
    Stats r;
    r.schema_version = static_cast<int>(c.query_int("PRAGMA user_version"));
    r.page_size = c.query_int("PRAGMA page_size");
    r.page_count = c.query_int("PRAGMA page_count");
    r.freelist_pages = c.query_int("PRAGMA freelist_count");
    r.apps = c.query_int("SELECT count(*) FROM apps");
    r.pools = c.query_int("SELECT count(*) FROM pools");
    r.memory_blocks = c.query_int("SELECT count(*) FROM memory_blocks");
    r.config_entries = c.query_int("SELECT count(*) FROM server_config");
    r.torrents = c.query_int("SELECT count(*) FROM torrents");
    r.kv_entries = c.query_int("SELECT count(*) FROM kv_entries");
    r.last_revision = detail::current_revision(c);
    r.oldest_revision = detail::oldest_revision(c);
    return r;
  });
  s.path = db.path().string();
  if (db.in_memory()) {
    s.database_bytes = s.page_size * s.page_count;
  } else {
    s.database_bytes = db::file_size_or_zero(db.path());
    s.wal_bytes = db::file_size_or_zero(db.path().string() + "-wal");
    const std::int64_t bound = impl_->ctx.options().journal_size_limit;
    if (bound >= 0 && s.wal_bytes > bound) {
      impl_->note_wal_size(s.wal_bytes);
      s.warnings.push_back(fmt::format(
          "the WAL is {} bytes, past its bound of {}: a reader holds an old snapshot, so "
          "checkpoints cannot finish until it lets go",
          s.wal_bytes, bound));
    }
  }
  s.statements_cached =
      static_cast<std::int64_t>(impl_->ctx.open_database().statements_cached());
  s.transactions_committed = impl_->ctx.transactions_committed();
  s.commits = impl_->ctx.commits();
  s.writers_waiting = impl_->ctx.writers_waiting();
  s.triggers = static_cast<std::int64_t>(impl_->triggers.count());
  impl_->bus->fill_stats(s);
  std::lock_guard lock(impl_->backup_mu);
  if (!impl_->last_backup.path.empty()) {
    s.last_backup_path = impl_->last_backup.path.string();
    s.last_backup_at = impl_->last_backup.created_at;
    s.last_backup_duration_ms = impl_->last_backup.duration_ms;
  }
  return s;
}

BackupInfo Registry::backup(const std::filesystem::path& dest, const BackupOptions& options) {
  return impl_->backup(dest, options);
}

void Registry::restore_from(const std::filesystem::path& backup) {
  detail::restore_into(impl_->ctx, backup);
}

const std::filesystem::path& Registry::path() const { return impl_->ctx.open_database().path(); }

void Registry::close() noexcept {
  if (impl_) impl_->close();
}

Subscription Registry::subscribe(const Filter& filter, Handler handler,
                                 const SubscribeOptions& options) {
  impl_->ctx.open_database();
  return impl_->bus->subscribe(filter, std::move(handler), options);
}

bool Registry::wait_for(Revision revision, std::chrono::milliseconds timeout) const {
  return impl_->bus->wait_for(revision, timeout);
}

std::size_t Registry::compact_change_log() { return impl_->bus->compact(); }

void to_json(nlohmann::json& j, const Stats& s) {
  j = nlohmann::json{
      {"path", s.path},
      {"schema_version", s.schema_version},
      {"database_bytes", s.database_bytes},
      {"wal_bytes", s.wal_bytes},
      {"page_size", s.page_size},
      {"page_count", s.page_count},
      {"freelist_pages", s.freelist_pages},
      {"records",
       {{"apps", s.apps},
        {"pools", s.pools},
        {"memory_blocks", s.memory_blocks},
        {"config_entries", s.config_entries},
        {"torrents", s.torrents},
        {"kv_entries", s.kv_entries},
        {"triggers", s.triggers}}},
      {"last_revision", s.last_revision},
      {"oldest_revision", s.oldest_revision},
      {"statements_cached", s.statements_cached},
      {"transactions_committed", s.transactions_committed},
      {"commits", s.commits},
      {"writers_waiting", s.writers_waiting},
      {"events_delivered", s.events_delivered},
      {"handler_failures", s.handler_failures},
      {"last_backup",
       {{"path", s.last_backup_path},
        {"at", s.last_backup_at},
        {"duration_ms", s.last_backup_duration_ms}}},
  };
  j["warnings"] = s.warnings;
  auto& subscribers = j["subscribers"] = nlohmann::json::array();
  for (const auto& sub : s.subscribers) {
    subscribers.push_back({{"name", sub.name},
                           {"delivered", sub.delivered},
                           {"lag", sub.lag},
                           {"events_delivered", sub.events_delivered},
                           {"handler_failures", sub.handler_failures},
                           {"resyncs", sub.resyncs}});
  }
}

const char* version() noexcept { return CAIRN_VERSION; }

MigrateResult migrate(const std::filesystem::path& db, const MigrateOptions& options) {
  Options open_options;
  open_options.backup_before_migrate = options.backup_first;
  detail::RegistryImpl impl(db::Database::open_file(db, open_options), open_options);
  return impl.prepare_schema(options.to);
}

int latest_schema_version() noexcept {
  return static_cast<int>(detail::embedded_migrations().size());
}

}  // namespace cairn
