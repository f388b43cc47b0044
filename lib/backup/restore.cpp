// Restore: verify everything first, then swap the file in with one rename.
//
// Order, so that a crash at any point leaves the target wholly old or wholly
// new (and the old content kept aside):
//   1. verify the backup; refuse a target in use or not a registry;
//   2. copy the backup to a temp file in the target's directory, fsync, and
//      check the copy's SHA-256 against the manifest;
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

#include "backup/backup.h"
#include "backup/sha256.h"
#include "cairn/error.h"
#include "cairn/registry.h"
#include "db/files.h"

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

}  // namespace
}  // namespace detail

RestoreResult restore(const std::filesystem::path& backup, const std::filesystem::path& target,
                      const RestoreOptions& options) {
  using namespace detail;
  const BackupInfo info = verify_backup(backup);

  switch (db::inspect_file(target)) {
    case db::FileKind::not_regular: refuse(target, "the target is not a regular file");
    case db::FileKind::other:
      if (!options.force) refuse(target, "the target is not a SQLite database (use force)");
      break;
    case db::FileKind::sqlite:
    case db::FileKind::empty:
    case db::FileKind::missing:
      break;
  }
  if (in_use(target)) {
    refuse(target, "the target is open in a live process; close it first (a running Registry "
                   "can restore in place with Registry::restore_from)");
  }

  const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  db::make_private_dirs(dir);
  remove_stale_temp_files(dir);
  const auto temp = temp_path_in(dir);
  try {
    copy_file_synced(backup, temp);
    if (sha256_file(temp) != info.sha256) refuse(backup, "the copy does not match the manifest");
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

  // An older schema is brought forward by opening it.
  Registry reg = Registry::open(target);
  result.schema_version = reg.schema_version();
  result.last_revision = reg.revision();
  return result;
}

}  // namespace cairn
