// What the registry's background purge needs from the KV store.
#pragma once

#include <cstddef>
#include <functional>

#include "cairn/records.h"

#include "txn/store_context.h"

namespace cairn::detail {

// Removes up to `limit` expired KV entries of every namespace, each with a
// kv.expired event, in one write transaction. With wait false it gives up
// (returns 0) when another thread holds the writer. Returns how many went.
std::size_t purge_expired_kv(StoreContext& ctx, std::size_t limit, bool wait);

}  // namespace cairn::detail
