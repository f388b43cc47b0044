// What the pool store needs of memory blocks, to guard and cascade removals.
#pragma once

#include <cstdint>
#include <string_view>

#include "txn/store_context.h"

namespace cairn::detail {

std::int64_t count_blocks_in_pool(db::Connection& conn, std::string_view pool);

// Removes every block in `pool`, each with its own change event.
void remove_blocks_in_pool(Writer& w, std::string_view pool);

}  // namespace cairn::detail
