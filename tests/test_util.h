// Helpers shared by the unit tests, in one header:
//
//   errors        ErrorCode, code, error_of, error_code_of: which cairn::errc a call fails with
//   files         TempDir, RamTempDir, read_bytes, write_bytes, file_mode, dir_entries, snapshot
//   SQL           query, query_value, exec_sql: the file seen through the sqlite3 C API
//   JSON          contains, nested_object, nested_array, same
//   registries    TestClock, InMemory / OnDisk, Fixture, image, keys_of, events_at, make_app
//   subscribers   Recorder: a subscriber that keeps what it is handed
//   processes     run_command, run_process: a program in a child process, its output captured
//   forks         ForkedChild: this test, forked, e.g. a writer on the test's registry file
//   backups       sha256_of, write_matching_manifest: backups built or changed by hand
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cairn/cairn.h"

extern char** environ;

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

// An app record for tests that need one: `id`, in `pools`, with `meta`; the
// other fields keep their defaults. The default meta is small and not empty,
// so a test can see it kept or changed; a test that asserts on a field's
// value passes that value here, where the reader sees it.
//   reg.apps().put(test::make_app("a1", {"p"}, {{"k", "v"}}));
inline cairn::App make_app(std::string id, std::vector<std::string> pools = {},
                           nlohmann::json meta = {{"v", 1}}) {
  cairn::App a;
  a.id = std::move(id);
  a.pools = std::move(pools);
  a.meta = std::move(meta);
  return a;
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

// How long a test waits for something that happens by contract (an event
// delivered, a child exiting): it only keeps a broken build from hanging, and
// is never a performance bound.
inline constexpr std::chrono::seconds kPatience{30};

// A subscriber that keeps what it is handed, one vector per handler call, in
// order of receipt:
//   test::Recorder rec;
//   auto sub = reg.subscribe({}, rec.handler());
// The recorder must outlive the subscriptions it serves. Thread-safe: the
// handler runs on the subscription's delivery thread while the test reads.
class Recorder {
 public:
  cairn::Handler handler() {
    return [this](std::span<const cairn::Event> events) { add(events); };
  }

  // What handler() does: for a handler of the test's own that records too.
  void add(std::span<const cairn::Event> events) {
    std::lock_guard lock(mu_);
    calls_.emplace_back(events.begin(), events.end());
  }

  // Every handler call, in order, each with the events it was handed.
  std::vector<std::vector<cairn::Event>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

  std::size_t call_count() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

  // Every event received, flattened, in order of receipt.
  std::vector<cairn::Event> events() const {
    std::lock_guard lock(mu_);
    std::vector<cairn::Event> out;
    for (const auto& call : calls_) out.insert(out.end(), call.begin(), call.end());
    return out;
  }

  std::size_t event_count() const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& call : calls_) n += call.size();
    return n;
  }

  // How many of the events received are of `kind`.
  std::size_t count(cairn::Kind kind) const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& call : calls_) {
      for (const auto& e : call) n += e.kind == kind;
    }
    return n;
  }

  bool has_revision(cairn::Revision r) const {
    std::lock_guard lock(mu_);
    for (const auto& call : calls_) {
      for (const auto& e : call) {
        if (e.revision == r) return true;
      }
    }
    return false;
  }

  // The highest revision received; 0 before any event.
  cairn::Revision last_revision() const {
    std::lock_guard lock(mu_);
    cairn::Revision last = 0;
    for (const auto& call : calls_) {
      for (const auto& e : call) last = std::max(last, e.revision);
    }
    return last;
  }

  // Waits until at least `n` events of `kind` arrived; false when `patience`
  // ran out first.
  bool wait_for_count(std::size_t n, cairn::Kind kind,
                      std::chrono::milliseconds patience = kPatience) const {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(kind) >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::vector<cairn::Event>> calls_;
};

struct ProcessResult {
  int exit_code = -1;  // 128 + the signal's number when a signal ended the child
  std::string out{};
  std::string err{};
};

// Each member has an initializer, so designated initializers may name any subset.
struct ProcessOptions {
  std::string stdin_bytes{};              // the child's stdin: a file with these bytes
  std::optional<std::string> cairn_db{};  // CAIRN_DB for the child; empty: none
  fs::path cwd{};                         // empty: the test's own
  std::optional<unsigned> umask{};        // the child's umask; empty: inherited
};

