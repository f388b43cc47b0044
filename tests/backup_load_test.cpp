// Online backup under load (DESIGN.md section 9): four writers (three threads
// of this process and one other process on the same file) commit one record
// per transaction while this process takes 20 backups (CAIRN_BACKUPS, at least
// 2; the ThreadSanitizer run takes fewer). Every backup, restored, must be
// sound, hold every transaction acknowledged before it started, and hold of
// each writer's sequence a prefix without gaps: one consistent snapshot,
// never a mix of moments.
//
// The other process is forked before this one starts any thread or opens any
// database (SQLite state must not cross a fork). It reports its acknowledged
// sequence numbers through a shared anonymous mapping and stops at EOF on a
// pipe.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::errc;
using cairn::Registry;
using nlohmann::json;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int kThreadWriters = 3;
constexpr int kWriters = kThreadWriters + 1;  // writer 3 is the other process
constexpr int kBaseApps = 2000;
// Writers pace themselves, and write at most this many records per backup
// begun, so that the registry stays small enough to back up and restore 20
// times under the sanitizers too.
constexpr std::int64_t kRecordsPerBackup = 400;
constexpr auto kPause = std::chrono::microseconds(200);

int backup_count() {
  if (const char* s = std::getenv("CAIRN_BACKUPS"); s != nullptr && *s != '\0') {
    return std::max(2, std::atoi(s));
  }
  return 20;
}

cairn::Options options(std::string actor) {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.actor = std::move(actor);
  return o;
}

std::string record_id(int writer, std::int64_t seq) {
  return "w" + std::to_string(writer) + "-" + std::to_string(seq);
}

// The last sequence number each writer saw acknowledged (-1: none yet). In a
// shared mapping, so that the forked writer's count is seen here.
struct Acks {
  std::array<std::atomic<std::int64_t>, kWriters> last;
  std::array<std::atomic<std::int64_t>, kWriters> busy_retries;
  std::atomic<std::int64_t> backups_begun;
};
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

Acks* map_shared_acks() {
  void* p =
      ::mmap(nullptr, sizeof(Acks), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  Acks* acks = new (p) Acks;
  for (auto& a : acks->last) a = -1;
  for (auto& b : acks->busy_retries) b = 0;
  acks->backups_begun = 0;
  return acks;
}

// One record per transaction, seq 0, 1, 2... A busy write lock (the other
// process) is retried with the same seq: nothing of it was committed.
void write_one(Registry& reg, int writer, std::int64_t seq, Acks& acks) {
  cairn::App a;
  a.id = record_id(writer, seq);
  a.meta = json{{"writer", writer}, {"seq", seq}, {"pad", std::string(200, 'x')}};
  for (;;) {
    try {
      reg.apps().put(a);
      break;
    } catch (const cairn::Error& e) {
      if (e.code_value() != errc::busy) throw;
      acks.busy_retries[static_cast<std::size_t>(writer)].fetch_add(1);
    }
  }
  acks.last[static_cast<std::size_t>(writer)].store(seq);
}

// Between two writes: a short pause, and a longer one while the writer is
// ahead of the backups.
void pace(std::int64_t next_seq, const Acks& acks, const std::function<bool()>& stopping) {
  std::this_thread::sleep_for(kPause);
  while (next_seq >= kRecordsPerBackup * (acks.backups_begun.load() + 1) && !stopping()) {
    std::this_thread::sleep_for(1ms);
  }
}

bool stop_requested(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;  // EOF (or anything) on the pipe
}

// The forked writer: waits for 'g', then commits until EOF on `fd`.
int run_process_writer(const fs::path& db, int fd, Acks& acks) noexcept {
  try {
    if (!test::read_byte(fd)) return 3;  // the test gave up before starting
    Registry reg = Registry::open(db, options("process-writer"));
    const auto stopping = [fd] { return stop_requested(fd); };
    for (std::int64_t seq = 0; !stopping(); ++seq) {
      write_one(reg, kThreadWriters, seq, acks);
      pace(seq + 1, acks, stopping);
    }
    reg.close();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "process writer: %s\n", e.what());
    return 1;
  } catch (...) {
    return 1;
  }
}

struct TakenBackup {
  cairn::BackupInfo info;
  std::array<std::int64_t, kWriters> acked_before{};  // acknowledged before it started
  std::array<std::int64_t, kWriters> acked_after{};   // acknowledged once it returned
};

}  // namespace

