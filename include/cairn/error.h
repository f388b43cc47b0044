// cairn's one exception type and its error codes.
//
// Every failure the library reports is a cairn::Error. Its code() is a
// std::error_code in cairn's category, comparable with cairn::errc values:
//
//   try { reg.apps().get("x"); }
//   catch (const cairn::Error& e) { if (e.code() == cairn::errc::not_found) ... }
//
// When SQLite was the source, sqlite_code() keeps its extended result code.
// Absence is never an error: find() returns std::optional, remove() a bool.
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

enum class errc {
  ok = 0,
  not_found = 1,          // get() of a key that is absent
  already_exists,         // create() of a key that is present
  conflict,               // an Expect (compare-and-swap) did not hold
  invalid_argument,       // validation failed; the message names record and field
  constraint,             // a reference or uniqueness rule of the registry
  busy,                   // the database stayed locked past busy_timeout
  read_only,              // the file or the registry cannot be written
  io_error,               // the operating system failed a read, write or sync
  disk_full,              // no space left (or the file size limit was reached)
  corrupt,                // the database file is damaged
  not_a_registry,         // not a SQLite file, or one of another application
  schema_too_new,         // written by a newer cairn than this one
  migration_checksum,     // an applied migration differs from the embedded one
  migration_failed,       // a migration step failed; nothing of it was kept
  compacted,              // the asked-for revision left the retained change log
  backup_failed,
  restore_refused,
  closed,                 // the registry was closed
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// The name of a code as written in this header ("not_found"), for logs and the CLI.
const char* to_string(errc e) noexcept;

// Thrown by every cairn call that fails. Copyable, like std::system_error.
class Error : public std::system_error {
 public:
  Error(errc code, const std::string& message, int sqlite_code = 0);

  errc code_value() const noexcept { return static_cast<errc>(code().value()); }

  // SQLite's extended result code when SQLite reported the failure, else 0.
  int sqlite_code() const noexcept { return sqlite_code_; }

  // The message as given, without std::system_error's ": <code name>" suffix:
  // `app "my-app": meta: nesting deeper than 32 levels`.
  const char* what() const noexcept override { return message_.what(); }

 private:
  std::runtime_error message_;  // reference-counted: copying never throws
  int sqlite_code_;
};

}  // namespace cairn
CAIRN_API_END

template <>
struct std::is_error_code_enum<cairn::errc> : std::true_type {};
