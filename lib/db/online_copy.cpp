#include "db/online_copy.h"

#include "db/error_map.h"

namespace cairn::db {

bool copy_database(Connection& from, Connection& to, int pages_per_step,
                   const std::function<bool(std::int64_t, std::int64_t)>& progress) {
  sqlite3_backup* copy = sqlite3_backup_init(to.handle(), "main", from.handle(), "main");
  if (copy == nullptr) throw_sqlite(to.handle(), sqlite3_errcode(to.handle()), "online copy");
  int rc = SQLITE_OK;
  while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    rc = sqlite3_backup_step(copy, pages_per_step == 0 ? 1 : pages_per_step);
    const std::int64_t total = sqlite3_backup_pagecount(copy);
    if (progress && !progress(total - sqlite3_backup_remaining(copy), total)) {
      sqlite3_backup_finish(copy);
      return false;
    }
  }
  sqlite3_backup_finish(copy);
  if (rc != SQLITE_DONE) throw_sqlite(nullptr, rc, "online copy");
  return true;
}

}  // namespace cairn::db
