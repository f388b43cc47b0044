// Tx: a write transaction, as a guard (Registry::begin, Registry::transact).
#pragma once

#include <string_view>

#include "cairn/stores.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

CAIRN_DETAIL_BEGIN
namespace detail {
class StoreContext;
}  // namespace detail
CAIRN_DETAIL_END

// A write transaction, as a guard: it rolls back in its destructor unless
// commit() ran. Opened by Registry::begin() on the calling thread, and usable
// only on that thread. Opened while the thread already has one, it is a
// savepoint inside it: committing it releases the savepoint, rolling it back
// undoes only its own writes. The outermost commit makes everything durable
// and takes one new revision for all the records changed inside.
class Tx {
 public:
  Tx(Tx&& other) noexcept;
  Tx& operator=(Tx&&) = delete;
  ~Tx();

  AppStore apps();
  PoolStore pools();
  MemoryBlockStore blocks();
  ConfigStore config();
  TorrentStore torrents();
  TorrentSessionStore torrent_session();
  KvStore kv(std::string_view name_space);

  // Throws on failure, after rolling back: nothing of the transaction is kept.
  void commit();
  // Never throws. A no-op when already committed or rolled back.
  void rollback() noexcept;
  bool active() const noexcept { return active_; }

 private:
  friend class Registry;
  Tx(detail::StoreContext* ctx, int depth) : ctx_(ctx), depth_(depth) {}
  detail::StoreContext* ctx_;
  int depth_;  // 0: the outermost transaction; n > 0: savepoint n
  bool active_ = true;
};

}  // namespace cairn
CAIRN_API_END
