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
//   update(K, edit, Expect) -> R             read, edit, write; absent: errc::not_found
//   remove(K, Expect) -> bool                false if absent
//   list(Query), count(Query)
// Writes return the record as stored: timestamps and revision filled in.
// Invalid records fail with errc::invalid_argument before anything is written.
// Every error is a cairn::Error (see error.h).
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "cairn/records.h"

namespace cairn {

namespace detail {
class StoreContext;
}

// Whether removing a pool also removes the memory blocks inside it.
enum class Cascade { no, yes };

class AppStore {
 public:
  std::optional<App> find(std::string_view id) const;
  App get(std::string_view id) const;
  App create(App app);
  App put(App app, Expect expect = {});
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

}  // namespace cairn
