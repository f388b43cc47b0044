// The durable change log: one row per changed record, keyed by
// (revision, index). Written inside the write transaction that made the
// change; read by replay, the Watcher and the CLI.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
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

// One change-log row as the write path makes it: the record images are JSON
// text, so a write never builds JSON objects that nobody may read. Events
// (with parsed images) are made from it only for subscribers.
struct Change {
  Revision revision = 0;
  std::uint32_t index = 0;
  Kind kind = Kind::registry;
  Op op = Op::created;
  std::string topic;
  std::string id;
  std::optional<std::string> before, after;  // JSON text
  Timestamp at = 0;
  std::string actor;
};

void append_change(db::Connection& conn, const Change& change);
Event to_event(const Change& change);

// Events with revision >= from, oldest first; at most `limit` (0: all).
std::vector<Event> read_changes(db::Connection& conn, Revision from, std::size_t limit);

// Events of the whole revisions from..to (inclusive), oldest first.
std::vector<Event> read_revisions(db::Connection& conn, Revision from, Revision to);

// Named subscriptions' acknowledged revisions (table subscriptions).
std::optional<Revision> acked_revision(db::Connection& conn, std::string_view name);
void store_acked_revision(db::Connection& conn, std::string_view name, Revision revision,
                          Timestamp now);

// Every named subscription's acknowledged revision, by name.
std::vector<std::pair<std::string, Revision>> acked_revisions(db::Connection& conn);
// Removes every named position, then stores `positions`.
void replace_acked_revisions(db::Connection& conn,
                             const std::vector<std::pair<std::string, Revision>>& positions,
                             Timestamp now);
// Removes the whole change log (Registry::restore_from: a restored file's
// history is not this registry's).
void clear_change_log(db::Connection& conn);
// Sets the last assigned revision; the next write gets `revision + 1`.
void set_current_revision(db::Connection& conn, Revision revision);

struct RetentionPolicy {
  std::int64_t max_revisions;
  std::int64_t max_age_ms;
  std::int64_t subscription_max_lag;
};

// Removes change-log revisions beyond the newest max_revisions or older than
// max_age_ms, but none after the position of a named subscription that lags
// at most subscription_max_lag. Runs inside the caller's write transaction.
// Returns the number of rows removed.
std::size_t compact_change_log(db::Connection& conn, const RetentionPolicy& policy,
                               Timestamp now);

}  // namespace cairn::detail
