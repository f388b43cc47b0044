// Stores: one per record kind, all with the same verbs.
//
// A store is a small handle obtained from a Registry (reg.apps()) or a Tx
// (tx.apps()). It holds no data of its own and is valid while its Registry
// is. Any thread may use a store of reg; on a thread that has a transaction
// open, its calls join that transaction (and its reads see its writes).
//
// Verbs, on every kind (K is the key, R the record):
//   find(K)          -> std::optional<R>     absent: nullopt
//   get(K)           -> R                    absent: errc::not_found
//   create(R)        -> R                    present: errc::already_exists
//   put(R, Expect)   -> R                    upsert; Expect mismatch: errc::conflict
//   put_many(vector<R>) -> vector<R>         apps, pools, memory blocks, torrents; below
//   update(K, edit, Expect) -> R             read, edit, write; absent: errc::not_found
//   remove(K, Expect) -> bool                false if absent
//   list(Query), count(Query)
// Writes return the record as stored: timestamps and revision filled in.
// Invalid records fail with errc::invalid_argument before anything is written.
// Every error is a cairn::Error (see error.h).
//
// put_many(records) upserts each record as put(record) does (no Expect), all
// in one transaction: a savepoint of the caller's inside reg.transact or a
// Tx, else one of its own. The batch takes one revision: every record
// returned carries it, and each has its own change-log row and event, in the
// batch's order, published after COMMIT. Every record is validated, and a
// key named twice is refused (errc::invalid_argument, `app "a": appears
// twice in one put_many`), before anything is written. All or nothing: any
// failure (an invalid field, a memory block naming a missing pool, a torrent
// state change not allowed...) writes nothing, publishes nothing, and throws
// the cairn::Error naming the record. An empty batch returns an empty vector
// and takes no revision.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

#include "cairn/records.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

CAIRN_DETAIL_BEGIN
namespace detail {
class StoreContext;
class TriggerTable;
}  // namespace detail
CAIRN_DETAIL_END

// Whether removing a pool also removes the memory blocks inside it.
enum class Cascade { no, yes };

class AppStore {
 public:
  std::optional<App> find(std::string_view id) const;
  App get(std::string_view id) const;
  App create(App app);
  App put(App app, Expect expect = {});
  std::vector<App> put_many(std::vector<App> apps);  // see put_many above
  App update(std::string_view id, const std::function<void(App&)>& edit, Expect expect = {});
  bool remove(std::string_view id, Expect expect = {});
  std::vector<App> list(const AppQuery& query = {}) const;
  std::size_t count(const AppQuery& query = {}) const;

  // The apps that name `pool`, through the membership index. Same as
  // list(AppQuery{.pool = pool}).
  std::vector<App> in_pool(std::string_view pool) const;

 private:
  friend class Registry;
  friend class Tx;
  explicit AppStore(detail::StoreContext* ctx) : ctx_(ctx) {}
  detail::StoreContext* ctx_;
};

class PoolStore {
 public:
  std::optional<Pool> find(std::string_view name) const;
  Pool get(std::string_view name) const;
  Pool create(Pool pool);
  Pool put(Pool pool, Expect expect = {});
  std::vector<Pool> put_many(std::vector<Pool> pools);  // see put_many above
  Pool update(std::string_view name, const std::function<void(Pool&)>& edit, Expect expect = {});
  // Fails with errc::constraint while memory blocks name the pool, unless
  // cascade is yes: then those blocks are removed in the same transaction,
  // each with its own change event.
  bool remove(std::string_view name, Expect expect = {}, Cascade cascade = Cascade::no);
  std::vector<Pool> list(const PoolQuery& query = {}) const;
  std::size_t count(const PoolQuery& query = {}) const;

 private:
  friend class Registry;
  friend class Tx;
  explicit PoolStore(detail::StoreContext* ctx) : ctx_(ctx) {}
  detail::StoreContext* ctx_;
};

class MemoryBlockStore {
 public:
  std::optional<MemoryBlock> find(std::string_view id) const;
  MemoryBlock get(std::string_view id) const;
  // The block's pool must exist (errc::constraint otherwise).
  MemoryBlock create(MemoryBlock block);
  // version becomes 1 on create and goes up by one on every update.
  MemoryBlock put(MemoryBlock block, Expect expect = {});
  // Each block's pool must exist (errc::constraint, nothing written, otherwise).
  std::vector<MemoryBlock> put_many(std::vector<MemoryBlock> blocks);  // see put_many above
  MemoryBlock update(std::string_view id, const std::function<void(MemoryBlock&)>& edit,
                     Expect expect = {});
  bool remove(std::string_view id, Expect expect = {});
  std::vector<MemoryBlock> list(const MemoryBlockQuery& query = {}) const;
  std::size_t count(const MemoryBlockQuery& query = {}) const;

 private:
  friend class Registry;
  friend class Tx;
  explicit MemoryBlockStore(detail::StoreContext* ctx) : ctx_(ctx) {}
  detail::StoreContext* ctx_;
};

// Server configuration: one JSON value per key.
class ConfigStore {
 public:
  // LatZero's saveServerConfig / loadServerConfig.
  ConfigEntry save(std::string_view key, nlohmann::json value, Expect expect = {});
  std::optional<nlohmann::json> load(std::string_view key) const;

  std::optional<ConfigEntry> find(std::string_view key) const;
  ConfigEntry get(std::string_view key) const;
  ConfigEntry create(ConfigEntry entry);
  ConfigEntry put(ConfigEntry entry, Expect expect = {});
  ConfigEntry update(std::string_view key, const std::function<void(ConfigEntry&)>& edit,
                     Expect expect = {});
  bool remove(std::string_view key, Expect expect = {});
  std::vector<ConfigEntry> list(const ConfigQuery& query = {}) const;
  std::size_t count(const ConfigQuery& query = {}) const;

