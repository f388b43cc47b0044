// Registry: opens the database, brings its schema up to date, and hands out
// stores and transactions over one StoreContext.
#include "cairn/registry.h"

#include <fmt/format.h>

#include "db/database.h"
#include "db/files.h"
#include "events/change_log.h"
#include "events/event_bus.h"
#include "migrate/migrator.h"
#include "stores/store_context.h"

namespace cairn {
namespace detail {

class RegistryImpl {
 public:
  RegistryImpl(std::unique_ptr<db::Database> db, const Options& options)
      : ctx(std::move(db), options), bus(std::make_shared<EventBus>(ctx)) {
    ctx.on_commit = [bus = bus.get()](std::vector<Event>&& events) {
      bus->publish(std::move(events));
    };
  }

  ~RegistryImpl() { close(); }

  // The bus stops first: its threads read the database and store positions.
  void close() noexcept {
    bus->stop();
    ctx.on_commit = nullptr;
    ctx.close();
  }

  // Refuses a foreign, newer or edited database before anything is written,
  // then configures the connection and applies pending migrations.
  void prepare_schema() {
    db::Database& db = ctx.open_database();
    Migrator migrator(db.writer(), embedded_migrations(), [this] { return ctx.now(); });
    const int version = migrator.check();
    db.configure();
    if (version == migrator.latest()) return;
    if (!ctx.options().migrate_on_open && version > 0) {
      throw Error(errc::migration_failed,
                  fmt::format("registry schema version {} is behind this library's {}; migrate "
                              "it (cairn migrate up) or open with migrate_on_open",
                              version, migrator.latest()));
    }
    migrator.up();
  }

  StoreContext ctx;
  std::shared_ptr<EventBus> bus;
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

void Tx::commit() {
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
  return Registry(std::move(impl));
}

Registry Registry::open_in_memory(const Options& options) {
  auto impl = std::make_unique<detail::RegistryImpl>(db::Database::open_memory(options), options);
  impl->prepare_schema();
  return Registry(std::move(impl));
}

AppStore Registry::apps() { return AppStore(&impl_->ctx); }
PoolStore Registry::pools() { return PoolStore(&impl_->ctx); }
MemoryBlockStore Registry::blocks() { return MemoryBlockStore(&impl_->ctx); }
ConfigStore Registry::config() { return ConfigStore(&impl_->ctx); }

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
  }
  s.statements_cached =
      static_cast<std::int64_t>(impl_->ctx.open_database().statements_cached());
  impl_->bus->fill_stats(s);
  return s;
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
        {"config_entries", s.config_entries}}},
      {"last_revision", s.last_revision},
      {"oldest_revision", s.oldest_revision},
      {"statements_cached", s.statements_cached},
      {"events_delivered", s.events_delivered},
      {"handler_failures", s.handler_failures},
  };
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

int latest_schema_version() noexcept {
  return static_cast<int>(detail::embedded_migrations().size());
}

}  // namespace cairn
