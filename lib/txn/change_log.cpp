#include "txn/change_log.h"

#include <limits>

#include <fmt/format.h>

#include "cairn/error.h"
#include "util/json_reader.h"

namespace cairn::detail {
namespace {

// The last revision is the newest in the change log (the right edge of its
// b-tree, no page written to find it), or registry_state's floor when the
// log holds nothing newer (after retention, a restore, or a write that
// logged no change).
#define CAIRN_LAST_REVISION                                    \
  "max((SELECT revision FROM registry_state WHERE id = 1), " \
  "coalesce((SELECT max(revision) FROM change_log), 0))"
constexpr const char* kAllocateRevision = "SELECT " CAIRN_LAST_REVISION " + 1";
constexpr const char* kCurrentRevision = "SELECT " CAIRN_LAST_REVISION;
#undef CAIRN_LAST_REVISION
constexpr const char* kOldestRevision = "SELECT min(revision) FROM change_log";
constexpr const char* kAppendChange =
    "INSERT INTO change_log (revision, idx, kind, op, topic, record_id, before, after, at, actor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
#define CAIRN_CHANGE_COLUMNS "revision, idx, kind, op, topic, record_id, before, after, at, actor"
constexpr const char* kReadChanges = "SELECT " CAIRN_CHANGE_COLUMNS
                                     " FROM change_log WHERE revision >= ? "
                                     "ORDER BY revision, idx LIMIT ?";
constexpr const char* kReadRevisions = "SELECT " CAIRN_CHANGE_COLUMNS
                                       " FROM change_log WHERE revision >= ? AND revision <= ? "
                                       "ORDER BY revision, idx";
#undef CAIRN_CHANGE_COLUMNS
constexpr const char* kAckedRevision =
    "SELECT acked_revision FROM subscriptions WHERE name = ?";
constexpr const char* kAllAckedRevisions =
    "SELECT name, acked_revision FROM subscriptions ORDER BY name";
constexpr const char* kDeleteAckedRevisions = "DELETE FROM subscriptions";
constexpr const char* kDeleteChangeLog = "DELETE FROM change_log";
constexpr const char* kSetRevision = "UPDATE registry_state SET revision = ? WHERE id = 1";
constexpr const char* kStoreAckedRevision =
    "INSERT INTO subscriptions (name, acked_revision, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET acked_revision = excluded.acked_revision, "
    "updated_at = excluded.updated_at";
// Retention by age removes the oldest revisions up to the first one written
// at or after a time: a walk from the left edge, as long as what it removes.
constexpr const char* kFirstSince =
    "SELECT revision FROM change_log WHERE at >= ? ORDER BY revision, idx LIMIT 1";
// The oldest position a named subscription within the lag bound still needs.
constexpr const char* kOldestPinned =
    "SELECT min(acked_revision) FROM subscriptions WHERE acked_revision >= ?";
constexpr const char* kDeleteThrough = "DELETE FROM change_log WHERE revision <= ?";

void bind_image(db::Statement& stmt, int index, const std::optional<std::string>& image) {
  if (image) {
    stmt.bind_text(index, *image);
  } else {
    stmt.bind_null(index);
  }
}

// Images are written by the registry; one that does not parse was damaged.
nlohmann::json parse_stored_image(std::string_view text) {
  try {
    return parse_stored_json(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(errc::corrupt, fmt::format("a change-log image is damaged: {}", e.what()));
  }
}

std::optional<nlohmann::json> parse_image(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return parse_stored_image(*text);
}

std::optional<nlohmann::json> read_image(const db::Statement& stmt, int column) {
  if (stmt.is_null(column)) return std::nullopt;
  return parse_stored_image(stmt.column_text(column));
}

}  // namespace

Revision allocate_revision(db::Connection& conn) { return conn.query_int(kAllocateRevision); }


Revision current_revision(db::Connection& conn) { return conn.query_int(kCurrentRevision); }

Revision oldest_revision(db::Connection& conn) { return conn.query_int(kOldestRevision); }

void append_change(db::Connection& conn, const Change& change) {
  db::Statement stmt = conn.prepare(kAppendChange);
  stmt.bind_int(1, change.revision)
      .bind_int(2, change.index)
      .bind_text(3, to_string(change.kind))
      .bind_text(4, to_string(change.op))
      .bind_text(5, change.topic)
      .bind_text(6, change.id);
  bind_image(stmt, 7, change.before);
  bind_image(stmt, 8, change.after);
  stmt.bind_int(9, change.at).bind_text(10, change.actor).run();
}

Event to_event(const Change& change) {
  return Event{.revision = change.revision,
               .index = change.index,
               .kind = change.kind,
               .op = change.op,
               .topic = change.topic,
               .id = change.id,
               .before = parse_image(change.before),
               .after = parse_image(change.after),
               .at = change.at,
               .actor = change.actor};
}

// Events from a statement over CAIRN_CHANGE_COLUMNS.
static std::vector<Event> read_rows(db::Statement& stmt) {
  std::vector<Event> out;
  while (stmt.step()) {
    Event e;
    e.revision = stmt.column_int(0);
    e.index = static_cast<std::uint32_t>(stmt.column_int(1));
    try {
      e.kind = kind_from_string(stmt.column_text(2));
      e.op = op_from_string(stmt.column_text(3));
    } catch (const Error& bad) {
      throw Error(errc::corrupt, fmt::format("a change-log row is damaged: {}", bad.what()));
    }
    e.topic = std::string(stmt.column_text(4));
    e.id = std::string(stmt.column_text(5));
    e.before = read_image(stmt, 6);
    e.after = read_image(stmt, 7);
    e.at = stmt.column_int(8);
    e.actor = std::string(stmt.column_text(9));
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<Event> read_changes(db::Connection& conn, Revision from, std::size_t limit) {
  db::Statement stmt = conn.prepare(kReadChanges);
  stmt.bind_int(1, from);
  stmt.bind_int(2, limit == 0 ? -1 : static_cast<std::int64_t>(limit));
  return read_rows(stmt);
}

std::vector<Event> read_revisions(db::Connection& conn, Revision from, Revision to) {
  db::Statement stmt = conn.prepare(kReadRevisions);
  stmt.bind_int(1, from).bind_int(2, to);
  return read_rows(stmt);
}

std::optional<Revision> acked_revision(db::Connection& conn, std::string_view name) {
  db::Statement stmt = conn.prepare(kAckedRevision);
  stmt.bind_text(1, name);
  if (!stmt.step()) return std::nullopt;
  return stmt.column_int(0);
}

void store_acked_revision(db::Connection& conn, std::string_view name, Revision revision,
                          Timestamp now) {
  conn.prepare(kStoreAckedRevision).bind_text(1, name).bind_int(2, revision).bind_int(3, now).run();
}

std::vector<std::pair<std::string, Revision>> acked_revisions(db::Connection& conn) {
  std::vector<std::pair<std::string, Revision>> out;
  db::Statement stmt = conn.prepare(kAllAckedRevisions);
  while (stmt.step()) out.emplace_back(std::string(stmt.column_text(0)), stmt.column_int(1));
  return out;
}

void replace_acked_revisions(db::Connection& conn,
                             const std::vector<std::pair<std::string, Revision>>& positions,
                             Timestamp now) {
  conn.prepare(kDeleteAckedRevisions).run();
  for (const auto& [name, revision] : positions) store_acked_revision(conn, name, revision, now);
}

void clear_change_log(db::Connection& conn) { conn.prepare(kDeleteChangeLog).run(); }

void set_current_revision(db::Connection& conn, Revision revision) {
  conn.prepare(kSetRevision).bind_int(1, revision).run();
}

std::size_t compact_change_log(db::Connection& conn, const RetentionPolicy& policy,
                               Timestamp now) {
  const Revision current = current_revision(conn);
  Revision through = current - policy.max_revisions;
  {
    db::Statement stmt = conn.prepare(kFirstSince);
    stmt.bind_int(1, now - policy.max_age_ms);
    through = std::max(through, stmt.step() ? stmt.column_int(0) - 1 : current);
  }
  {
    db::Statement stmt = conn.prepare(kOldestPinned);
    stmt.bind_int(1, current - policy.subscription_max_lag);
    if (stmt.step() && !stmt.is_null(0)) through = std::min(through, stmt.column_int(0));
  }
  if (through <= 0) return 0;
  // When every row goes, the floor keeps the last revision.
  if (through >= current) set_current_revision(conn, current);
  conn.prepare(kDeleteThrough).bind_int(1, through).run();
  return static_cast<std::size_t>(conn.changes());
}

}  // namespace cairn::detail
