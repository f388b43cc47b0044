// Helpers shared by the unit tests: temporary directories, a clock the test
// controls, file inspection, a read-only sqlite3 query, a shell runner, and a
// way to check which cairn::errc a call fails with.
#pragma once

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cairn/cairn.h"

namespace test {

// A cairn::errc that doctest prints by name: "not_found", not 1. (doctest
// prints every enum as its number and offers no way to change that.)
struct ErrorCode {
  cairn::errc value;
};
inline bool operator==(ErrorCode a, cairn::errc b) { return a.value == b; }
inline bool operator!=(ErrorCode a, cairn::errc b) { return a.value != b; }

// The code of an error, for CHECK(test::code(e) == cairn::errc::conflict).
inline ErrorCode code(const cairn::Error& e) { return {e.code_value()}; }

}  // namespace test

namespace doctest {
template <>
struct StringMaker<test::ErrorCode> {
  static String convert(test::ErrorCode e) { return cairn::to_string(e.value); }
};
}  // namespace doctest

namespace test {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/cairn-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    // Make every directory writable again, in case a test took permissions away.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec)) fs::permissions(it->path(), fs::perms::owner_all, ec);
    }
    fs::remove_all(path_, ec);
  }

  const fs::path& path() const { return path_; }
  fs::path operator/(const fs::path& p) const { return path_ / p; }

 private:
  fs::path path_;
};

// A clock for Options::clock that only moves when the test moves it. Copies
// share the same time, so the test keeps one and gives the registry another.
class TestClock {
 public:
  explicit TestClock(cairn::Timestamp start = 1'700'000'000'000)
      : now_(std::make_shared<std::atomic<cairn::Timestamp>>(start)) {}

  cairn::Timestamp now() const { return now_->load(); }
  void set(cairn::Timestamp t) { now_->store(t); }
  void advance(cairn::Timestamp ms) { now_->fetch_add(ms); }

  std::function<cairn::Timestamp()> fn() const {
    auto now = now_;
    return [now] { return now->load(); };
  }

 private:
  std::shared_ptr<std::atomic<cairn::Timestamp>> now_;
};

// The whole content of a file, as bytes.
inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Permission bits of a file or directory (e.g. 0600), without following links.
inline unsigned file_mode(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) throw std::runtime_error("cannot stat " + path.string());
  return static_cast<unsigned>(st.st_mode) & 07777u;
}

// The names of the entries of a directory.
inline std::set<std::string> dir_entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

using Row = std::vector<std::string>;

namespace detail {

inline std::vector<Row> run_sql(sqlite3* db, const std::string& sql, const std::string& what) {
  std::vector<Row> rows;
  const char* tail = sql.c_str();
  while (tail != nullptr && *tail != '\0') {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, tail, -1, &stmt, &tail) != SQLITE_OK) {
      throw std::runtime_error(what + ": " + sqlite3_errmsg(db) + " in: " + sql);
    }
    if (stmt == nullptr) continue;  // whitespace or a comment
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      Row row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* text = sqlite3_column_text(stmt, i);
        row.emplace_back(text == nullptr ? "NULL" : reinterpret_cast<const char*>(text));
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      throw std::runtime_error(what + ": " + sqlite3_errmsg(db) + " in: " + sql);
  }
  return rows;
}

inline std::vector<Row> with_db(const fs::path& path, int flags, const std::string& sql) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> guard(db, sqlite3_close);
  if (rc != SQLITE_OK) throw std::runtime_error("sqlite3_open_v2 " + path.string() + " failed");
  return run_sql(db, sql, path.string());
}

}  // namespace detail

// Opens `path` with the sqlite3 C API, read-only, and runs `sql` (one or more
// statements). Returns every row of every statement as text; NULL -> "NULL".
inline std::vector<Row> query(const fs::path& path, const std::string& sql) {
  return detail::with_db(path, SQLITE_OPEN_READONLY, sql);
}

// The first column of the first row of query(path, sql).
inline std::string query_value(const fs::path& path, const std::string& sql) {
  auto rows = query(path, sql);
  if (rows.empty() || rows.front().empty()) throw std::runtime_error("no row for: " + sql);
  return rows.front().front();
}

