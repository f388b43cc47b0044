// Online backup: one pass of sqlite3_backup inside a single read transaction
// on a reader connection. The read transaction pins one snapshot of the WAL
// database, so the copy is consistent and never restarts however much the
// writers commit meanwhile (the writer is never blocked).
#include "backup/backup.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/version.h"
#include "db/files.h"
#include "db/online_copy.h"
#include "db/transaction.h"
#include "migrate/migrator.h"
#include "txn/change_log.h"
#include "util/sha256.h"

namespace cairn {
namespace detail {
namespace {

constexpr const char* kPinSnapshot = "SELECT count(*) FROM sqlite_master";
constexpr const char* kUserVersion = "PRAGMA user_version";
constexpr const char* kApplicationIdQuery = "PRAGMA application_id";
constexpr std::size_t kMaxManifestBytes = 64 * 1024;

[[noreturn]] void fail(errc code, const std::filesystem::path& file, std::string_view problem,
                       int sqlite_code = 0) {
  throw Error(code, fmt::format("{}: {}", file.string(), problem), sqlite_code);
}

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

void create_new_file(const std::filesystem::path& path) {
  if (!db::create_private_file(path)) {
    throw Error(errc::io_error, fmt::format("create {}: already exists", path.string()));
  }
}

void write_file_synced(const std::filesystem::path& path, std::string_view data) {
  create_new_file(path);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) &&
            ::fsync(fd) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) {
    throw Error(err == ENOSPC ? errc::disk_full : errc::io_error,
                fmt::format("write {}: {}", path.string(), std::strerror(err)));
  }
}

// Removes a path on scope exit unless released.
class TempFile {
 public:
  explicit TempFile(std::filesystem::path path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const std::filesystem::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  std::filesystem::path path_;
};

// Hard-links a backup and its manifest to `aside` (replacing an older aside
// pair), and syncs the directory.
void keep_aside(const std::filesystem::path& backup, const std::filesystem::path& aside) {
  for (const auto& [from, to] : {std::pair{backup, aside},
                                 std::pair{manifest_path(backup), manifest_path(aside)}}) {
    ::unlink(to.c_str());
    if (db::inspect_file(from) == db::FileKind::missing) continue;
    if (::link(from.c_str(), to.c_str()) != 0) {
      throw Error(errc::io_error, fmt::format("keep {} as {}: {}", from.string(), to.string(),
                                              std::strerror(errno)));
    }
  }
  db::sync_directory(backup.has_parent_path() ? backup.parent_path()
                                              : std::filesystem::path("."));
}

// Undoes a placed backup whose event did not commit: the pair kept aside at
// `previous` goes back under the name, or, when there was none, the new pair
// is removed. Best effort: it runs while an error is on its way out.
void put_back(const std::filesystem::path& dest,
              const std::optional<std::filesystem::path>& previous) noexcept {
  for (const auto& [aside, name] : {std::pair{previous, dest},
                                    std::pair{previous ? std::optional(manifest_path(*previous))
                                                       : std::nullopt,
                                              manifest_path(dest)}}) {
    if (aside && db::inspect_file(*aside) != db::FileKind::missing) {
      ::rename(aside->c_str(), name.c_str());
    } else {
      ::unlink(name.c_str());
    }
  }
  try {
    db::sync_directory(dest.has_parent_path() ? dest.parent_path() : std::filesystem::path("."));
  } catch (const Error&) {
    // The error on its way out says more than this one.
  }
}

// The manifest's JSON. A file name that is not UTF-8 is shown with U+FFFD
// in its "file" member (which only informs: the manifest is found by path).
std::string manifest_text(const BackupInfo& info) {
  return nlohmann::json(info).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

bool verifies(const std::filesystem::path& backup) {
  if (db::inspect_file(backup) == db::FileKind::missing) return false;
  try {
    verify_backup(backup);
    return true;
  } catch (const Error&) {
    return false;
  }
}

BackupInfo read_manifest(const std::filesystem::path& backup) {
  const auto manifest = manifest_path(backup);
  const auto kind = db::inspect_file(manifest);
  if (kind == db::FileKind::missing) {
    fail(errc::restore_refused, backup, "no manifest beside it (" + manifest.string() + ")");
  }
  if (kind == db::FileKind::not_regular) fail(errc::restore_refused, manifest, "not a regular file");
  if (db::file_size_or_zero(manifest) > static_cast<std::int64_t>(kMaxManifestBytes)) {
    fail(errc::restore_refused, manifest, "manifest larger than 64 KiB");
  }
  std::ifstream in(manifest, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("format", "") != "cairn-backup" ||
      !j.contains("sha256") || !j["sha256"].is_string() || !j.contains("size") ||
      !j["size"].is_number_integer()) {
    fail(errc::restore_refused, manifest, "not a cairn backup manifest");
  }
  BackupInfo info;
  info.path = backup;
  info.manifest = manifest;
  info.size = j["size"].get<std::int64_t>();
  info.sha256 = j["sha256"].get<std::string>();
  info.schema_version = j.value("schema_version", 0);
  info.last_revision = j.value("last_revision", Revision{0});
  info.created_at = j.value("created_at", Timestamp{0});
  info.cairn_version = j.value("cairn_version", "");
  return info;
}

// Manifests in `dir` whose backup file is gone, read as cairn manifests.
std::vector<std::filesystem::path> orphan_manifests(const std::filesystem::path& dir) {
  constexpr std::string_view kSuffix = ".manifest.json";
  constexpr std::string_view kBackupSuffix = ".db.manifest.json";  // of a backup's manifest
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(kBackupSuffix)) continue;
    const std::filesystem::path backup =
        entry.path().string().substr(0, entry.path().string().size() - kSuffix.size());
    if (db::inspect_file(backup) != db::FileKind::missing) continue;
    try {
      read_manifest(backup);
    } catch (const Error&) {
      continue;  // not one of ours, or unreadable: left alone
    }
    out.push_back(entry.path());
  }
  return out;
}

}  // namespace

