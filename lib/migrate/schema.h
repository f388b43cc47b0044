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

// How the schema in `conn` differs from what `chain`'s first `version` steps
// create: "trigger x is not expected", "index y is missing", "table z differs
// from version 3's". Empty when it is exactly that.
std::vector<std::string> schema_differences(db::Connection& conn,
                                            const std::vector<Migration>& chain, int version);

}  // namespace cairn::detail
