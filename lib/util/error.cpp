#include "cairn/error.h"

namespace cairn {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "cairn"; }
  std::string message(int value) const override { return to_string(static_cast<errc>(value)); }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

const char* to_string(errc e) noexcept {
  switch (e) {
    case errc::ok: return "ok";
    case errc::not_found: return "not_found";
    case errc::already_exists: return "already_exists";
    case errc::conflict: return "conflict";
    case errc::invalid_argument: return "invalid_argument";
    case errc::constraint: return "constraint";
    case errc::busy: return "busy";
    case errc::read_only: return "read_only";
    case errc::io_error: return "io_error";
    case errc::disk_full: return "disk_full";
    case errc::corrupt: return "corrupt";
    case errc::not_a_registry: return "not_a_registry";
    case errc::schema_too_new: return "schema_too_new";
    case errc::migration_checksum: return "migration_checksum";
    case errc::migration_failed: return "migration_failed";
    case errc::compacted: return "compacted";
    case errc::backup_failed: return "backup_failed";
    case errc::restore_refused: return "restore_refused";
    case errc::closed: return "closed";
  }
  return "unknown";
}

Error::Error(errc code, const std::string& message, int sqlite_code)
    : std::system_error(make_error_code(code), message),
      message_(message),
      sqlite_code_(sqlite_code) {}

}  // namespace cairn