std::filesystem::path temp_path_in(const std::filesystem::path& dir) {
  static std::atomic<unsigned> counter{0};
  return dir / fmt::format(".cairn-{}-{}.tmp", ::getpid(), counter.fetch_add(1));
}

void remove_stale_temp_files(const std::filesystem::path& dir) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    int pid = 0;
    if (std::sscanf(name.c_str(), ".cairn-%d-", &pid) != 1 || !name.ends_with(".tmp")) continue;
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

void sync_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error(errc::io_error, fmt::format("fsync {}: {}", path.string(), std::strerror(err)));
  }
  ::close(fd);
}

void copy_file_synced(const std::filesystem::path& from, const std::filesystem::path& to) {
  create_new_file(to);
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(to.c_str(), O_WRONLY | O_CLOEXEC);
  std::vector<char> buffer(1 << 20);
  int err = 0;
  if (in < 0 || out < 0) err = errno;
  while (err == 0) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0) err = errno;
    if (n <= 0) break;
    if (::write(out, buffer.data(), static_cast<std::size_t>(n)) != n) err = errno ? errno : EIO;
  }
  if (err == 0 && ::fsync(out) != 0) err = errno;
  if (in >= 0) ::close(in);
  if (out >= 0) ::close(out);
  if (err != 0) {
    throw Error(err == ENOSPC ? errc::disk_full : errc::io_error,
                fmt::format("copy {} to {}: {}", from.string(), to.string(), std::strerror(err)));
  }
}

