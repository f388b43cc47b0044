// Files for the fuzz targets that work on disk (fuzz_backup_paths,
// fuzz_backup_schema): one scratch directory per process, and whole-file
// reads and writes.
//
// Failures here are the harness's, not the library's: they abort with a
// message that says so, never through fuzz::finding.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>

namespace fuzz {

namespace fs = std::filesystem;

[[noreturn]] inline void harness_failure(const std::string& what) {
  std::fprintf(stderr, "\n==== fuzz harness failure (not a finding): %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// A directory of this process's own, on a RAM file system when there is one
// (every backup and restore fsyncs; on a disk that alone would set the
// speed), named <tmp>/cairn-fuzz-<tag>-<pid>. The directories of fuzzer
// processes that are gone are removed first: libFuzzer ends a run with
// _Exit, so the destructor does not always run.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view tag) {
    std::error_code ec;
    const fs::path base = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
                              ? fs::path("/dev/shm")
                              : fs::path("/tmp");
    const std::string prefix = "cairn-fuzz-" + std::string(tag) + "-";
    for (const auto& entry : fs::directory_iterator(base, ec)) {
      const std::string name = entry.path().filename().string();
      if (!name.starts_with(prefix)) continue;
      const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        fs::remove_all(entry.path(), ec);
      }
    }
    path_ = base / (prefix + std::to_string(::getpid()));
    fs::remove_all(path_, ec);
    if (!fs::create_directory(path_, ec)) harness_failure("cannot create " + path_.string());
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }

  const fs::path& path() const { return path_; }
  fs::path operator/(const fs::path& name) const { return path_ / name; }

  // Removes everything inside, keeping the directory.
  void clear() const {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(path_, ec)) fs::remove_all(entry.path(), ec);
    if (ec) harness_failure("cannot empty " + path_.string() + ": " + ec.message());
  }

 private:
  fs::path path_;
};

inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) harness_failure("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) harness_failure("cannot write " + path.string());
}

// The names of the entries of a directory.
inline std::set<std::string> entry_names(const fs::path& dir) {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    names.insert(entry.path().filename().string());
  }
  if (ec) harness_failure("cannot list " + dir.string() + ": " + ec.message());
  return names;
}

}  // namespace fuzz
