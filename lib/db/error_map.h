// SQLite result codes -> cairn::Error. The only place that decides which errc
// a SQLite failure becomes; stores never format SQLite errors themselves.
#pragma once

#include <string_view>

#include "cairn/error.h"

struct sqlite3;

namespace cairn::db {

// The errc for a SQLite (extended) result code.
errc errc_for_sqlite(int extended_code, int os_errno = 0) noexcept;

// Throws Error for a failed SQLite call on `db` (may be null), with
// sqlite3_errmsg and `context` ("prepare", "commit"...) in the message.
[[noreturn]] void throw_sqlite(sqlite3* db, int code, std::string_view context);

}  // namespace cairn::db