BackupInfo write_backup(db::Database& db, const std::filesystem::path& dest,
                        const BackupOptions& options, Timestamp now,
                        const PublishBackup& publish) {
  const auto started = std::chrono::steady_clock::now();
  const auto dir = dest.has_parent_path() ? dest.parent_path() : std::filesystem::path(".");
  try {
    if (dest.filename().empty()) fail(errc::backup_failed, dest, "not a file name");
    db::make_private_dirs(dir);
    if (db::inspect_file(dest) == db::FileKind::not_regular) {
      fail(errc::backup_failed, dest, "exists and is not a regular file");
    }
    const bool replacing = db::inspect_file(dest) != db::FileKind::missing ||
                           db::inspect_file(manifest_path(dest)) != db::FileKind::missing;
    if (replacing && !options.overwrite) {
      fail(errc::backup_failed, dest, "a backup of that name exists (use --overwrite to replace it)");
    }
    remove_stale_temp_files(dir);
    TempFile temp(temp_path_in(dir));
    create_new_file(temp.path());

    BackupInfo info;
    {
      auto source = db.lease_reader();
      db::Transaction read(*source);  // one snapshot for the whole copy
      source->query_int(kPinSnapshot);
      info.last_revision = current_revision(*source);
      info.schema_version = static_cast<int>(source->query_int(kUserVersion));
      db::Connection target(temp.path(), db::Connection::Mode::read_write, 5000);
      if (!db::copy_database(*source, target, std::max(1, options.pages_per_step),
                             options.progress)) {
        fail(errc::backup_failed, dest, "cancelled");
      }
      // A standalone file: no -wal beside it when it is opened later.
      target.exec("PRAGMA journal_mode = DELETE");
      db::Statement check = target.prepare("PRAGMA quick_check");
      if (!check.step() || check.column_text(0) != "ok") {
        fail(errc::backup_failed, dest, "the copy fails quick_check");
      }
      read.commit();
    }
    sync_file(temp.path());

    info.path = dest;
    info.manifest = manifest_path(dest);
    info.size = db::file_size_or_zero(temp.path());
    info.sha256 = sha256_file(temp.path());
    info.created_at = now;
    info.cairn_version = cairn::version();

    TempFile manifest_temp(temp_path_in(dir));
    write_file_synced(manifest_temp.path(), manifest_text(info));
    // Two renames cannot be one: the pair being replaced is kept, whole, as
    // <dest>.previous until the new pair is in place and published.
    const std::filesystem::path previous = dest.string() + ".previous";
    bool placed = false;
    const PlaceBackup place = [&] {
      // A .previous left by an interrupted overwrite is the last pair known
      // whole: it stays, and the pair at the name (perhaps mismatched) goes.
      if (replacing && !verifies(previous)) keep_aside(dest, previous);
      placed = true;
      std::filesystem::rename(manifest_temp.path(), info.manifest);
      manifest_temp.release();
      std::filesystem::rename(temp.path(), dest);
      temp.release();
      db::sync_directory(dir);
    };
    try {
      if (publish) {
        publish(info, place);
      } else {
        place();
      }
    } catch (...) {
      if (placed) put_back(dest, replacing ? std::optional(previous) : std::nullopt);
      throw;
    }
    if (replacing) {
      ::unlink(previous.c_str());
      ::unlink(manifest_path(previous).c_str());
    }
    info.duration_ms = elapsed_ms(started);
    return info;
  } catch (const Error& e) {
    if (e.code() == errc::backup_failed) throw;
    // A lock held past the busy timeout stays errc::busy: the caller may retry.
    throw Error(e.code() == errc::busy ? errc::busy : errc::backup_failed,
                fmt::format("backup to {}: {}", dest.string(), e.what()), e.sqlite_code());
  } catch (const std::filesystem::filesystem_error& e) {
    throw Error(errc::backup_failed, fmt::format("backup to {}: {}", dest.string(), e.what()));
  }
}

}  // namespace detail

std::filesystem::path manifest_path(const std::filesystem::path& backup) {
  return backup.string() + ".manifest.json";
}

void to_json(nlohmann::json& j, const BackupInfo& info) {
  j = nlohmann::json{
      {"format", "cairn-backup"},
      {"file", info.path.filename().string()},
      {"size", info.size},
      {"sha256", info.sha256},
      {"schema_version", info.schema_version},
      {"last_revision", info.last_revision},
      {"created_at", info.created_at},
      {"cairn_version", info.cairn_version},
  };
}

