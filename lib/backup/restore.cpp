// Restore: verify everything first, then swap the file in with one rename.
//
// Order, so that a refusal or a failure anywhere before step 4 leaves the
// target's files exactly as they were, and a crash at any point leaves the
// target wholly old or wholly new (and the old content kept aside):
//   1. verify the backup (manifest, SHA-256, application_id, version, the
//      exact schema, integrity); refuse a target in use, or one that is not a
//      cairn registry (unless forced);
//   2. copy the backup to a temp file in the target's directory, fsync, check
//      the copy's SHA-256 against the manifest, and migrate the copy forward
//      when its schema is older;
//   3. hard-link the old database (and its -wal) to <db>.before-restore-<time>;
//   4. remove the target's -wal and -shm: they belong to the old file (or to
//      another database) and SQLite would replay them onto the new one;
//   5. rename the temp file over the target, fsync the directory.
// Between 4 and 5 the target is the old main file without its -wal; the
// aside copy keeps both.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backup/backup.h"
#include "cairn/error.h"
#include "db/connection.h"
#include "db/files.h"
#include "db/online_copy.h"
#include "migrate/migration.h"
#include "migrate/migrator.h"
#include "txn/change_log.h"
#include "util/sha256.h"

namespace cairn {
namespace detail {
namespace {

[[noreturn]] void refuse(const std::filesystem::path& file, std::string_view problem) {
  throw Error(errc::restore_refused, fmt::format("{}: {}", file.string(), problem));
}

// Whether this process has `path` open (through SQLite or otherwise). Checked
// before taking our own look with fcntl, because closing any descriptor of a
// file drops every POSIX lock this process holds on it.
bool open_in_this_process(const std::filesystem::path& path) {
  std::error_code ec;
  const auto wanted = std::filesystem::weakly_canonical(path, ec);
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    const auto target = std::filesystem::read_symlink(entry.path(), link_ec);
    if (!link_ec && target == wanted) return true;
  }
  return false;
}

// Whether another process holds a lock in [start, start + length) of `path`.
// F_OFD_GETLK tests without taking a lock.
bool locked_by_others(const std::filesystem::path& path, off_t start, off_t length) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = start;
  probe.l_len = length;
  const bool locked = ::fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
  ::close(fd);
  return locked;
}

// SQLite's lock bytes: the database file's range from PENDING_BYTE
// (0x40000000), and the -shm "dead man switch" byte (128) that every
// connection of a WAL database holds while it is open.
bool in_use(const std::filesystem::path& db) {
  const std::filesystem::path wal = db.string() + "-wal", shm = db.string() + "-shm";
  if (open_in_this_process(db) || open_in_this_process(wal) || open_in_this_process(shm)) {
    return true;
  }
  return locked_by_others(db, 0x40000000, 512) || locked_by_others(shm, 128, 1);
}

std::string utc_stamp(Timestamp at) {
  std::string name = backup_file_name("", at);  // "-<time>.db"
  return name.substr(1, name.size() - 4);
}

Timestamp now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void unlink_if_present(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw Error(errc::io_error, fmt::format("remove {}: {}", path.string(), std::strerror(errno)));
  }
}

void link_aside(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::link(from.c_str(), to.c_str()) != 0) {
    throw Error(errc::io_error, fmt::format("keep {} as {}: {}", from.string(), to.string(),
                                            std::strerror(errno)));
  }
}

// The application_id in a SQLite file's header (offset 68, big-endian), read
// without SQLite: the target is only looked at, never opened, before the
// swap. 0 when the header is short.
std::uint32_t header_application_id(const std::filesystem::path& path) {
  unsigned char header[72] = {};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t n = ::pread(fd, header, sizeof header, 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof header)) return 0;
  return (std::uint32_t{header[68]} << 24) | (std::uint32_t{header[69]} << 16) |
         (std::uint32_t{header[70]} << 8) | std::uint32_t{header[71]};
}