// Opens (creating if needed) `path` read-write with the sqlite3 C API and runs
// `sql`: for building foreign files and tampering with registries.
inline std::vector<Row> exec_sql(const fs::path& path, const std::string& sql) {
  return detail::with_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, sql);
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout only
};

// Runs `command` with /bin/sh and captures its standard output.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Single-quotes a string for /bin/sh.
inline std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The cairn::Error that fn() throws, or nullopt when it returns normally. Any
// other exception propagates, so doctest reports it as a failure.
template <class Fn>
std::optional<cairn::Error> error_of(Fn&& fn) {
  try {
    fn();
  } catch (const cairn::Error& e) {
    return e;
  }
  return std::nullopt;
}

// The code of the cairn::Error that fn() throws, errc::ok when it does not throw.
//   CHECK(test::error_code_of([&] { reg.apps().get("x"); }) == cairn::errc::not_found);
template <class Fn>
ErrorCode error_code_of(Fn&& fn) {
  auto e = error_of(std::forward<Fn>(fn));
  return {e ? e->code_value() : cairn::errc::ok};
}

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A JSON object nested `depth` levels deep: {"a":{"a":...{"a":1}...}}, built
// from text because nlohmann's parser is iterative (no deep recursion here).
inline nlohmann::json nested_object(int depth) {
  std::string text;
  text.reserve(static_cast<std::size_t>(depth) * 6 + 1);
  for (int i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text.append(static_cast<std::size_t>(depth), '}');
  return nlohmann::json::parse(text);
}

// A JSON array nested `depth` levels deep: [[[...]]].
inline nlohmann::json nested_array(int depth) {
  std::string text(static_cast<std::size_t>(depth), '[');
  text.append(static_cast<std::size_t>(depth), ']');
  return nlohmann::json::parse(text);
}

// The registry modes a store test runs in: TEST_CASE_TEMPLATE(..., Mode, InMemory, OnDisk).
struct InMemory {
  static cairn::Registry open(const TempDir&, const cairn::Options& options) {
    return cairn::Registry::open_in_memory(options);
  }
};
struct OnDisk {
  static cairn::Registry open(const TempDir& dir, const cairn::Options& options) {
    return cairn::Registry::open(dir / "registry.db", options);
  }
};

// A registry with a test clock, in the given mode. Durable mode uses
// synchronous=normal: these tests are about semantics, not power loss.
template <class Mode>
struct Fixture {
  TempDir dir;
  TestClock clock;
  cairn::Registry reg = Mode::open(dir, options());

  cairn::Options options() const {
    cairn::Options o;
    o.synchronous = cairn::Synchronous::normal;
    o.actor = "test-actor";
    o.clock = clock.fn();
    return o;
  }
};

// The JSON image of a record: compares every field, timestamps and revision too.
template <class Record>
nlohmann::json image(const Record& r) {
  nlohmann::json j;
  to_json(j, r);
  return j;
}

// The keys of a list of records, in order.
template <class Records, class KeyFn>
std::vector<std::string> keys_of(const Records& records, KeyFn key) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(key(r));
  return out;
}

}  // namespace test

TYPE_TO_STRING(test::InMemory);
TYPE_TO_STRING(test::OnDisk);

