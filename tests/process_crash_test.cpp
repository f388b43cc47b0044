// Process crash: every acknowledged write survives SIGKILL, and no
// transaction is ever partly there (DESIGN sections 2, 5 and 7: a commit is
// durable when it returns; synchronous=normal "may lose the last commits on
// power loss, never on a process crash").
//
// How: the test forks a writer child that opens the registry file through the
// public API and writes without end: single-record writes (config().save,
// apps().put) and multi-record transactions (a "group": 2 to 6 apps and one
// config entry that all carry the same generation number, through transact()
// or begin()/commit()); in the grouped mode, from 4 threads at once, so that
// commits are grouped (txn/store_context.h). After each commit returns, the child writes what it
// committed (revision, kind, slot, generation) to a pipe: that is the
// acknowledgement. The parent SIGKILLs the child after a random delay, reopens
// the file (with the library, and with raw sqlite3 for PRAGMA
// integrity_check), and checks:
//   - integrity_check says "ok", through both;
//   - every acknowledged transaction is there: its records exist with at least
//     its generation and revision, its revision is <= reg.revision(), and the
//     change log holds exactly its records under its revision;
//   - nothing acknowledged by earlier children was lost since (the file
//     accumulates history over all the kills of a mode);
//   - no group is partly written: all its records are present with one
//     generation, or none is;
//   - revisions only grow: a new child never reuses an acknowledged revision.
// Generations grow across the whole run, so "at least that generation" tells
// an acknowledged write from an older one.
//
// The parent forks while it has no registry open and no thread; the child
// never returns into doctest (it _exits). CAIRN_KILLS sets the kills per mode
// (default 200); CAIRN_SEED replays a run's operations and delays (where a
// delay lands still depends on the machine).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
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

constexpr int kSoloConfigs = 12;
constexpr int kSoloApps = 12;
constexpr int kGroups = 8;
constexpr int kMaxGroupApps = 6;
// A child that was not killed stops on its own after this many commits, so a
// broken kill cannot leave a writer running. Far more than one kill's worth.
constexpr std::int64_t kMaxCommitsPerChild = 200'000;
// The change log the checker keeps after each kill's checks (they read it
// first), so that the file, and the cost of integrity_check, stay small.
constexpr std::int64_t kRetainedRevisions = 200;

// The apps of group `slot`: 2 to 6, so that groups differ in size.
int group_apps(int slot) { return 2 + slot % (kMaxGroupApps - 1); }

std::string solo_config_key(int slot) { return "solo/config-" + std::to_string(slot); }
std::string solo_app_id(int slot) { return "solo-app-" + std::to_string(slot); }
std::string group_app_id(int slot, int i) {
  return "group-" + std::to_string(slot) + "/app-" + std::to_string(i);
}
std::string group_config_key(int slot) { return "group-" + std::to_string(slot) + "/config"; }

enum class WriteKind : std::int32_t { solo_config = 1, solo_app = 2, group = 3 };

// One acknowledged commit, as the child writes it to the pipe. Smaller than
// PIPE_BUF, so each write is atomic: the parent reads whole records only.
struct Ack {
  std::int64_t revision = 0;
  std::int64_t generation = 0;
  std::int32_t kind = 0;  // a WriteKind
  std::int32_t slot = 0;
};

// One seed for the whole run (both modes), so that CAIRN_SEED replays both.
std::uint64_t seed_from_env() {
  static const std::uint64_t seed = []() -> std::uint64_t {
    if (const char* s = std::getenv("CAIRN_SEED"); s != nullptr && *s != '\0') {
      return std::strtoull(s, nullptr, 10);
    }
    return static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  }();
  return seed;
}

int kills_from_env() {
  if (const char* s = std::getenv("CAIRN_KILLS"); s != nullptr && *s != '\0') {
    return std::max(1, std::atoi(s));
  }
  return 200;
}

cairn::Options options_for(cairn::Synchronous sync, const char* actor) {
  cairn::Options o;
  o.synchronous = sync;
  o.actor = actor;
  return o;
}

