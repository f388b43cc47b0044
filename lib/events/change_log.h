// The durable change log: one row per changed record, keyed by
// (revision, index). Written inside the write transaction that made the
// change; read by replay, the Watcher and the CLI.
#pragma once

#include <cstddef>
#include <vector>

#include "cairn/events.h"
#include "db/connection.h"

namespace cairn::detail {

// Takes the next revision. Must run inside the write transaction that will
// use it, so a rollback gives the revision back.
Revision allocate_revision(db::Connection& conn);

// The revision of the last committed write (as seen by `conn`).
Revision current_revision(db::Connection& conn);

// The oldest revision still in the change log, or 0 when it is empty.
Revision oldest_revision(db::Connection& conn);

void append_change(db::Connection& conn, const Event& event);

// Events with revision >= from, oldest first; at most `limit` (0: all).
std::vector<Event> read_changes(db::Connection& conn, Revision from, std::size_t limit);

}  // namespace cairn::detail
