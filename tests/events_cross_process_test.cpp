// Events of writes made by other processes on the same file (DESIGN section
// 6: the Watcher polls PRAGMA data_version and reads new change-log rows),
// and `cairn watch`, the same thing on the command line.
//
// The other processes are this test forked. A fork happens while this process
// is still single-threaded and has no database open (SQLite state must never
// cross a fork); the child then waits for a go, opens its OWN Registry on the
// file, writes, and _exits.
//
// Set CAIRN_WATCH_CLI to run the `cairn watch` case against another binary
// than the one built (CAIRN_CLI_PATH).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

extern char** environ;

using cairn::Event;
using cairn::Filter;
using cairn::Kind;
using cairn::Op;
using cairn::Registry;
using cairn::Revision;
using cairn::SubscribeOptions;
using cairn::Tx;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

// Only keeps a broken build from hanging; never a performance bound.
constexpr auto kPatience = 30s;

json json_of(const Event& e) {
  json j;
  to_json(j, e);
  return j;
}

cairn::Options options_for(std::string actor) {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.actor = std::move(actor);
  o.watch_interval_ms = 10;
  return o;
}

// Creates the registry file (schema and all) and closes it again, so that no
// connection is open when the test forks.
void create_registry(const fs::path& path) {
  Registry reg = Registry::open(path, options_for("setup"));
  cairn::App a;
  a.id = "setup-app";
  reg.apps().put(a);
}

// Commits a local marker and waits until it is delivered: the event
// dispatcher is then running, and its watcher has taken its first look at the
// file. Cases about delivering other processes' writes call it before those
// writes start, to stay clear of the watcher's start (which has its own case).
// Returns the marker's revision.
Revision settle(Registry& reg) {
  cairn::App marker;
  marker.id = "marker";
  marker.meta = json{{"n", reg.revision()}};
  reg.apps().put(marker);
  const Revision rev = reg.revision();
  REQUIRE(reg.wait_for(rev, kPatience));
  return rev;
}

// Every handler call of one subscriber, in order.
class Recorder {
 public:
  cairn::Handler handler() {
    return [this](std::span<const Event> events) {
      std::lock_guard lock(mu_);
      calls_.emplace_back(events.begin(), events.end());
    };
  }
  std::vector<std::vector<Event>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  std::size_t event_count() const {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& call : calls_) n += call.size();
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::vector<Event>> calls_;
};

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds patience = kPatience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Checks that `calls` are exactly the revisions from..to of the change log
// that have an event matching `keep`: one call per revision, with exactly
// its matching events, in order.
void check_exact_stream(const Registry& reg, const std::vector<std::vector<Event>>& calls,
                        Revision from, Revision to,
                        const std::function<bool(const Event&)>& keep = {}) {
  std::map<Revision, std::vector<Event>> expected;
  for (auto& e : reg.changes(from)) {
    if (e.revision <= to && (!keep || keep(e))) expected[e.revision].push_back(std::move(e));
  }
  CHECK(calls.size() == expected.size());
  auto it = expected.begin();
  for (const auto& call : calls) {
    REQUIRE(it != expected.end());
    CAPTURE(it->first);
    REQUIRE(call.size() == it->second.size());
    for (std::size_t i = 0; i < call.size(); ++i) CHECK(json_of(call[i]) == json_of(it->second[i]));
    ++it;
  }
}

// What a forked writer does once told to go.
struct WritePlan {
  fs::path db{};
  int count = 0;
  std::string prefix{};  // record ids: <prefix>-<i>
  std::string actor{};
  // apps only, or apps, pools and config entries in turn
  bool mixed = false;
  // A last revision with an app, a pool and a config entry <prefix>-sentinel.
  bool sentinel = false;
  // When > 0: at the end, compact the change log down to this many revisions.
  std::int64_t compact_to = 0;
};

