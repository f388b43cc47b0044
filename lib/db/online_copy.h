// One online copy of a whole database from one connection into another
// (SQLite's backup API), for backups, Registry::restore_from and the
// migration dry-run.
#pragma once

#include <cstdint>
#include <functional>

#include "db/connection.h"

namespace cairn::db {

// Copies `from`'s main database over `to`'s, `pages_per_step` pages at a time
// (-1: all at once). `progress(done, total)` runs after each step; returning
// false stops the copy. Returns false when stopped that way; throws Error
// (mapped from SQLite's code) when the copy fails. `to` is left as SQLite
// leaves it after a failed copy: the caller discards it or rolls back.
bool copy_database(Connection& from, Connection& to, int pages_per_step = -1,
                   const std::function<bool(std::int64_t, std::int64_t)>& progress = {});

}  // namespace cairn::db