// Refuses a target that is a file of another application, unless forced.
void check_target(const std::filesystem::path& target, const RestoreOptions& options) {
  switch (db::inspect_file(target)) {
    case db::FileKind::not_regular: refuse(target, "the target is not a regular file");
    case db::FileKind::other:
      if (!options.force) refuse(target, "the target is not a SQLite database (force replaces it)");
      break;
    case db::FileKind::sqlite:
      if (!options.force &&
          header_application_id(target) != static_cast<std::uint32_t>(kApplicationId)) {
        refuse(target,
               "the target is a SQLite database of another application, not a cairn registry "
               "(force replaces it)");
      }
      break;
    case db::FileKind::empty:
    case db::FileKind::missing:
      break;
  }
  if (in_use(target)) {
    refuse(target, "the target is open in a live process; close it first (a running Registry "
                   "can restore in place with Registry::restore_from)");
  }
}

struct Prepared {
  int schema_version = 0;
  Revision last_revision = 0;
};

// Brings the temp copy forward to this library's schema, before it replaces
// anything: a migration that fails leaves the target as it was.
Prepared migrate_copy(const std::filesystem::path& copy) {
  db::Connection conn(copy, db::Connection::Mode::read_write, 5000);
  Migrator migrator(conn, embedded_migrations(), now_ms);
  Prepared out;
  out.schema_version = migrator.up().version;
  out.last_revision = current_revision(conn);
  return out;
}

}  // namespace

// Registry::restore_from. The restored file's change log is dropped, and one revision is skipped
// before registry.restored: every subscriber, live here, in another process,
// or named and resuming later, finds a gap before that event and gets
// registry.resync_required, so none takes the backup's history for new writes
// or receives a revision number it handled again with other content. Named
// positions are this registry's, not the backup's: they are carried over.
void restore_into(StoreContext& ctx, const std::filesystem::path& backup) {
  const BackupInfo info = verify_backup(backup);
  Revision before = 0;
  std::vector<std::pair<std::string, Revision>> positions;
  ctx.replace_then_write(
      [&](db::Connection& writer) {
        before = current_revision(writer);
        positions = acked_revisions(writer);
        db::Connection source(backup, db::Connection::Mode::read_only_immutable, 0);
        try {
          db::copy_database(source, writer);
        } catch (const Error& e) {
          throw Error(e.code_value(), fmt::format("restore from {}: {}", backup.string(), e.what()),
                      e.sqlite_code());
        }
        Migrator(writer, embedded_migrations(), [&] { return ctx.now(); }).up();
      },
      [&](Writer& w) {
        const Revision restored = current_revision(w.db());
        clear_change_log(w.db());
        replace_acked_revisions(w.db(), positions, w.now());
        set_current_revision(w.db(), std::max(restored, before) + 1);
        w.record(Kind::registry, Op::restored, "registry.restored", backup.string(),
                 std::nullopt,
                 nlohmann::json(info).dump(-1, ' ', false,
                                           nlohmann::json::error_handler_t::replace));
      });
}

}  // namespace detail

RestoreResult restore(const std::filesystem::path& backup, const std::filesystem::path& target,
                      const RestoreOptions& options) {
  using namespace detail;
  const BackupInfo info = verify_backup(backup);
  check_target(target, options);

  const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  db::make_private_dirs(dir);
  remove_stale_temp_files(dir);
  const auto temp = temp_path_in(dir);
  Prepared prepared;
  try {
    copy_file_synced(backup, temp);
    if (sha256_file(temp) != info.sha256) refuse(backup, "the copy does not match the manifest");
    prepared = migrate_copy(temp);
    sync_file(temp);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }

  RestoreResult result;
  result.target = target;
  result.backup_schema_version = info.schema_version;
  const std::filesystem::path wal = target.string() + "-wal", shm = target.string() + "-shm";
  try {
    if (options.keep_replaced && db::inspect_file(target) != db::FileKind::missing) {
      const std::filesystem::path aside =
          target.string() + ".before-restore-" + utc_stamp(now_ms());
      link_aside(target, aside);
      if (db::inspect_file(wal) != db::FileKind::missing) link_aside(wal, aside.string() + "-wal");
      result.replaced_kept_as = aside;
    }
    unlink_if_present(wal);
    unlink_if_present(shm);
    std::filesystem::rename(temp, target);
    db::sync_directory(dir);
  } catch (const std::filesystem::filesystem_error& e) {
    ::unlink(temp.c_str());
    throw Error(errc::io_error, fmt::format("restore {}: {}", target.string(), e.what()));
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }

  result.schema_version = prepared.schema_version;
  result.last_revision = prepared.last_revision;
  return result;
}

}  // namespace cairn
