// libFuzzer target for the cairn tool's path checks (tools/cairn/paths.h):
// arbitrary bytes become a path inside a tree of regular files, directories,
// symbolic links (to files, to directories, dangling, chained), FIFOs and
// planted -wal/-shm/manifest links, built once per process. Asserts that the
// checks never crash, never throw anything but cairn::Error, and never accept
// a path whose last component is a link, a FIFO or (for --db and restore) a
// directory, nor one whose sidecar files are.
//
// Input: byte 0 picks the check (0 --db, 1 backup destination, 2 restore
// target); the rest is the path, relative to the tree's root (it may climb
// out with ".."; the checks only look, never write).
//
// Build (clang 14): the sources are this file, tools/cairn/paths.cpp and
// lib/util/error.cpp (cairn::Error), with include/ and tools/cairn/ as include
// directories:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
//     -Iinclude -Itools/cairn tests/fuzz/fuzz_cli_paths.cpp \
//     tools/cairn/paths.cpp lib/util/error.cpp -o fuzz_cli_paths
//   ./fuzz_cli_paths tests/fuzz/corpus/fuzz_cli_paths -max_total_time=60

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "cairn/error.h"
#include "paths.h"

namespace {

namespace fs = std::filesystem;

// Trees of fuzzer processes that are gone (libFuzzer ends a run with _Exit,
// so atexit does not always get to remove them).
void remove_stale_trees() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/tmp", ec)) {
    const std::string name = entry.path().filename().string();
    constexpr std::string_view prefix = "cairn-fuzz-paths-";
    if (!name.starts_with(prefix)) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      fs::remove_all(entry.path(), ec);
    }
  }
}

// The tree, under a fresh /tmp directory:
//   file  dir/  dir/file  dir/fifo  fifo  empty-dir/
//   link-file -> file      link-dir -> dir       dangling -> missing
//   chain -> link-file     dir/up -> ../file     link-fifo -> fifo
//   walled.db (its -wal a link to file)   shm.db (its -shm a FIFO)
//   manifest.db.manifest.json -> file     dir-wal.db (its -wal a directory)
const fs::path& tree() {
  static const fs::path root = [] {
    remove_stale_trees();
    const fs::path r = "/tmp/cairn-fuzz-paths-" + std::to_string(::getpid());
    std::error_code ec;
    fs::remove_all(r, ec);
    if (!fs::create_directory(r, ec)) std::abort();
    auto file = [](const fs::path& p) { std::ofstream(p) << "x"; };
    auto fifo = [](const fs::path& p) {
      if (::mkfifo(p.c_str(), 0600) != 0) std::abort();
    };
    file(r / "file");
    fs::create_directory(r / "dir");
    fs::create_directory(r / "empty-dir");
    file(r / "dir" / "file");
    fifo(r / "dir" / "fifo");
    fifo(r / "fifo");
    fs::create_symlink(r / "file", r / "link-file");
    fs::create_directory_symlink(r / "dir", r / "link-dir");
    fs::create_symlink(r / "missing", r / "dangling");
    fs::create_symlink("link-file", r / "chain");
    fs::create_symlink("../file", r / "dir" / "up");
    fs::create_symlink(r / "fifo", r / "link-fifo");
    file(r / "walled.db");
    fs::create_symlink(r / "file", r / "walled.db-wal");
    file(r / "shm.db");
    fifo(r / "shm.db-shm");
    fs::create_symlink(r / "file", r / "manifest.db.manifest.json");
    file(r / "dir-wal.db");
    fs::create_directory(r / "dir-wal.db-wal");
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(tree(), ec);
    });  // libFuzzer may leave with _Exit: the next run removes what is left
    return r;
  }();
  return root;
}

struct Look {
  bool exists = false;  // lstat succeeded
  mode_t mode = 0;
};

Look look(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  return {true, st.st_mode};
}

// A file that a check accepted: missing (or unreachable), or a regular file.
void assert_file_or_nothing(const std::string& path) {
  const Look l = look(path);
  if (l.exists && !S_ISREG(l.mode)) {
    std::fprintf(stderr, "accepted %s, which is not a regular file (mode %o)\n", path.c_str(),
                 static_cast<unsigned>(l.mode));
    std::abort();
  }
}

std::string strip_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

std::string_view last_component(std::string_view s) {
  const auto slash = s.rfind('/');
  return slash == std::string_view::npos ? s : s.substr(slash + 1);
}

void assert_accepted_db_or_target(const std::string& path, bool db) {
  if (path.empty() || path.back() == '/') std::abort();
  const std::string_view last = last_component(path);
  if (last == "." || last == "..") std::abort();
  assert_file_or_nothing(path);
  assert_file_or_nothing(path + "-wal");
  assert_file_or_nothing(path + "-shm");
  if (db) assert_file_or_nothing(path + "-journal");
}

void assert_accepted_backup(const std::string& path) {
  const std::string stripped = strip_trailing_slashes(path);
  const std::string_view last = last_component(stripped);
  if (last == "." || last == "..") std::abort();  // only "." or ".." alone, never inside the tree
  const Look l = look(stripped);
  if (l.exists && !S_ISREG(l.mode) && !S_ISDIR(l.mode)) {
    std::fprintf(stderr, "accepted backup destination %s (mode %o)\n", stripped.c_str(),
                 static_cast<unsigned>(l.mode));
    std::abort();
  }
  // Where the tool will write: the directory it names (reached without a
  // final link) or the file and its manifest.
  struct stat followed {};
  if (::stat(path.c_str(), &followed) == 0 && S_ISDIR(followed.st_mode)) {
    if (!l.exists || !S_ISDIR(l.mode)) std::abort();
  } else if (stripped.size() == path.size()) {
    assert_file_or_nothing(path + ".manifest.json");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % 3;
  const std::string relative(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string path = tree().string() + "/" + relative;
  const bool has_nul = relative.find('\0') != std::string::npos;
  try {
    switch (which) {
      case 0:
        cairn::cli::check_db_path(path);
        break;
      case 1:
        cairn::cli::check_backup_dest(path);
        break;
      default:
        cairn::cli::check_restore_target(path);
        break;
    }
  } catch (const cairn::Error& e) {
    const auto code = e.code_value();
    if (code != cairn::errc::invalid_argument && code != cairn::errc::not_a_registry &&
        code != cairn::errc::read_only && code != cairn::errc::restore_refused) {
      std::abort();
    }
    if (std::string_view(e.what()).empty()) std::abort();
    return 0;
  }
  // Accepted.
  if (has_nul) std::abort();  // a NUL byte would cut the path in the C library
  switch (which) {
    case 0:
      assert_accepted_db_or_target(path, true);
      break;
    case 1:
      assert_accepted_backup(path);
      break;
    default:
      assert_accepted_db_or_target(path, false);
      break;
  }
  return 0;
}