TEST_CASE(
    "backup under load: every backup is one consistent snapshot with every acknowledged write") {
  const auto started = std::chrono::steady_clock::now();
  test::TempDir dir;
  const fs::path db = dir / "live.db";
  {
    Registry reg = Registry::open(db, options("setup"));
    reg.transact([&](cairn::Tx& tx) {
      for (int i = 0; i < kBaseApps; ++i) {
        cairn::App a;
        a.id = "base-" + std::to_string(i);
        a.meta = json{{"pad", std::string(1000, 'b')}};
        tx.apps().put(a);
      }
    });
  }
  Acks& acks = *map_shared_acks();

  // ---- the other process, forked while this one is single-threaded ----
  test::ForkedChild process_writer(
      [&](int control, int) { return run_process_writer(db, control, acks); });

  // ---- the thread writers ----
  Registry reg = Registry::open(db, options("main"));
  std::atomic<bool> stop{false};
  std::mutex failures_mu;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreadWriters; ++w) {
    threads.emplace_back([&, w] {
      try {
        const auto stopping = [&stop] { return stop.load(); };
        for (std::int64_t seq = 0; !stopping(); ++seq) {
          write_one(reg, w, seq, acks);
          pace(seq + 1, acks, stopping);
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(failures_mu);
        failures.push_back("writer " + std::to_string(w) + ": " + e.what());
      }
    });
  }
  struct JoinGuard {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~JoinGuard() {
      stop = true;
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } join_guard{stop, threads};
  process_writer.go();

  // Every writer has made progress before the first backup (bounded wait).
  const auto all_started = [&] {
    for (const auto& a : acks.last) {
      if (a.load() < 10) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!all_started() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE_MESSAGE(all_started(), "a writer made no progress");

  // ---- the backups, while everyone writes ----
  std::vector<TakenBackup> taken;
  const int backups = backup_count();
  for (int b = 0; b < backups; ++b) {
    TakenBackup t;
    for (std::size_t w = 0; w < kWriters; ++w) t.acked_before[w] = acks.last[w].load();
    acks.backups_begun = b + 1;  // the writers go on during the backup
    cairn::BackupOptions bo;
    bo.pages_per_step = b % 2 == 0 ? 16 : 4096;  // many steps, or one, under the writers
    t.info = reg.backup(dir / "backups" / ("b" + std::to_string(b) + ".db"), bo);
    for (std::size_t w = 0; w < kWriters; ++w) t.acked_after[w] = acks.last[w].load();
    taken.push_back(t);
    std::this_thread::sleep_for(20ms);
  }

  stop = true;
  for (auto& t : threads) t.join();
  process_writer.close_input();
  const int exit_code = process_writer.wait();
  CHECK(exit_code != -1);  // exited, not killed by a signal or hung
  CHECK(exit_code == 0);
  {
    std::lock_guard lock(failures_mu);
    CHECK(failures.empty());
    for (const auto& f : failures) MESSAGE(f);
  }
  reg.close();

  // ---- each backup, restored, is one consistent snapshot ----
  std::size_t min_records = SIZE_MAX, max_records = 0;
  for (int b = 0; b < backups; ++b) {
    const TakenBackup& t = taken[static_cast<std::size_t>(b)];
    CAPTURE(b);
    const fs::path restored = dir / "scratch" / ("r" + std::to_string(b) + ".db");
    const cairn::RestoreResult result = cairn::restore(t.info.path, restored);
    CHECK(result.last_revision == t.info.last_revision);
    CHECK(test::query_value(restored, "PRAGMA integrity_check") == "ok");

    std::array<std::set<std::int64_t>, kWriters> seqs;
    std::size_t base = 0, records = 0, strangers = 0;
    for (const auto& row : test::query(restored, "SELECT id FROM apps")) {
      const std::string& id = row.at(0);
      ++records;
      int w = -1;
      long long seq = -1;
      if (id.starts_with("base-")) {
        ++base;
      } else if (std::sscanf(id.c_str(), "w%d-%lld", &w, &seq) == 2 && w >= 0 && w < kWriters &&
                 record_id(w, seq) == id) {
        seqs[static_cast<std::size_t>(w)].insert(seq);
      } else {
        ++strangers;
      }
    }
    CHECK(base == static_cast<std::size_t>(kBaseApps));
    CHECK(strangers == 0);
    for (std::size_t w = 0; w < kWriters; ++w) {
      CAPTURE(w);
      const std::int64_t k = seqs[w].empty() ? -1 : *seqs[w].rbegin();
      // 0..k, without a gap.
      CHECK(static_cast<std::int64_t>(seqs[w].size()) == k + 1);
      // Everything acknowledged before the backup started is in it...
      CHECK(k >= t.acked_before[w]);
      // ...and nothing beyond what was committed by the time it returned (a
      // writer may have committed one more that it had not yet counted).
      CHECK(k <= t.acked_after[w] + 1);
    }
    min_records = std::min(min_records, records);
    max_records = std::max(max_records, records);
    fs::remove(restored);
  }
  // Writers went on between the backups: they did not all see the same state.
  CHECK(max_records > min_records);
  // ...and during them: the copies were taken under concurrent commits.
  int overlapped = 0;
  for (const auto& t : taken) {
    for (std::size_t w = 0; w < kWriters; ++w) {
      if (t.acked_after[w] > t.acked_before[w]) {
        ++overlapped;
        break;
      }
    }
  }
  CHECK(overlapped > 0);

  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "backup load: %d backups under %d writers (%d threads + 1 process), %d of them with "
      "commits while they ran, records per backup min %zu max %zu, writes per writer "
      "%lld/%lld/%lld/%lld, busy retries %lld, %.1f s\n",
      backups, kWriters, kThreadWriters, overlapped, min_records, max_records,
      static_cast<long long>(acks.last[0].load() + 1),
      static_cast<long long>(acks.last[1].load() + 1),
      static_cast<long long>(acks.last[2].load() + 1),
      static_cast<long long>(acks.last[3].load() + 1),
      static_cast<long long>(acks.busy_retries[0] + acks.busy_retries[1] + acks.busy_retries[2] +
                             acks.busy_retries[3]),
      seconds);
  ::munmap(&acks, sizeof(Acks));
}
