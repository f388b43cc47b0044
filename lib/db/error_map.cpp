#include "db/error_map.h"

#include <sqlite3.h>

#include <cerrno>

#include <fmt/format.h>

namespace cairn::db {

errc errc_for_sqlite(int extended_code, int os_errno) noexcept {
  // SQLite reports a write past RLIMIT_FSIZE (EFBIG) or over a quota (EDQUOT)
  // as SQLITE_IOERR_WRITE, not SQLITE_FULL: the cause is the same for the caller.
  if ((extended_code & 0xff) == SQLITE_IOERR &&
      (os_errno == ENOSPC || os_errno == EFBIG || os_errno == EDQUOT)) {
    return errc::disk_full;
  }
  switch (extended_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return errc::busy;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return errc::read_only;
    case SQLITE_FULL:
      return errc::disk_full;
    case SQLITE_CORRUPT:
      return errc::corrupt;
    case SQLITE_NOTADB:
      return errc::not_a_registry;
    case SQLITE_CONSTRAINT:
      return errc::constraint;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return errc::invalid_argument;
    default:
      return errc::io_error;
  }
}

void throw_sqlite(sqlite3* db, int code, std::string_view context) {
  // Read first: errno still holds the failed system call's error. SQLite's own
  // sqlite3_system_errno() is 0 when the failed write was on the -wal file.
  const int os_errno = errno;
  const int sqlite_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
  int extended = db != nullptr ? sqlite3_extended_errcode(db) : code;
  if ((extended & 0xff) != (code & 0xff)) extended = code;
  const char* detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  throw Error(errc_for_sqlite(extended, sqlite_errno != 0 ? sqlite_errno : os_errno),
              fmt::format("{}: {} (sqlite {})", context, detail, extended), extended);
}

}  // namespace cairn::db
