// Schemas as comparable values (schema.h).
#include "migrate/schema.h"

#include <fmt/format.h>

#include <mutex>

#include "migrate/migrator.h"

namespace cairn::detail {

std::string normalize_sql(std::string_view sql) {
  std::string out;
  bool space = false;
  for (char c : sql) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space && c != ')' && c != ',' && out.back() != '(') out += ' ';
    space = false;
    out += c;
  }
  return out;
}

SchemaObjects schema_objects(db::Connection& conn) {
  SchemaObjects out;
  db::Statement stmt = conn.prepare(
      // Every object, SQLite's own included (its autoindexes and
      // sqlite_sequence follow from the tables' SQL), except the planner's
      // statistics, which ANALYZE and PRAGMA optimize may add to any file.
      // Not a LIKE on the name: '_' there matches any character.
      "SELECT type, name, coalesce(sql, '') FROM sqlite_master "
      "WHERE NOT (type = 'table' AND name IN ('sqlite_stat1', 'sqlite_stat2', 'sqlite_stat3', "
      "'sqlite_stat4')) ORDER BY type, name");
  while (stmt.step()) {
    out[fmt::format("{} {}", stmt.column_text(0), stmt.column_text(1))] =
        normalize_sql(stmt.column_text(2));
  }
  return out;
}

SchemaObjects expected_schema(const std::vector<Migration>& chain, int version) {
  // Computed once per chain prefix and kept: opening a registry compares its
  // schema with this, and running the chain costs far more than comparing.
  std::string key = std::to_string(version);
  for (int v = 0; v < version && v < static_cast<int>(chain.size()); ++v) {
    key += ":" + chain[static_cast<std::size_t>(v)].checksum;
  }
  static std::mutex mu;
  static std::map<std::string, SchemaObjects> known;
  {
    std::lock_guard lock(mu);
    if (auto it = known.find(key); it != known.end()) return it->second;
  }
  auto mem = db::Connection::memory();
  Migrator(*mem, chain, [] { return Timestamp{0}; }).up(version);
  SchemaObjects schema = schema_objects(*mem);
  std::lock_guard lock(mu);
  return known.emplace(std::move(key), std::move(schema)).first->second;
}

std::vector<std::string> schema_differences(db::Connection& conn,
                                            const std::vector<Migration>& chain, int version) {
  std::vector<std::string> problems;
  const SchemaObjects live = schema_objects(conn);
  const SchemaObjects expected = expected_schema(chain, version);
  for (const auto& [key, sql] : expected) {
    auto it = live.find(key);
    if (it == live.end()) {
      problems.push_back(fmt::format("{} is missing", key));
    } else if (it->second != sql) {
      problems.push_back(fmt::format("{} differs from version {}'s", key, version));
    }
  }
  for (const auto& [key, sql] : live) {
    if (!expected.contains(key)) problems.push_back(fmt::format("{} is not expected", key));
  }
  return problems;
}

}  // namespace cairn::detail