BackupInfo verify_backup(const std::filesystem::path& backup) {
  using detail::fail;
  switch (db::inspect_file(backup)) {
    case db::FileKind::missing: fail(errc::restore_refused, backup, "does not exist");
    case db::FileKind::not_regular: fail(errc::restore_refused, backup, "not a regular file");
    case db::FileKind::empty: fail(errc::restore_refused, backup, "is empty");
    case db::FileKind::other: fail(errc::restore_refused, backup, "not a SQLite database");
    case db::FileKind::sqlite: break;
  }
  BackupInfo info = detail::read_manifest(backup);
  // A kill between an overwrite's two renames pairs the new manifest with
  // the old file; the old pair is then whole at <backup>.previous.
  const std::filesystem::path previous = backup.string() + ".previous";
  const std::string hint =
      db::inspect_file(previous) == db::FileKind::missing
          ? std::string()
          : fmt::format(" (an overwrite was interrupted: the previous backup is whole at {})",
                        previous.string());
  const auto size = db::file_size_or_zero(backup);
  if (size != info.size) {
    fail(errc::restore_refused, backup,
         fmt::format("size {} differs from the manifest's {}{}", size, info.size, hint));
  }
  const auto sha = detail::sha256_file(backup);
  if (sha != info.sha256) {
    fail(errc::restore_refused, backup,
         fmt::format("SHA-256 {} differs from the manifest's {}: the file changed{}", sha,
                     info.sha256, hint));
  }
  try {
    // immutable: read the file as it is, create no -wal or -shm beside it.
    db::Connection conn(backup, db::Connection::Mode::read_only_immutable, 0);
    if (conn.query_int(detail::kApplicationIdQuery) != detail::kApplicationId) {
      fail(errc::restore_refused, backup, "not a cairn registry (application_id)");
    }
    // The history, the version, and sqlite_master object by object.
    const int version =
        detail::Migrator(conn, detail::embedded_migrations(), [] { return Timestamp{0}; }).check();
    info.schema_version = version;
    db::Statement check = conn.prepare("PRAGMA integrity_check");
    std::string problems;
    while (check.step()) {
      if (check.column_text(0) != "ok") problems += std::string(check.column_text(0)) + "; ";
    }
    if (!problems.empty()) fail(errc::restore_refused, backup, "integrity_check: " + problems);
  } catch (const Error& e) {
    if (e.code() == errc::restore_refused) throw;
    fail(errc::restore_refused, backup, e.what());
  }
  return info;
}

std::vector<BackupListing> list_backups(const std::filesystem::path& dir) {
  std::vector<BackupListing> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".db" || !std::filesystem::exists(manifest_path(path))) continue;
    BackupListing listing;
    try {
      listing.info = verify_backup(path);
      listing.verified = true;
    } catch (const Error& e) {
      listing.problem = e.what();
      try {
        listing.info = detail::read_manifest(path);
      } catch (const Error&) {
        listing.info.path = path;
      }
    }
    out.push_back(std::move(listing));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.info.created_at, a.info.path) > std::tie(b.info.created_at, b.info.path);
  });
  return out;
}

std::vector<std::filesystem::path> prune_backups(
    const std::filesystem::path& dir, std::size_t keep, bool dry_run,
    const std::function<void(const BackupListing&)>& not_verified) {
  if (keep == 0) {
    throw Error(errc::invalid_argument,
                fmt::format("prune {}: keep must be at least 1 (it would remove every backup)",
                            dir.string()));
  }
  std::vector<std::filesystem::path> removed;
  auto remove = [&](const std::filesystem::path& path) {
    if (!dry_run) {
      std::error_code ec;
      std::filesystem::remove(path, ec);
      if (ec) return;
    }
    removed.push_back(path);
  };
  std::size_t kept = 0;
  for (const auto& listing : list_backups(dir)) {
    if (!listing.verified) {  // not positively a backup: never ours to remove
      if (not_verified) not_verified(listing);
      continue;
    }
    if (kept < keep) {
      ++kept;
      continue;
    }
    remove(listing.info.path);
    if (!dry_run) ::unlink(listing.info.manifest.c_str());
  }
  for (const auto& manifest : detail::orphan_manifests(dir)) remove(manifest);
  return removed;
}

std::string backup_file_name(std::string_view name, Timestamp at) {
  const std::time_t seconds = static_cast<std::time_t>(at / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{}-{:04d}{:02d}{:02d}T{:02d}{:02d}{:02d}.{:03d}Z.db", name,
                     utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                     utc.tm_sec, static_cast<int>(at % 1000));
}

}  // namespace cairn