// Filler that makes records span pages and the WAL reach checkpoints, so that
// kills also land in checkpoints and page splits.
std::string padding(std::mt19937_64& random) {
  const auto n = std::uniform_int_distribution<std::size_t>(0, 600)(random);
  return std::string(n, static_cast<char>('a' + n % 26));
}

void write_ack(int fd, const Ack& ack) {
  const char* p = reinterpret_cast<const char*>(&ack);
  std::size_t left = sizeof ack;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(3);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

Revision write_group(Registry& reg, int slot, std::int64_t gen, std::mt19937_64& random) {
  auto write = [&](cairn::Tx& tx) {
    Revision rev = 0;
    for (int i = 0; i < group_apps(slot); ++i) {
      cairn::App app;
      app.id = group_app_id(slot, i);
      app.pools = {"group-pool-" + std::to_string(slot)};
      app.meta = {{"gen", gen}, {"pad", padding(random)}};
      rev = tx.apps().put(app).revision;
    }
    tx.config().save(group_config_key(slot), {{"gen", gen}, {"apps", group_apps(slot)}});
    return rev;
  };
  // Both ways of writing a transaction: the helper, and the guard.
  if (gen % 2 == 0) return reg.transact(write);
  cairn::Tx tx = reg.begin();
  const Revision rev = write(tx);
  tx.commit();
  return rev;
}

// One writer thread of the child: writes until killed, acknowledging every
// commit on `ack_fd`. With several threads, thread `t` of `threads` writes
// only the slots s with s % threads == t, so that each slot's generations
// still grow in commit order; generations come from one counter.
void write_until_killed(Registry& reg, std::uint64_t seed, std::atomic<std::int64_t>& next_gen,
                        std::int64_t last_gen, int t, int threads, int ack_fd) {
  std::mt19937_64 random(seed);
  auto slot_of = [&](int slots) {
    const int mine = (slots - t + threads - 1) / threads;  // slots t, t + threads, ...
    return t + threads * std::uniform_int_distribution<int>(0, mine - 1)(random);
  };
  for (std::int64_t gen = next_gen++; gen < last_gen; gen = next_gen++) {
    Ack ack;
    ack.generation = gen;
    const auto dice = std::uniform_int_distribution<int>(0, 99)(random);
    if (dice < 35) {
      ack.kind = static_cast<std::int32_t>(WriteKind::solo_config);
      ack.slot = slot_of(kSoloConfigs);
      ack.revision =
          reg.config()
              .save(solo_config_key(ack.slot), {{"gen", gen}, {"pad", padding(random)}})
              .revision;
    } else if (dice < 60) {
      ack.kind = static_cast<std::int32_t>(WriteKind::solo_app);
      ack.slot = slot_of(kSoloApps);
      cairn::App app;
      app.id = solo_app_id(ack.slot);
      app.meta = {{"gen", gen}, {"pad", padding(random)}};
      ack.revision = reg.apps().put(app).revision;
    } else {
      ack.kind = static_cast<std::int32_t>(WriteKind::group);
      ack.slot = slot_of(kGroups);
      ack.revision = write_group(reg, ack.slot, gen, random);
    }
    write_ack(ack_fd, ack);
  }
}

// Runs in the forked child: `threads` writer threads (more than one: their
// commits are grouped) write until killed. Exits 0 after kMaxCommitsPerChild
// commits (the parent counts that as a failure to kill), 1 on an error
// (printed on stderr). Never returns.
[[noreturn]] void writer_child(const fs::path& path, cairn::Synchronous sync, std::uint64_t seed,
                               std::int64_t first_gen, int threads, int ack_fd) {
  std::atomic<int> status{0};
  try {
    Registry reg = Registry::open(path, options_for(sync, "crash-writer"));
    std::atomic<std::int64_t> next_gen{first_gen};
    const std::int64_t last_gen = first_gen + kMaxCommitsPerChild;
    auto run = [&](int t) {
      try {
        write_until_killed(reg, seed + static_cast<std::uint64_t>(t), next_gen, last_gen, t,
                           threads, ack_fd);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "process crash writer %d: %s\n", t, e.what());
        status = 1;
      }
    };
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t) others.emplace_back(run, t);
    run(0);
    for (auto& other : others) other.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "process crash writer: %s\n", e.what());
    status = 1;
  }
  ::_exit(status.load());
}