 private:
  friend class Registry;
  friend class Tx;
  explicit ConfigStore(detail::StoreContext* ctx) : ctx_(ctx) {}
  detail::StoreContext* ctx_;
};

// Torrents by info hash (go-i2p-bt's torrent state). State changes follow
// TorrentState's rules and publish go-i2p-bt's hook topics: torrent.added
// (created), torrent.started, torrent.stopped, torrent.completed,
// torrent.removed; torrent.updated when the state stays.
class TorrentStore {
 public:
  std::optional<Torrent> find(std::string_view info_hash) const;
  Torrent get(std::string_view info_hash) const;
  Torrent create(Torrent torrent);
  // Fails with errc::invalid_argument, naming both states, for a state
  // change TorrentState does not allow.
  Torrent put(Torrent torrent, Expect expect = {});
  std::vector<Torrent> put_many(std::vector<Torrent> torrents);  // see put_many above
  Torrent update(std::string_view info_hash, const std::function<void(Torrent&)>& edit,
                 Expect expect = {});
  bool remove(std::string_view info_hash, Expect expect = {});
  std::vector<Torrent> list(const TorrentQuery& query = {}) const;
  std::size_t count(const TorrentQuery& query = {}) const;

  // go-i2p-bt's SaveAllTorrents / LoadAllTorrents. save_all is put_many
  // under the seed's name: the same call, the same behaviour.
  std::vector<Torrent> save_all(std::vector<Torrent> torrents);
  std::vector<Torrent> load_all() const;

 private:
  friend class Registry;
  friend class Tx;
  explicit TorrentStore(detail::StoreContext* ctx) : ctx_(ctx) {}
  detail::StoreContext* ctx_;
};

// The torrent session's configuration document. Topic torrent_session.changed.
class TorrentSessionStore {
 public:
  // The stored document, or the defaults (revision 0) when none was saved.
  TorrentSession load() const;
  std::optional<TorrentSession> find() const;
  TorrentSession save(TorrentSession session, Expect expect = {});

 private:
  friend class Registry;
  friend class Tx;
  explicit TorrentSessionStore(detail::StoreContext* ctx) : ctx_(ctx) {}
  detail::StoreContext* ctx_;
};

// One key-value namespace (Lampo's Persister, leptos-state's StorageBackend).
// An expired entry is invisible at once: find, get, exists, list, info and
// compare-and-swap treat it as absent. Expired entries are removed by
// purge_expired(), which also runs in the background every
// Options::purge_interval_ms, each with a kv.expired event. Topics: kv.put,
// kv.removed, kv.expired. Event ids are "<namespace>/<key>".
class KvStore {
 public:
  const std::string& name_space() const noexcept { return name_space_; }

  std::optional<KvEntry> find(std::string_view key) const;
  KvEntry get(std::string_view key) const;  // absent or expired: errc::not_found
  bool exists(std::string_view key) const;
  // Writes one entry; version becomes 1 for a new entry, +1 otherwise.
  KvEntry put(std::string_view key, std::string_view value, const KvWriteOptions& options = {});
  // All the writes in one transaction, in order; a failure writes none.
  std::vector<KvEntry> put_many(const std::vector<KvItem>& items);
  // false if absent. expect_version: remove only at that version
  // (errc::conflict otherwise).
  bool erase(std::string_view key, std::optional<std::int64_t> expect_version = {});
  // Keyset paging: pass the last key of a page as the next query's after.
  std::vector<KvEntry> list(const KvQuery& query = {}) const;
  // Remove every entry whose key starts with prefix ("" removes all); return
  // how many were removed. clear() is erase_prefix("").
  std::size_t erase_prefix(std::string_view prefix);
  std::size_t clear();
  KvInfo info() const;
  // Removes this namespace's expired entries now; returns how many.
  std::size_t purge_expired();

 private:
  friend class Registry;
  friend class Tx;
  CAIRN_HIDDEN KvStore(detail::StoreContext* ctx, std::string name_space);
  detail::StoreContext* ctx_;
  std::string name_space_;
};

// Trigger records: in memory only, in both durable and in-memory registries,
// never in the database file and never in the change log. Their events
// (trigger.created, trigger.dispatched, trigger.completed, trigger.expired)
// reach live subscribers with Event::replayable false. They are not part of
// transactions: each call takes effect at once. A trigger past its
// expires_at is invisible at once and removed (trigger.expired) by
// purge_expired() or the background purge.
class TriggerStore {
 public:
  // Fills expires_at (created_at + ttl_ms, or the default TTL). A present id:
  // errc::already_exists. More than Options::max_triggers live: errc::constraint.
  Trigger create(Trigger trigger);
  std::optional<Trigger> find(std::string_view id) const;
  Trigger get(std::string_view id) const;
  // Records the app the trigger was handed to. Absent: errc::not_found.
  Trigger mark_dispatched(std::string_view id, std::string_view app_id);
  Trigger mark_completed(std::string_view id);
  bool remove(std::string_view id);
  std::vector<Trigger> list(const TriggerQuery& query = {}) const;
  std::size_t count() const;
  std::size_t purge_expired();

 private:
  friend class Registry;
  explicit TriggerStore(detail::TriggerTable* table) : table_(table) {}
  detail::TriggerTable* table_;
};

}  // namespace cairn
CAIRN_API_END
