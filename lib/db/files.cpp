#include "db/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

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

}  // namespace cairn::db