// A record as the parent finds it.
struct Found {
  std::int64_t gen = -1;
  Revision revision = 0;
};

// What the parent finds in the file after a kill.
struct Snapshot {
  std::map<std::string, Found> apps;
  std::map<std::string, Found> configs;
  Revision revision = 0;
  std::int64_t highest_gen = 0;
};

std::int64_t gen_of(const json& j) {
  return j.is_object() && j.contains("gen") && j["gen"].is_number_integer()
             ? j["gen"].get<std::int64_t>()
             : -1;
}

Snapshot snapshot(Registry& reg) {
  Snapshot s;
  for (const auto& app : reg.apps().list()) {
    s.apps[app.id] = Found{gen_of(app.meta), app.revision};
    s.highest_gen = std::max(s.highest_gen, gen_of(app.meta));
  }
  for (const auto& entry : reg.config().list()) {
    s.configs[entry.key] = Found{gen_of(entry.value), entry.revision};
    s.highest_gen = std::max(s.highest_gen, gen_of(entry.value));
  }
  s.revision = reg.revision();
  return s;
}

// Empty when the acknowledged write `ack` is in the snapshot (or a later
// write of the same records is), else what is missing.
std::string missing(const Snapshot& s, const Ack& ack) {
  auto check = [&](const std::map<std::string, Found>& records,
                   const std::string& key) -> std::string {
    const auto it = records.find(key);
    if (it == records.end()) return key + " is gone";
    if (it->second.gen < ack.generation || it->second.revision < ack.revision) {
      return key + " has generation " + std::to_string(it->second.gen) + ", revision " +
             std::to_string(it->second.revision) + "; acknowledged " +
             std::to_string(ack.generation) + " at revision " + std::to_string(ack.revision);
    }
    return {};
  };
  if (ack.revision > s.revision) {
    return "acknowledged revision " + std::to_string(ack.revision) + " > reg.revision() " +
           std::to_string(s.revision);
  }
  switch (static_cast<WriteKind>(ack.kind)) {
    case WriteKind::solo_config:
      return check(s.configs, solo_config_key(ack.slot));
    case WriteKind::solo_app:
      return check(s.apps, solo_app_id(ack.slot));
    case WriteKind::group: {
      for (int i = 0; i < group_apps(ack.slot); ++i) {
        if (auto m = check(s.apps, group_app_id(ack.slot, i)); !m.empty()) return m;
      }
      return check(s.configs, group_config_key(ack.slot));
    }
  }
  return "unknown acknowledgement kind " + std::to_string(ack.kind);
}

// The change log from revision `from` on: revision -> the ids changed in it.
using LogIds = std::map<Revision, std::vector<std::string>>;

LogIds log_ids_from(const Registry& reg, Revision from) {
  LogIds out;
  for (const auto& e : reg.changes(from)) out[e.revision].push_back(e.id);
  return out;
}

// Empty when the change log holds exactly the records of `ack` under its
// revision (a later write may have replaced the records, never the log).
std::string log_mismatch(const LogIds& log, const Ack& ack) {
  std::vector<std::string> want;
  switch (static_cast<WriteKind>(ack.kind)) {
    case WriteKind::solo_config:
      want = {solo_config_key(ack.slot)};
      break;
    case WriteKind::solo_app:
      want = {solo_app_id(ack.slot)};
      break;
    case WriteKind::group:
      for (int i = 0; i < group_apps(ack.slot); ++i) want.push_back(group_app_id(ack.slot, i));
      want.push_back(group_config_key(ack.slot));
      break;
  }
  std::vector<std::string> got;
  if (auto it = log.find(ack.revision); it != log.end()) got = it->second;
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  if (got == want) return {};
  std::string text = "change log at revision " + std::to_string(ack.revision) + " has [";
  for (const auto& id : got) text += id + " ";
  return text + "], want " + std::to_string(want.size()) + " records";
}

