#include "db/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "cairn/error.h"

namespace cairn::db {
namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& path) {
  int err = errno;
  errc code = (err == ENOSPC || err == EDQUOT || err == EFBIG) ? errc::disk_full
              : (err == EROFS || err == EACCES || err == EPERM) ? errc::read_only
                                                                 : errc::io_error;
  throw Error(code, fmt::format("{} {}: {}", what, path.string(), std::strerror(err)));
}

constexpr std::array<char, 16> kSqliteMagic = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                               'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

}  // namespace

FileKind inspect_file(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return FileKind::missing;
    throw_errno("stat", path);
  }
  if (!S_ISREG(st.st_mode)) return FileKind::not_regular;
  if (st.st_size == 0) return FileKind::empty;

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno("open", path);
  std::array<char, 16> header{};
  ssize_t n = ::read(fd, header.data(), header.size());
  ::close(fd);
  if (n == static_cast<ssize_t>(header.size()) && header == kSqliteMagic) return FileKind::sqlite;
  return FileKind::other;
}

void make_private_dirs(const std::filesystem::path& dir) {
  if (dir.empty()) return;
  std::filesystem::path current;
  for (const auto& part : dir) {
    current /= part;
    if (::mkdir(current.c_str(), 0700) == 0) {
      // mkdir applies the umask; the mode must not depend on it.
      if (::chmod(current.c_str(), 0700) != 0) throw_errno("chmod", current);
    } else if (errno != EEXIST) {
      throw_errno("mkdir", current);
    }
  }
}

bool create_private_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) return false;
  if (fd < 0) throw_errno("create", path);
  int rc = ::fchmod(fd, 0600);
  ::close(fd);
  if (rc != 0) throw_errno("chmod", path);
  return true;
}

void sync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw_errno("fsync directory", dir);
}

std::int64_t file_size_or_zero(const std::filesystem::path& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_size);
}

RunLock::RunLock(const std::filesystem::path& database, std::chrono::milliseconds timeout)
    : path_(database.native() + "-migrate.lock") {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) throw_errno("open", path_);
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      // The holder before us removes the file when it is done: the lock
      // counts only while it is on the file that has the name.
      struct stat held {};
      struct stat named {};
      if (::fstat(fd, &held) == 0 && ::lstat(path_.c_str(), &named) == 0 &&
          held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
        fd_ = fd;
        return;
      }
      ::close(fd);
      continue;
    }
    const int err = errno;
    ::close(fd);
    if (err != EWOULDBLOCK) {
      errno = err;
      throw_errno("flock", path_);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(errc::busy, fmt::format("{}: another process is migrating this registry (it "
                                          "holds {} past the busy timeout)",
                                          database.string(), path_.string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

RunLock::~RunLock() {
  ::unlink(path_.c_str());  // while still held: nobody else can be using it
  ::close(fd_);
}

}  // namespace cairn::db
