// Contention: writers in several processes and threads on one file never see
// errc::busy (or any error) and never lose an update (DESIGN sections 2 and 5:
// write transactions are BEGIN IMMEDIATE and wait up to busy_timeout; the
// writer is serialized by a mutex inside a process and by SQLite's lock
// between processes; one revision per committed transaction).
//
// How: the test creates a registry with a config entry "counter" = 0 and
// closes it, then forks 2 processes; each opens its OWN Registry and runs 2
// threads. They start together, and each thread runs CAIRN_RMW_PER_THREAD
// (default 1,250) read-modify-write transactions: read "counter", write
// counter + 1, and every other time also put the thread's own app in the same
// transaction. After each commit the thread reads the counter again outside
// the transaction (another connection) and checks it sees at least its own
// value. Each process reports on a pipe how many commits succeeded, the
// counter values and revisions they committed, and every error by code. The
// parent checks: no error of any kind reached a caller; the final counter is
// the number of commits; the values committed are exactly 1..commits (no two
// transactions read the same value: no lost update); the revision grew by
// exactly the number of commits, each commit with its own; integrity is ok.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::Registry;
using cairn::Revision;
using nlohmann::json;

namespace fs = std::filesystem;

namespace {

constexpr int kProcesses = 2;
constexpr int kThreads = 2;

int per_thread_from_env() {
  if (const char* s = std::getenv("CAIRN_RMW_PER_THREAD"); s != nullptr && *s != '\0') {
    return std::max(1, std::atoi(s));
  }
  return 1250;
}

cairn::Options options_for(const std::string& actor) {
  cairn::Options o;
  // synchronous=normal keeps 5,000 commits short; contention, not durability,
  // is under test (the lock protocol is the same in both modes).
  o.synchronous = cairn::Synchronous::normal;
  o.actor = actor;
  return o;
}

std::int64_t counter_of(const std::optional<json>& value) {
  return value && value->is_number_integer() ? value->get<std::int64_t>() : -1;
}

// What one process did: its threads' results, merged.
struct Outcome {
  std::int64_t commits = 0;
  std::vector<std::int64_t> values;            // counter values committed
  std::vector<Revision> revisions;             // their revisions
  std::map<std::string, std::int64_t> errors;  // errc name (or "other") -> count
  std::vector<std::string> messages;           // the first few error messages
  std::int64_t stale_reads = 0;                // a read after commit saw less than the commit
};

void run_thread(Registry& reg, int process, int thread, int transactions, Outcome& out,
                std::mutex& mu) {
  Outcome mine;
  cairn::App app;
  app.id = "rmw-p" + std::to_string(process) + "-t" + std::to_string(thread);
  for (int i = 0; i < transactions; ++i) {
    try {
      const auto [value, revision] = reg.transact([&](cairn::Tx& tx) {
        const std::int64_t next = counter_of(tx.config().load("counter")) + 1;
        const Revision rev = tx.config().save("counter", next).revision;
        if (i % 2 == 0) {
          app.meta = {{"counter", next}};
          tx.apps().put(app);
        }
        return std::pair{next, rev};
      });
      ++mine.commits;
      mine.values.push_back(value);
      mine.revisions.push_back(revision);
      if (counter_of(reg.config().load("counter")) < value) ++mine.stale_reads;
    } catch (const cairn::Error& e) {
      ++mine.errors[cairn::to_string(e.code_value())];
      if (mine.messages.size() < 5) mine.messages.push_back(e.what());
    } catch (const std::exception& e) {
      ++mine.errors["other"];
      if (mine.messages.size() < 5) mine.messages.push_back(e.what());
    }
  }
  std::lock_guard lock(mu);
  out.commits += mine.commits;
  out.values.insert(out.values.end(), mine.values.begin(), mine.values.end());
  out.revisions.insert(out.revisions.end(), mine.revisions.begin(), mine.revisions.end());
  for (const auto& [code, n] : mine.errors) out.errors[code] += n;
  for (auto& m : mine.messages) {
    if (out.messages.size() < 10) out.messages.push_back(std::move(m));
  }
  out.stale_reads += mine.stale_reads;
}

void write_all(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(3);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string read_all(int fd) {
  std::string text;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

// A forked worker process: opens its own registry, says it is ready on
// `report_fd` (one byte), waits for the go on `go_fd`, runs its threads, and
// writes its Outcome as JSON on `report_fd`. Never returns.
[[noreturn]] void worker_process(const fs::path& path, int process, int transactions, int go_fd,
                                 int report_fd) {
  json report;
  int status = 0;
  try {
    Outcome out;
    {
      Registry reg = Registry::open(path, options_for("rmw-p" + std::to_string(process)));
      write_all(report_fd, "R");
      char go = 0;
      if (::read(go_fd, &go, 1) != 1) ::_exit(4);
      std::mutex mu;
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back(run_thread, std::ref(reg), process, t, transactions, std::ref(out),
                             std::ref(mu));
      }
      for (auto& th : threads) th.join();
    }
    report = {{"commits", out.commits},     {"values", out.values},
              {"revisions", out.revisions}, {"errors", out.errors},
              {"messages", out.messages},   {"stale_reads", out.stale_reads}};
  } catch (const std::exception& e) {
    report["child_error"] = e.what();
    status = 1;
  }
  write_all(report_fd, report.dump());
  ::_exit(status);
}

}  // namespace

TEST_CASE(
    "contention: 2 processes x 2 threads of read-modify-write lose no update and see no "
    "busy error") {
  const int per_thread = per_thread_from_env();
  const std::int64_t attempts = std::int64_t{kProcesses} * kThreads * per_thread;
  test::TempDir dir;
  const fs::path path = dir / "contention.db";

  Revision initial = 0;
  {
    Registry reg = Registry::open(path, options_for("setup"));
    reg.config().save("counter", 0);
    initial = reg.revision();
  }  // closed: nothing of SQLite is open at the fork

  // Not test::ForkedChild: one go pipe starts every worker at the same instant.
  int go[2];
  REQUIRE(::pipe2(go, O_CLOEXEC) == 0);
  struct Worker {
    pid_t pid = -1;
    int report_fd = -1;
  };
  std::vector<Worker> workers;
  for (int p = 0; p < kProcesses; ++p) {
    int report[2];
    REQUIRE(::pipe2(report, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(go[1]);
      ::close(report[0]);
      worker_process(path, p, per_thread, go[0], report[1]);
    }
    ::close(report[1]);
    workers.push_back(Worker{pid, report[0]});
  }
  ::close(go[0]);
  // Everyone has opened the registry; then all start at once.
  for (auto& w : workers) {
    char ready = 0;
    REQUIRE(::read(w.report_fd, &ready, 1) == 1);
  }
  const auto started = std::chrono::steady_clock::now();
  const std::string all_go(static_cast<std::size_t>(kProcesses), 'G');
  REQUIRE(::write(go[1], all_go.data(), all_go.size()) == static_cast<ssize_t>(all_go.size()));
  ::close(go[1]);

  std::int64_t commits = 0, stale_reads = 0;
  std::vector<std::int64_t> values;
  std::vector<Revision> revisions;
  std::map<std::string, std::int64_t> errors;
  for (auto& w : workers) {
    const std::string text = read_all(w.report_fd);
    ::close(w.report_fd);
    int status = 0;
    REQUIRE(::waitpid(w.pid, &status, 0) == w.pid);
    INFO("worker report: " << text.substr(0, 2000));
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    const json r = json::parse(text);
    REQUIRE(!r.contains("child_error"));
    commits += r["commits"].get<std::int64_t>();
    stale_reads += r["stale_reads"].get<std::int64_t>();
    for (auto v : r["values"]) values.push_back(v.get<std::int64_t>());
    for (auto v : r["revisions"]) revisions.push_back(v.get<Revision>());
    for (const auto& [code, n] : r["errors"].items()) errors[code] += n.get<std::int64_t>();
    for (const auto& m : r["messages"]) std::printf("contention: error: %s\n", m.dump().c_str());
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();

  Registry reg = Registry::open(path, options_for("checker"));
  const std::int64_t counter = counter_of(reg.config().load("counter"));
  const Revision grew = reg.revision() - initial;

  std::sort(values.begin(), values.end());
  std::int64_t duplicated_values = 0, missing_values = 0;
  for (std::int64_t v = 1, i = 0; v <= counter; ++v) {
    std::int64_t seen = 0;
    while (i < static_cast<std::int64_t>(values.size()) &&
           values[static_cast<std::size_t>(i)] == v) {
      ++seen;
      ++i;
    }
    if (seen == 0) ++missing_values;
    if (seen > 1) duplicated_values += seen - 1;
  }
  std::sort(revisions.begin(), revisions.end());
  const auto shared_revisions =
      revisions.size() -
      static_cast<std::size_t>(std::unique(revisions.begin(), revisions.end()) - revisions.begin());
  std::string error_text;
  std::int64_t error_count = 0;
  for (const auto& [code, n] : errors) {
    error_text += " " + code + ":" + std::to_string(n);
    error_count += n;
  }

  std::printf(
      "contention: %d processes x %d threads, %lld transactions attempted, %lld committed, "
      "%lld errors%s; final counter %lld, revision grew by %lld; %lld lost updates (values "
      "committed twice), %lld values missing, %zu shared revisions, %lld stale reads (%lld ms, "
      "%.0f commits/s)\n",
      kProcesses, kThreads, static_cast<long long>(attempts), static_cast<long long>(commits),
      static_cast<long long>(error_count), error_text.c_str(), static_cast<long long>(counter),
      static_cast<long long>(grew), static_cast<long long>(duplicated_values),
      static_cast<long long>(missing_values), shared_revisions, static_cast<long long>(stale_reads),
      static_cast<long long>(ms),
      ms > 0 ? 1000.0 * static_cast<double>(commits) / static_cast<double>(ms) : 0.0);
  std::fflush(stdout);

  CHECK(error_count == 0);
  CHECK(commits == attempts);
  CHECK(counter == commits);
  CHECK(static_cast<std::int64_t>(values.size()) == commits);
  CHECK(duplicated_values == 0);
  CHECK(missing_values == 0);
  CHECK(grew == static_cast<Revision>(commits));
  CHECK(shared_revisions == 0);
  CHECK(stale_reads == 0);
  // The second record of the transactions: each thread's app carries one of
  // the committed values.
  for (int p = 0; p < kProcesses; ++p) {
    for (int t = 0; t < kThreads; ++t) {
      const auto app = reg.apps().find("rmw-p" + std::to_string(p) + "-t" + std::to_string(t));
      REQUIRE(app.has_value());
      const std::int64_t v = app->meta.value("counter", std::int64_t{-1});
      CHECK(std::binary_search(values.begin(), values.end(), v));
    }
  }
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  reg.close();
  CHECK(test::query_value(path, "PRAGMA integrity_check") == "ok");
}