// Empty when every group is whole (all its records, one generation) or absent.
std::string partial_groups(const Snapshot& s) {
  std::string problems;
  for (int slot = 0; slot < kGroups; ++slot) {
    std::vector<std::string> present;
    std::vector<std::int64_t> gens;
    int absent = 0;
    auto look = [&](const std::map<std::string, Found>& records, const std::string& key) {
      if (auto it = records.find(key); it != records.end()) {
        present.push_back(key);
        gens.push_back(it->second.gen);
      } else {
        ++absent;
      }
    };
    for (int i = 0; i < group_apps(slot); ++i) look(s.apps, group_app_id(slot, i));
    look(s.configs, group_config_key(slot));
    const bool one_gen =
        std::adjacent_find(gens.begin(), gens.end(), std::not_equal_to<>()) == gens.end();
    if ((absent > 0 && !present.empty()) || !one_gen) {
      problems += "group " + std::to_string(slot) + ": " + std::to_string(present.size()) +
                  " records present, " + std::to_string(absent) + " absent, generations";
      for (auto g : gens) problems += " " + std::to_string(g);
      problems += "; ";
    }
  }
  // A group app beyond the group's size would be a record from nowhere.
  for (int slot = 0; slot < kGroups; ++slot) {
    if (s.apps.count(group_app_id(slot, group_apps(slot))) != 0) {
      problems += "group " + std::to_string(slot) + " has an extra app; ";
    }
  }
  return problems;
}

// PRAGMA integrity_check through a plain sqlite3 connection: read-write when
// it is the first to open the file after a kill (it then recovers the WAL),
// read-only after the library has.
std::vector<std::string> raw_integrity_check(const fs::path& path, int flags) {
  std::vector<std::string> out;
  for (const auto& row : test::detail::with_db(path, flags, "PRAGMA integrity_check")) {
    out.push_back(row.empty() ? "" : row.front());
  }
  return out;
}

struct Totals {
  int kills = 0;
  std::int64_t acks_checked = 0;
  int lost = 0;            // acknowledged writes missing (this kill's or older)
  int log_mismatches = 0;  // change log rows of an acknowledged revision wrong
  int partial = 0;         // kills after which some group was partly written
  int integrity_failures = 0;
  int revision_reuse = 0;            // an acknowledged revision not above the previous one
  int child_errors = 0;              // children that failed or stopped on their own
  int before_first_ack = 0;          // kills that landed before the child's first commit
  std::vector<std::string> reports;  // the first problems, for the log

  void report(int kill, const std::string& what) {
    if (reports.size() < 20) reports.push_back("kill " + std::to_string(kill) + ": " + what);
  }
};

// Reads every acknowledgement from `fd` until the writer's end is closed.
std::vector<Ack> read_acks(int fd) {
  std::vector<Ack> acks;
  std::string bytes;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  for (std::size_t at = 0; at + sizeof(Ack) <= bytes.size(); at += sizeof(Ack)) {
    Ack ack;
    std::memcpy(&ack, bytes.data() + at, sizeof ack);
    acks.push_back(ack);
  }
  return acks;
}

