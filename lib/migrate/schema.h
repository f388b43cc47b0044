// Schemas as comparable values: what sqlite_master holds, normalized.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "db/connection.h"
#include "migrate/migration.h"

namespace cairn::detail {

// "table apps" -> its CREATE statement with white space folded. Objects named
// sqlite_* (SQLite's own) are left out.
using SchemaObjects = std::map<std::string, std::string>;

std::string normalize_sql(std::string_view sql);
SchemaObjects schema_objects(db::Connection& conn);

// The schema that `chain`'s first `version` steps produce on an empty database.
SchemaObjects expected_schema(const std::vector<Migration>& chain, int version);

}  // namespace cairn::detail
