#include "events/change_log.h"

#include <limits>

namespace cairn::detail {
namespace {

constexpr const char* kAllocateRevision =
    "UPDATE registry_state SET revision = revision + 1 WHERE id = 1 RETURNING revision";
constexpr const char* kCurrentRevision = "SELECT revision FROM registry_state WHERE id = 1";
constexpr const char* kOldestRevision = "SELECT min(revision) FROM change_log";
constexpr const char* kAppendChange =
    "INSERT INTO change_log (revision, idx, kind, op, topic, record_id, before, after, at, actor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
constexpr const char* kReadChanges =
    "SELECT revision, idx, kind, op, topic, record_id, before, after, at, actor "
    "FROM change_log WHERE revision >= ? ORDER BY revision, idx LIMIT ?";

void bind_image(db::Statement& stmt, int index, const std::optional<nlohmann::json>& image) {
  if (image) {
    stmt.bind_text(index, image->dump());
  } else {
    stmt.bind_null(index);
  }
}

std::optional<nlohmann::json> read_image(const db::Statement& stmt, int column) {
  if (stmt.is_null(column)) return std::nullopt;
  return nlohmann::json::parse(stmt.column_text(column));
}

}  // namespace

Revision allocate_revision(db::Connection& conn) { return conn.query_int(kAllocateRevision); }

Revision current_revision(db::Connection& conn) { return conn.query_int(kCurrentRevision); }

Revision oldest_revision(db::Connection& conn) { return conn.query_int(kOldestRevision); }

void append_change(db::Connection& conn, const Event& event) {
  db::Statement stmt = conn.prepare(kAppendChange);
  stmt.bind_int(1, event.revision)
      .bind_int(2, event.index)
      .bind_text(3, to_string(event.kind))
      .bind_text(4, to_string(event.op))
      .bind_text(5, event.topic)
      .bind_text(6, event.id);
  bind_image(stmt, 7, event.before);
  bind_image(stmt, 8, event.after);
  stmt.bind_int(9, event.at).bind_text(10, event.actor).run();
}

std::vector<Event> read_changes(db::Connection& conn, Revision from, std::size_t limit) {
  db::Statement stmt = conn.prepare(kReadChanges);
  stmt.bind_int(1, from);
  stmt.bind_int(2, limit == 0 ? -1 : static_cast<std::int64_t>(limit));
  std::vector<Event> out;
  while (stmt.step()) {
    Event e;
    e.revision = stmt.column_int(0);
    e.index = static_cast<std::uint32_t>(stmt.column_int(1));
    e.kind = kind_from_string(stmt.column_text(2));
    e.op = op_from_string(stmt.column_text(3));
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

}  // namespace cairn::detail