// Blocks for one byte on `fd`; false on EOF or error.
bool read_byte(int fd) {
  char c = 0;
  ssize_t n;
  do {
    n = ::read(fd, &c, 1);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

// Runs in the child: opens its own Registry, says it is ready, waits for the
// go, then writes (every write its own revision). Returns the exit code.
int write_in_child(const WritePlan& plan, int ready_fd, int go_fd) noexcept {
  try {
    cairn::Options options = options_for(plan.actor);
    if (plan.compact_to > 0) options.change_log_max_revisions = plan.compact_to;
    Registry reg = Registry::open(plan.db, options);
    const char r = 'r';
    if (::write(ready_fd, &r, 1) != 1) return 4;
    if (!read_byte(go_fd)) return 3;  // EOF: the test gave up
    for (int i = 0; i < plan.count; ++i) {
      const std::string id = plan.prefix + "-" + std::to_string(i);
      const int turn = plan.mixed ? i % 3 : 0;
      if (turn == 0) {
        cairn::App a;
        a.id = id;
        a.meta = json{{"i", i}};
        reg.apps().put(a);
      } else if (turn == 1) {
        cairn::Pool p;
        p.name = id;
        reg.pools().put(p);
      } else {
        reg.config().save(id, json{{"i", i}});
      }
    }
    if (plan.sentinel) {
      const std::string id = plan.prefix + "-sentinel";
      reg.transact([&](Tx& tx) {
        cairn::App a;
        a.id = id;
        tx.apps().put(a);
        cairn::Pool p;
        p.name = id;
        tx.pools().put(p);
        tx.config().save(id, true);
      });
    }
    if (plan.compact_to > 0) reg.compact_change_log();
    reg.close();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "forked writer %s: %s\n", plan.prefix.c_str(), e.what());
    return 1;
  } catch (...) {
    return 1;
  }
}

// Another process writing on the same file. Forked in the constructor, which
// must run while this process has one thread and no database open; it opens
// its own Registry at once, and writes only after go().
class ForkedWriter {
 public:
  explicit ForkedWriter(WritePlan plan) {
    REQUIRE_MESSAGE(test::thread_count() == 1,
                    "fork only while single-threaded: SQLite state must not cross a fork");
    int go[2], ready[2];
    REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    std::fflush(nullptr);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::close(go[1]);
      ::close(ready[0]);
      ::_exit(write_in_child(plan, ready[1], go[0]));
    }
    ::close(go[0]);
    ::close(ready[1]);
    go_fd_ = go[1];
    ready_fd_ = ready[0];
  }
  ForkedWriter(const ForkedWriter&) = delete;
  ForkedWriter& operator=(const ForkedWriter&) = delete;
  ~ForkedWriter() {
    if (go_fd_ >= 0) ::close(go_fd_);  // an unstarted child exits on EOF
    if (ready_fd_ >= 0) ::close(ready_fd_);
    if (pid_ > 0 && !reaped_) {
      if (!wait_exit(kPatience).has_value()) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
  }

  // Waits until the child has its Registry open.
  void wait_ready() {
    REQUIRE_MESSAGE(read_byte(ready_fd_), "the forked writer did not get ready");
    ::close(ready_fd_);
    ready_fd_ = -1;
  }

  void go() {
    const char g = 'g';
    REQUIRE(::write(go_fd_, &g, 1) == 1);
    ::close(go_fd_);
    go_fd_ = -1;
  }

  // The child's exit code, or -1 when it did not exit normally in time.
  int wait() {
    auto status = wait_exit(kPatience);
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

 private:
  std::optional<int> wait_exit(std::chrono::milliseconds patience) {
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return status;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }

  pid_t pid_ = -1;
  int go_fd_ = -1;
  int ready_fd_ = -1;
  bool reaped_ = false;
};

// ---- A child process with its standard output on a pipe -------------------------

class Child {
 public:
  // Runs argv[0] (a path) with stdout on a pipe and stderr into `stderr_path`.
  Child(const std::vector<std::string>& argv, const fs::path& stderr_path) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(err >= 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    ::close(err);
    out_fd_ = fds[0];
    REQUIRE_MESSAGE(rc == 0, "cannot run " << argv[0]);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }

  // Reads whole lines until `enough` says so, the output ends, or the patience runs out.
  std::vector<std::string> read_lines(
      const std::function<bool(const std::vector<std::string>&)>& enough) {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!enough(lines_) && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(out_fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      partial_.append(buffer, static_cast<std::size_t>(n));
      std::size_t newline;
      while ((newline = partial_.find('\n')) != std::string::npos) {
        lines_.push_back(partial_.substr(0, newline));
        partial_.erase(0, newline + 1);
      }
    }
    return lines_;
  }

  // Sends `signal`, then waits for the exit. The exit code, or -1 when it did
  // not exit normally in time (it is then killed).
  int stop(int signal) {
    ::kill(pid_, signal);
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool reaped_ = false;
  std::vector<std::string> lines_;
  std::string partial_;
};

std::string watch_cli() {
  if (const char* env = std::getenv("CAIRN_WATCH_CLI"); env != nullptr && *env != '\0') return env;
  return CAIRN_CLI_PATH;
}

// Whether the CLI has a `watch` command. Its exit code alone does not tell:
// without one, `cairn watch --help` prints the top-level help and exits 0.
bool cli_has_watch(const std::string& cli) {
  const auto r = test::run_command(test::shell_quote(cli) + " watch --help 2>&1");
  if (r.exit_code != 0) return false;
  std::size_t begin = 0;
  while (begin < r.output.size()) {
    std::size_t end = r.output.find('\n', begin);
    if (end == std::string::npos) end = r.output.size();
    const std::string_view line(r.output.data() + begin, end - begin);
    if (test::contains(line, "Usage:") && test::contains(line, "watch")) return true;
    begin = end + 1;
  }
  return false;
}

}  // namespace

TEST_CASE("events: a subscriber receives the writes of another process") {
  test::TempDir dir;
  const auto path = dir / "shared.db";
  create_registry(path);
  ForkedWriter child(
      WritePlan{.db = path, .count = 50, .prefix = "remote", .actor = "other-process"});

  Registry reg = Registry::open(path, options_for("this-process"));
  const Revision start = reg.revision();
  Recorder rec;
  auto sub = reg.subscribe({}, rec.handler());
  const Revision marker = settle(reg);
  child.go();
  REQUIRE(child.wait() == 0);

  const Revision last = reg.revision();
  CHECK(last == marker + 50);
  // The watcher polls: wait with a bound, never for a fixed time.
  CHECK(eventually([&] { return rec.event_count() >= 51; }));
  REQUIRE(reg.wait_for(last, kPatience));
  const auto calls = rec.calls();
  check_exact_stream(reg, calls, start + 1, last);
  REQUIRE(calls.size() == 51);  // the marker, then the other process's 50
  for (int i = 0; i < 50; ++i) {
    CAPTURE(i);
    REQUIRE(calls[static_cast<std::size_t>(i) + 1].size() == 1);
    const Event& e = calls[static_cast<std::size_t>(i) + 1].front();
    CHECK(e.id == "remote-" + std::to_string(i));
    CHECK(e.topic == "app.registered");
    CHECK(e.actor == "other-process");
    REQUIRE(e.after.has_value());
    CHECK(e.after->at("meta") == json{{"i", i}});
  }
  CHECK(reg.stats().subscribers.front().lag == 0);
}

TEST_CASE("events: local and other processes' writes reach subscribers in revision order") {
  test::TempDir dir;
  const auto path = dir / "interleaved.db";
  create_registry(path);
  ForkedWriter a(WritePlan{
      .db = path, .count = 150, .prefix = "child-a", .actor = "process-a", .mixed = true});
  ForkedWriter b(WritePlan{
      .db = path, .count = 150, .prefix = "child-b", .actor = "process-b", .mixed = true});

  Registry reg = Registry::open(path, options_for("this-process"));
  const Revision start = reg.revision();
  Recorder live, only_a, replayed;
  auto live_sub = reg.subscribe({}, live.handler());
  auto a_sub = reg.subscribe(Filter{.id_prefix = "child-a-"}, only_a.handler());
  settle(reg);

  a.go();
  b.go();
  std::thread local([&] {
    for (int i = 0; i < 150; ++i) {
      if (i % 5 == 0) {
        reg.transact([&](Tx& tx) {
          cairn::App x;
          x.id = "local-" + std::to_string(i);
          tx.apps().put(x);
          tx.config().save("local-key-" + std::to_string(i), i);
        });
      } else {
        cairn::App x;
        x.id = "local-" + std::to_string(i);
        reg.apps().put(x);
      }
    }
  });
  // A replaying subscription made while all three write.
  std::this_thread::sleep_for(20ms);
  auto replay_sub = reg.subscribe({}, replayed.handler(), SubscribeOptions{.from = start + 1});
  local.join();
  REQUIRE(a.wait() == 0);
  REQUIRE(b.wait() == 0);

  const Revision last = reg.revision();
  CHECK(last == start + 1 + 150 + 150 + 150);
  REQUIRE(reg.wait_for(last, kPatience));
  check_exact_stream(reg, live.calls(), start + 1, last);
  check_exact_stream(reg, replayed.calls(), start + 1, last);
  check_exact_stream(reg, only_a.calls(), start + 1, last,
                     [](const Event& e) { return e.id.rfind("child-a-", 0) == 0; });
  CHECK(only_a.event_count() == 150);

  // Each writer's own events are in its own order, with its own actor.
  std::map<std::string, int> next;
  for (const auto& call : live.calls()) {
    for (const auto& e : call) {
      for (const char* who : {"child-a", "child-b"}) {
        if (e.id.rfind(std::string(who) + "-", 0) == 0) {
          CHECK(e.id == std::string(who) + "-" + std::to_string(next[who]++));
          CHECK(e.actor == (std::string(who) == "child-a" ? "process-a" : "process-b"));
        }
      }
    }
  }
  CHECK(next["child-a"] == 150);
  CHECK(next["child-b"] == 150);
}

TEST_CASE("events: another process's commit made while the first subscription starts arrives") {
  // The first subscription starts the watcher. A commit of another process
  // after the subscription took its starting revision, but before the watcher
  // took its first PRAGMA data_version, must still be delivered. Each attempt
  // subscribes a little later after the go, to sweep that moment; the
  // assertion holds whatever the timing.
  constexpr int kAttempts = 150;
  int delivered = 0;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    CAPTURE(attempt);
    test::TempDir dir;
    const auto path = dir / "race.db";
    create_registry(path);
    ForkedWriter child(
        WritePlan{.db = path, .count = 1, .prefix = "race", .actor = "other-process"});
    Registry reg = Registry::open(path, options_for("this-process"));
    const Revision before = reg.revision();
    Recorder rec;
    child.wait_ready();
    child.go();
    const auto subscribe_at =
        std::chrono::steady_clock::now() + std::chrono::microseconds((attempt % 60) * 25);
    while (std::chrono::steady_clock::now() < subscribe_at) {
    }
    auto sub = reg.subscribe({}, rec.handler(), SubscribeOptions{.from = before + 1});
    REQUIRE(child.wait() == 0);
    REQUIRE(reg.revision() == before + 1);
    // The watcher polls every 10 ms; the patience only keeps a failure from hanging.
    if (!eventually([&] { return rec.event_count() == 1; }, 10s)) {
      FAIL_CHECK("revision " << before + 1 << " of another process never arrived (attempt "
                             << attempt << ")");
      break;
    }
    ++delivered;
  }
  CHECK(delivered == kAttempts);
}

TEST_CASE("events: another process's revisions compacted before they were read end in a resync") {
  // The watcher reads other processes' revisions from the change log. When
  // retention removed some of them first, the subscriber must be told with a
  // resync_required event, never skip them silently (DESIGN section 6).
  test::TempDir dir;
  const auto path = dir / "compacted.db";
  create_registry(path);
  ForkedWriter child(WritePlan{
      .db = path, .count = 100, .prefix = "gone", .actor = "other-process", .compact_to = 10});

  cairn::Options options = options_for("this-process");
  // Polls seldom, so that the writes and the compaction most likely fall
  // between two polls. Correctness is checked either way.
  options.watch_interval_ms = 2000;
  Registry reg = Registry::open(path, options);
  const Revision start = reg.revision();
  Recorder rec;
  auto sub = reg.subscribe({}, rec.handler());
  const Revision marker = settle(reg);
  child.go();
  REQUIRE(child.wait() == 0);
  const Revision last = reg.revision();
  REQUIRE(last == marker + 100);
  CHECK(reg.stats().oldest_revision == last - 10 + 1);
  REQUIRE(reg.wait_for(last, kPatience));

  Revision next = start + 1;
  int resyncs = 0;
  for (const auto& call : rec.calls()) {
    REQUIRE_FALSE(call.empty());
    const Event& e = call.front();
    if (e.op == Op::resync_required) {
      ++resyncs;
      CHECK(e.revision >= next - 1);
      next = e.revision + 1;
      continue;
    }
    CAPTURE(next);
    // A revision further on with no resync before it: the ones between were lost silently.
    CHECK(e.revision == next);
    next = e.revision + 1;
  }
  CHECK(next == last + 1);
  MESSAGE(resyncs << " resync_required event(s)");
}

TEST_CASE("events: `cairn watch` prints the writes of another process") {
  const std::string cli = watch_cli();
  if (!cli_has_watch(cli)) {
    MESSAGE("SKIPPED: " << cli
                        << " has no `watch` command yet (`watch --help` shows no watch usage); "
                           "this case runs once tools/cairn has `cairn --db PATH watch [--from "
                           "REV] [--kind K] [--topic T]`");
    return;
  }

  struct Variant {
    const char* what;
    std::vector<std::string> extra;  // arguments after --from
    std::function<bool(const Event&)> keep;
    int stop_signal;  // Ctrl-C, or a service manager's SIGTERM
  };
  const std::vector<Variant> variants = {
      {"every event", {}, [](const Event&) { return true; }, SIGINT},
      {"--kind pool",
       {"--kind", "pool"},
       [](const Event& e) { return e.kind == Kind::pool; },
       SIGINT},
      {"--topic app.registered, stopped by SIGTERM",
       {"--topic", "app.registered"},
       [](const Event& e) { return e.topic == "app.registered"; },
       SIGTERM},
  };

  for (const auto& variant : variants) {
    CAPTURE(std::string(variant.what));
    test::TempDir dir;
    const auto path = dir / "watched.db";
    create_registry(path);
    Revision from = 0;
    {
      Registry reg = Registry::open(path, options_for("setup"));
      from = reg.revision() + 1;
    }
    // The third process: writes once `cairn watch` runs.
    ForkedWriter writer(WritePlan{.db = path,
                                  .count = 20,
                                  .prefix = "watched",
                                  .actor = "third-process",
                                  .mixed = true,
                                  .sentinel = true});

    std::vector<std::string> argv = {cli,     "--db",   path.string(),
                                     "watch", "--from", std::to_string(from)};
    argv.insert(argv.end(), variant.extra.begin(), variant.extra.end());
    Child watch(argv, dir / "watch.stderr");
    // `cairn watch` says on stderr when it is watching. With --from nothing is
    // missed either way; waiting for it only keeps this case about the CLI,
    // not about the watcher's start (the case above covers that).
    eventually([&] { return !test::read_bytes(dir / "watch.stderr").empty(); }, 10s);
    writer.go();
    REQUIRE(writer.wait() == 0);

    std::vector<json> expected;
    {
      Registry reg = Registry::open(path, options_for("reader"));
      for (const auto& e : reg.changes(from)) {
        if (variant.keep(e)) expected.push_back(json_of(e));
      }
    }
    REQUIRE_FALSE(expected.empty());
    const auto lines = watch.read_lines(
        [&](const std::vector<std::string>& got) { return got.size() >= expected.size(); });
    // Ctrl-C (or SIGTERM) ends it, with exit code 0.
    const int code = watch.stop(variant.stop_signal);
    CAPTURE(test::read_bytes(dir / "watch.stderr"));
    CHECK(code == 0);

    REQUIRE(lines.size() == expected.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      CAPTURE(lines[i]);
      json got;
      try {
        got = json::parse(lines[i]);
      } catch (const json::exception& e) {
        FAIL_CHECK("not one JSON object per line: " << e.what());
        continue;
      }
      REQUIRE(got.is_object());
      for (const char* field : {"revision", "index", "kind", "op", "topic", "id", "at", "actor"}) {
        CAPTURE(field);
        REQUIRE(got.contains(field));
        CHECK(got.at(field) == expected[i].at(field));
      }
      for (const char* image : {"before", "after"}) {
        CAPTURE(image);
        const bool absent = !got.contains(image) || got.at(image).is_null();
        CHECK(absent == !expected[i].contains(image));
        if (!absent && expected[i].contains(image)) CHECK(got.at(image) == expected[i].at(image));
      }
      CHECK(got.at("actor") == "third-process");
    }
  }
}
