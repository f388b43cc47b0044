// The path checks of paths.h. Self-contained (the C library, std and
// cairn::Error only), so that the fuzz target tests/fuzz/fuzz_cli_paths.cpp
// can build this file alone.

#include "paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "cairn/error.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

// A path as messages show it: quoted, with control bytes, quotes and
// backslashes escaped, so that a hostile name cannot garble the terminal.
std::string shown(const fs::path& path) {
  std::string out = "\"";
  for (unsigned char c : path.native()) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// Where a symbolic link points, for the message; empty when unreadable.
std::string link_target(const fs::path& path) {
  char buf[4096];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

const char* type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

[[noreturn]] void refuse(errc code, std::string_view what, const fs::path& path,
                         const std::string& problem) {
  throw Error(code, std::string(what) + " " + shown(path) + ": " + problem);
}

// A usable path at all: not empty, no NUL byte (the C library would cut it).
void check_usable(std::string_view what, const fs::path& path) {
  if (path.empty()) throw Error(errc::invalid_argument, std::string(what) + ": empty path");
  if (path.native().find('\0') != std::string::npos) {
    throw Error(errc::invalid_argument,
                std::string(what) + " " + shown(path) + ": the path contains a NUL byte");
  }
}

enum class Expect { file, file_or_directory };

// Refuses `path` unless it is missing or (by lstat, links not followed) a
// regular file, or a directory when `expect` allows one.
void check_final_component(errc code, std::string_view what, const fs::path& path, Expect expect) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;  // nothing there yet: the library creates it
    refuse(code, what, path, std::string("cannot inspect it: ") + std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    const std::string target = link_target(path);
    refuse(code, what, path,
           "is a symbolic link" + (target.empty() ? std::string() : " (to " + shown(target) + ")") +
               "; cairn does not follow a link here: pass the real path");
  }
  if (S_ISREG(st.st_mode)) return;
  if (S_ISDIR(st.st_mode) && expect == Expect::file_or_directory) return;
  refuse(code, what, path,
         std::string("is ") + type_name(st.st_mode) +
             (S_ISDIR(st.st_mode) ? ", not a file" : "; only a regular file is accepted"));
}

fs::path with_suffix(const fs::path& path, std::string_view suffix) {
  return fs::path(path.native() + std::string(suffix));
}

// A file is expected: "x/" would make the kernel look through x, and ".",
// ".." name directories.
void check_names_a_file(errc code, std::string_view what, const fs::path& path) {
  const std::string& text = path.native();
  const auto slash = text.rfind('/');
  const std::string_view last =
      std::string_view(text).substr(slash == std::string::npos ? 0 : slash + 1);
  if (last.empty() || last == "." || last == "..") {
    refuse(code, what, path, "names a directory, not a file");
  }
}

// A directory path without its trailing slashes ("dir//" -> "dir", "/" stays):
// lstat of "link/" would follow the link, of "link" it does not.
fs::path without_trailing_slashes(const fs::path& path) {
  std::string text = path.native();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

// A directory named through "." or ".." ("link/.", "link/..") is reached
// through whatever the component before it resolves to, a link included:
// only "." and ".." themselves (the working directory) are taken as given.
void check_no_dot_component(errc code, std::string_view what, const fs::path& dir) {
  const std::string& text = dir.native();
  if (text == "." || text == "..") return;
  const auto slash = text.rfind('/');
  if (slash == std::string::npos) return;
  const std::string_view last = std::string_view(text).substr(slash + 1);
  if (last == "." || last == "..") {
    refuse(code, what, dir, "ends in '.' or '..': pass the directory's real path");
  }
}

}  // namespace

void check_db_path(const fs::path& db) {
  check_usable("--db", db);
  if (db.native().starts_with("file:")) {
    refuse(errc::invalid_argument, "--db", db,
           "looks like a SQLite URI, and cairn takes a path; for a file of that name write "
           "./" + db.native());
  }
  check_names_a_file(errc::not_a_registry, "--db", db);
  check_final_component(errc::not_a_registry, "--db", db, Expect::file);
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    check_final_component(errc::not_a_registry, "--db", with_suffix(db, suffix), Expect::file);
  }
}

void check_backup_dest(const fs::path& dest) {
  constexpr std::string_view what = "backup destination";
  check_usable(what, dest);
  const fs::path stripped = without_trailing_slashes(dest);
  check_no_dot_component(errc::read_only, what, stripped);
  check_final_component(errc::read_only, what, stripped, Expect::file_or_directory);
  struct stat st {};
  const bool is_directory = ::lstat(stripped.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  const bool names_directory = stripped.native().size() != dest.native().size();
  if (!is_directory && !names_directory) {
    check_final_component(errc::read_only, what, with_suffix(dest, ".manifest.json"), Expect::file);
  }
}

void check_restore_target(const fs::path& target) {
  check_usable("restore target", target);
  check_names_a_file(errc::restore_refused, "restore target", target);
  check_final_component(errc::restore_refused, "restore target", target, Expect::file);
  for (const char* suffix : {"-wal", "-shm"}) {
    check_final_component(errc::restore_refused, "restore target", with_suffix(target, suffix),
                          Expect::file);
  }
}

}  // namespace cairn::cli