// Reads exactly one acknowledgement; false at EOF (the child died first) or
// when none comes within a minute (a hung child: the kill comes next anyway).
bool read_one_ack(int fd, Ack& ack) {
  pollfd ready{fd, POLLIN, 0};
  if (::poll(&ready, 1, 60'000) != 1) return false;
  char* p = reinterpret_cast<char*>(&ack);
  std::size_t got = 0;
  while (got < sizeof ack) {
    const ssize_t n = ::read(fd, p + got, sizeof ack - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

struct Child {
  pid_t pid = -1;
  int ack_fd = -1;
};

// Not test::ForkedChild: the loop kills the writer at a chosen moment and
// counts how each one ended from its raw wait status.
Child start_writer(const fs::path& path, cairn::Synchronous sync, std::uint64_t seed,
                   std::int64_t first_gen, int threads) {
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  ::fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);  // a child never waits on the parent; best effort
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    writer_child(path, sync, seed, first_gen, threads, fds[1]);
  }
  ::close(fds[1]);
  return Child{pid, fds[0]};
}

// How long a child takes from fork to its first acknowledged commit, the
// median of three: the kills are spread over that plus a writing window.
std::int64_t first_ack_us(const fs::path& path, cairn::Synchronous sync, int threads) {
  std::vector<std::int64_t> times;
  for (int i = 0; i < 3; ++i) {
    const auto started = std::chrono::steady_clock::now();
    Child child = start_writer(path, sync, 1, 1, threads);
    Ack ack;
    const ssize_t n = ::read(child.ack_fd, &ack, sizeof ack);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    ::kill(child.pid, SIGKILL);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    ::close(child.ack_fd);
    REQUIRE(n == static_cast<ssize_t>(sizeof ack));
    times.push_back(us);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
  std::sort(times.begin(), times.end());
  return times[1];
}

// `threads` writer threads in each child: with more than one, the kills land
// in grouped commits too.
void run_crash_loop(cairn::Synchronous sync, const char* mode, int threads = 1) {
  const std::uint64_t seed = seed_from_env();
  const int kills = kills_from_env();
  std::printf("process crash (%s): seed %llu (CAIRN_SEED=%llu replays it), %d kills\n", mode,
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), kills);
  std::fflush(stdout);
  CAPTURE(seed);
  std::mt19937_64 random(seed);

  test::TempDir dir;
  const fs::path path = dir / "crash.db";
  // One kill in eight lands while the child opens the registry (anywhere from
  // the fork to its usual first commit); the others land up to 15 ms after the
  // child's first commit, wherever that falls on a slow or busy machine: a few
  // commits under synchronous=full (each waits for fsync), tens under normal.
  const std::int64_t open_us = first_ack_us(path, sync, threads);
  constexpr std::int64_t kWritingUs = 15'000;

  Totals t;
  std::map<std::pair<std::int32_t, std::int32_t>, Ack> latest;  // (kind, slot) -> last ack
  Revision last_acked_revision = 0;
  std::int64_t next_gen = 1;

  const auto started = std::chrono::steady_clock::now();
  for (int kill = 0; kill < kills; ++kill) {
    const std::uint64_t child_seed = random();
    const bool during_open = random() % 8 == 0;
    const auto delay =
        std::uniform_int_distribution<std::int64_t>(0, during_open ? open_us : kWritingUs)(random);
    Child child = start_writer(path, sync, child_seed, next_gen, threads);
    std::vector<Ack> acks;
    if (!during_open) {
      // Blocks until the first commit, or until the child dies (EOF).
      Ack first;
      if (read_one_ack(child.ack_fd, first)) acks.push_back(first);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay));
    ::kill(child.pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child.pid, &status, 0) == child.pid);
    for (const Ack& ack : read_acks(child.ack_fd)) acks.push_back(ack);
    ::close(child.ack_fd);
    // Threads acknowledge in the order they wake, not in revision order.
    std::sort(acks.begin(), acks.end(),
              [](const Ack& a, const Ack& b) { return a.revision < b.revision; });
    ++t.kills;
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      ++t.child_errors;
      t.report(kill, "the writer ended on its own (status " + std::to_string(status) + ")");
    }
    if (acks.empty()) ++t.before_first_ack;

    // Raw sqlite3 recovers the file first on even kills, the library on odd
    // ones: both must find it sound whoever gets there first.
    bool integrity_ok = true;
    if (kill % 2 == 0) {
      integrity_ok =
          raw_integrity_check(path, SQLITE_OPEN_READWRITE) == std::vector<std::string>{"ok"};
    }

    Snapshot s;
    {
      cairn::Options checker = options_for(sync, "crash-checker");
      checker.change_log_max_revisions = kRetainedRevisions;
      Registry reg = Registry::open(path, checker);
      if (reg.integrity_check() != std::vector<std::string>{"ok"}) integrity_ok = false;
      s = snapshot(reg);
      const LogIds log = acks.empty() ? LogIds{} : log_ids_from(reg, acks.front().revision);
      for (const Ack& ack : acks) {
        ++t.acks_checked;
        if (ack.revision <= last_acked_revision) {
          ++t.revision_reuse;
          t.report(kill, "acknowledged revision " + std::to_string(ack.revision) +
                             " after revision " + std::to_string(last_acked_revision));
        }
        last_acked_revision = std::max(last_acked_revision, ack.revision);
        if (auto m = log_mismatch(log, ack); !m.empty()) {
          ++t.log_mismatches;
          t.report(kill, m);
        }
        if (auto m = missing(s, ack); !m.empty()) {
          ++t.lost;
          t.report(kill, "lost: " + m);
        } else {
          latest[{ack.kind, ack.slot}] = ack;
        }
      }
      // The change log would grow by every commit of every kill, and with it
      // the cost of each check: keep the newest revisions only (the checks
      // above read this kill's revisions, which retention keeps).
      reg.compact_change_log();
    }  // closed: no registry is open at the next fork

    if (kill % 2 == 1) {
      integrity_ok = integrity_ok && raw_integrity_check(path, SQLITE_OPEN_READONLY) ==
                                         std::vector<std::string>{"ok"};
    }
    if (!integrity_ok) {
      ++t.integrity_failures;
      t.report(kill, "integrity_check is not ok");
    }
    // What earlier children had acknowledged is still there. (A loss is
    // counted once: the lost acknowledgement is then forgotten.)
    for (auto it = latest.begin(); it != latest.end();) {
      if (auto m = missing(s, it->second); !m.empty()) {
        ++t.lost;
        t.report(kill, "lost since an earlier kill: " + m);
        it = latest.erase(it);
      } else {
        ++it;
      }
    }
    if (auto p = partial_groups(s); !p.empty()) {
      ++t.partial;
      t.report(kill, "partly written: " + p);
    }
    std::int64_t highest = s.highest_gen;
    for (const Ack& ack : acks) highest = std::max(highest, ack.generation);
    next_gen = std::max(next_gen, highest + 1);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();

  for (const auto& r : t.reports) std::printf("process crash (%s): %s\n", mode, r.c_str());
  std::printf(
      "process crash (%s): %d kills, %lld acknowledged txs checked, %d lost, %d partial, %d "
      "integrity failures, %d change-log mismatches, %d reused revisions, %d child errors; "
      "%d kills before the first commit, last revision %lld, first commit after %lld ms "
      "(%lld ms, seed %llu)\n",
      mode, t.kills, static_cast<long long>(t.acks_checked), t.lost, t.partial,
      t.integrity_failures, t.log_mismatches, t.revision_reuse, t.child_errors, t.before_first_ack,
      static_cast<long long>(last_acked_revision), static_cast<long long>(open_us / 1000),
      static_cast<long long>(ms), static_cast<unsigned long long>(seed));
  std::fflush(stdout);

  CHECK(t.lost == 0);
  CHECK(t.partial == 0);
  CHECK(t.integrity_failures == 0);
  CHECK(t.log_mismatches == 0);
  CHECK(t.revision_reuse == 0);
  CHECK(t.child_errors == 0);
  // Vacuous if no kill lands while the writer commits: most do, by design.
  if (kills >= 20) CHECK(t.acks_checked > 0);
  if (kills >= 20) CHECK(t.before_first_ack < kills);
}

}  // namespace

TEST_CASE("process crash: every acknowledged write survives SIGKILL (synchronous=full)") {
  run_crash_loop(cairn::Synchronous::full, "full");
}

TEST_CASE("process crash: every acknowledged write survives SIGKILL (synchronous=normal)") {
  run_crash_loop(cairn::Synchronous::normal, "normal");
}

TEST_CASE("process crash: grouped commits of 4 writer threads survive SIGKILL (synchronous=full)") {
  run_crash_loop(cairn::Synchronous::full, "full, 4 threads", 4);
}