namespace test {

// The change-log events of exactly revision `rev`.
inline std::vector<cairn::Event> events_at(const cairn::Registry& reg, cairn::Revision rev) {
  std::vector<cairn::Event> out;
  for (auto& e : reg.changes(rev)) {
    if (e.revision == rev) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace test

// Child processes: run_process runs a program and captures its output.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

extern char** environ;

namespace test {

struct ProcessResult {
  int exit_code = -1;  // 128 + the signal's number when a signal ended the child
  std::string out{};
  std::string err{};
};

struct ProcessOptions {
  fs::path cwd{};                 // empty: the test's own
  std::optional<unsigned> umask{};  // the child's umask; empty: inherited
};

// Runs `argv[0]` (a path) with `argv`, without a shell, stdin from /dev/null,
// stdout and stderr captured through files. CAIRN_DB is removed from the
// child's environment, so a test never touches the caller's registry.
inline ProcessResult run_process(const std::vector<std::string>& args,
                                 const ProcessOptions& options = {}) {
  TempDir io;
  const std::string out_path = (io / "stdout").string(), err_path = (io / "stderr").string();
  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls.
  std::vector<std::string> arg_strings = args;
  std::vector<char*> argv;
  for (std::string& arg : arg_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::string_view(*entry).substr(0, 9) != "CAIRN_DB=") env_strings.emplace_back(*entry);
  }
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const std::string cwd = options.cwd.string();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) ::_exit(126);
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    if (options.umask) ::umask(static_cast<mode_t>(*options.umask));
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_bytes(out_path);
  result.err = read_bytes(err_path);
  return result;
}

// The threads of this process, leaving out the sanitizer runtime's own: a
// test forks a process that opens the registry only while this is 1, so no
// SQLite state crosses the fork. ThreadSanitizer starts a background thread
// with the first std::thread of the process and keeps it to the end; it holds
// no SQLite state, and TSan's fork handling takes care of it. One thread is
// started here first, so that it is there to leave out.
inline std::size_t thread_count() {
  std::size_t sanitizer_threads = 0;
#if defined(__SANITIZE_THREAD__)
  std::thread([] {}).join();
  sanitizer_threads = 1;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  std::thread([] {}).join();
  sanitizer_threads = 1;
#endif
#endif
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/task")) ++n;
  return n - sanitizer_threads;
}
}  // namespace test

#include <unistd.h>

namespace test {

// ---- Backups built or changed by hand ----

inline std::string sha256_of(const fs::path& file) {
  auto result = run_command("sha256sum " + shell_quote(file.string()));
  if (result.exit_code != 0 || result.output.size() < 64) {
    throw std::runtime_error("sha256sum failed for " + file.string());
  }
  return result.output.substr(0, 64);
}

// Writes a manifest beside `file` that matches its bytes, as if cairn had
// written it: for files the test built or changed by hand.
inline void write_matching_manifest(const fs::path& file, int schema_version) {
  nlohmann::json m = {
      {"format", "cairn-backup"},
      {"file", file.filename().string()},
      {"size", static_cast<std::int64_t>(fs::file_size(file))},
      {"sha256", sha256_of(file)},
      {"schema_version", schema_version},
      {"last_revision", 0},
      {"created_at", 0},
      {"cairn_version", cairn::version()},
  };
  write_bytes(cairn::manifest_path(file), m.dump(2) + "\n");
}

// Every entry of a directory, with the bytes of the regular files: two equal
// snapshots mean nothing in it was created, removed or changed.
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    out[name] = entry.is_regular_file() ? read_bytes(entry.path()) : std::string("<dir>");
  }
  return out;
}

// Like TempDir, but on a RAM file system (/dev/shm) when there is one, else
// under /tmp: for loops that fsync on every commit and check semantics, not
// durability (fault injection, for instance), where disk flushes only cost time.
class RamTempDir {
 public:
  RamTempDir() {
    std::error_code ec;
    const bool ram = fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0;
    std::string pattern = ram ? "/dev/shm/cairn-test-XXXXXX" : "/tmp/cairn-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  RamTempDir(const RamTempDir&) = delete;
  RamTempDir& operator=(const RamTempDir&) = delete;
  ~RamTempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }

  const fs::path& path() const { return path_; }
  fs::path operator/(const fs::path& p) const { return path_ / p; }

 private:
  fs::path path_;
};

// Equal values of equal types at every level: nlohmann's == calls 1u and 1
// equal, but a reader of stored JSON must give what nlohmann's parser gives.
inline bool same(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(), jt = b.begin(); it != a.end(); ++it, ++jt) {
      if (it.key() != jt.key() || !same(*it, *jt)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b || (a.is_number_float() && a.dump() == b.dump());  // NaN is never ==
}

}  // namespace test
