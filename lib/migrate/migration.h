// A schema migration, as data: the engine takes its chain as a list, so
// tests can run chains of their own. The library's own chain is generated
// from migrations/*.sql by migrations/embed.py.
#pragma once

#include <string>
#include <vector>

namespace cairn::detail {

struct Migration {
  int version;           // 1, 2, 3... without gaps
  std::string name;      // "initial", the file name's snake_case part
  std::string sql;       // one or more statements, without BEGIN/COMMIT
  std::string checksum;  // SHA-256 of the file, hex
};

const std::vector<Migration>& embedded_migrations();

}  // namespace cairn::detail