// Runs `argv[0]` (a path) with `argv`, without a shell, stdout and stderr
// captured through files. Stdin is always a file, so the child never waits on
// a terminal. CAIRN_DB is removed from the child's environment unless
// options.cairn_db sets it, so a test never touches the caller's registry.
inline ProcessResult run_process(const std::vector<std::string>& args,
                                 const ProcessOptions& options = {}) {
  TempDir io;
  const std::string in_path = (io / "stdin").string(), out_path = (io / "stdout").string(),
                    err_path = (io / "stderr").string();
  write_bytes(in_path, options.stdin_bytes);
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
  if (options.cairn_db) env_strings.push_back("CAIRN_DB=" + *options.cairn_db);
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const std::string cwd = options.cwd.string();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int in = ::open(in_path.c_str(), O_RDONLY);
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

// ---- Forked children ----

// The threads of this process, leaving out the sanitizer runtime's own:
// ThreadSanitizer starts a background thread with the first std::thread of
// the process and keeps it to the end; it holds no SQLite state, and TSan's
// fork handling takes care of it. One thread is started here first, so that
// it is there to leave out.
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

// REQUIREs that this process runs one thread, as a fork needs: the child would
// inherit SQLite's state, and any lock another thread held, half-way.
inline void require_single_threaded() {
  REQUIRE_MESSAGE(thread_count() == 1,
                  "fork only while single-threaded: SQLite state must not cross a fork");
}

// Blocks for one byte on `fd`; false on EOF or error.
inline bool read_byte(int fd) {
  char c = 0;
  ssize_t n;
  do {
    n = ::read(fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

inline bool write_byte(int fd, char c) { return ::write(fd, &c, 1) == 1; }

// Another process: this test, forked, running `body`. Typically the body
// opens a Registry of its own on the test's file and writes, or holds the file
// open, while the test watches.
//
// The fork happens in the constructor, which REQUIREs that this process runs
// one thread; it must not have a database open either (SQLite state must
// never cross a fork). The child runs body(from_parent, to_parent) and
// _exits with what it returns, or 1 when it throws: it never returns into
// doctest, so a body reports through its exit code and what it writes.
//
// Two pipes join the two. The parent's go() sends the child one byte on
// from_parent, and close_input() (or the destructor) gives it EOF there:
// "stop", or "the test gave up". What the child writes to to_parent the
// parent reads with wait_ready() (one byte: the child is ready), read_all(),
// or from from_child().
//
// The destructor closes the parent's ends, gives the child kPatience to exit,
// then SIGKILLs it. Only the thread that made the object may use it.
class ForkedChild {
 public:
  using Body = std::function<int(int from_parent, int to_parent)>;

  explicit ForkedChild(const Body& body) {
    require_single_threaded();
    int down[2], up[2];
    REQUIRE(::pipe2(down, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(up, O_CLOEXEC) == 0);
    std::fflush(nullptr);  // else the child's exit writes out the parent's buffers again
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      int code = 1;
      try {
        code = body(down[0], up[1]);
      } catch (...) {
      }
      ::_exit(code);
    }
    ::close(down[0]);
    ::close(up[1]);
    to_child_ = down[1];
    from_child_ = up[0];
  }
  ForkedChild(const ForkedChild&) = delete;
  ForkedChild& operator=(const ForkedChild&) = delete;
  ~ForkedChild() {
    close_input();
    if (from_child_ >= 0) ::close(from_child_);
    if (!status_ && !exit_status(kPatience)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  int to_child() const { return to_child_; }  // -1 after close_input()
  int from_child() const { return from_child_; }

  // REQUIREs the child's first byte on to_parent: it is ready.
  void wait_ready(const char* failure = "the forked child did not get ready") {
    REQUIRE_MESSAGE(read_byte(from_child_), failure);
  }

  // Sends the child one byte: its go.
  void go() { REQUIRE(write_byte(to_child_, 'g')); }

  // Closes the parent's end of from_parent: the child reads EOF there.
  void close_input() {
    if (to_child_ >= 0) ::close(to_child_);
    to_child_ = -1;
  }

  // Everything the child writes to to_parent until it closes it (exits).
  std::string read_all() {
    std::string text;
    char buffer[4096];
    for (;;) {
      const ssize_t n = ::read(from_child_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    return text;
  }

  // Waits at most `patience` for the child to exit. Its exit code; -1 when a
  // signal ended it or it is still running.
  int wait(std::chrono::milliseconds patience = kPatience) {
    const std::optional<int> status = exit_status(patience);
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

 private:
  // The child's wait status once it exited (reaping it), nullopt when it is
  // still running after `patience`.
  std::optional<int> exit_status(std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (!status_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        status_ = status;
      } else if ((r < 0 && errno != EINTR) || std::chrono::steady_clock::now() >= deadline) {
        return std::nullopt;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    return status_;
  }

  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::optional<int> status_{};
};
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
