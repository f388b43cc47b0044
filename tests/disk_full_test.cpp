// Real disk full: a transaction that cannot be written because the file may
// not grow fails with errc::disk_full, publishes nothing, keeps nothing of
// itself, damages nothing written before, and the registry writes again as
// soon as there is room (DESIGN sections 2 and 10).
//
// How: "the disk" is RLIMIT_FSIZE, the largest size a process may give a file,
// which makes write() fail with EFBIG exactly where a full disk fails with
// ENOSPC, on a real file and with no privileges. A forked child (the limit and
// the ignored SIGXFSZ must not touch the test runner) opens a registry, writes
// a few records, subscribes to every event, lowers the limit to a little above
// the current database + WAL size, then commits multi-record transactions
// (4 config values of 32 KiB and an app each) until one fails. It checks what
// a user relies on, raises the limit back, retries the failed transaction, and
// reports everything as one JSON object on a pipe; the parent asserts on it.
// Every scenario runs twice: on a freshly created file, then again after
// closing and reopening it.
//
// Two places where a write can fail, both covered: at COMMIT (the default
// page cache holds the whole transaction until then), and in the middle of the
// transaction (a tiny page cache spills pages to the WAL while the
// transaction still writes).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::Registry;
using cairn::Revision;
using nlohmann::json;

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kValueBytes = 32 * 1024;
constexpr int kValuesPerTx = 4;
constexpr int kMaxRounds = 2000;                 // far more than the headroom holds
constexpr std::int64_t kHeadroom = 1024 * 1024;  // the limit, above database + WAL

// Where the failing write happens.
enum class Spill { at_commit, mid_transaction };

cairn::Options options_for(Spill spill) {
  cairn::Options o;  // synchronous=full: the default a server runs with
  o.actor = "disk-full";
  // 40 KiB of page cache (10 pages): a transaction of 4 x 32 KiB spills to the WAL while
  // it writes. The default (64 MiB) keeps it in memory until COMMIT.
  if (spill == Spill::mid_transaction) o.cache_size_kib = 40;
  return o;
}

std::string value_text(int round, int j) {
  std::string text(kValueBytes, static_cast<char>('a' + (round + j) % 26));
  const std::string tag = "round " + std::to_string(round) + " value " + std::to_string(j);
  text.replace(0, tag.size(), tag);
  return text;
}

std::vector<std::string> round_keys(const std::string& prefix, int round) {
  std::vector<std::string> keys;
  for (int j = 0; j < kValuesPerTx; ++j) {
    keys.push_back(prefix + "/round-" + std::to_string(round) + "/value-" + std::to_string(j));
  }
  return keys;
}

std::string round_app(const std::string& prefix, int round) {
  return prefix + "-app-" + std::to_string(round);
}

std::int64_t bytes_of(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : static_cast<std::int64_t>(n);
}

// What was written and acknowledged: key -> the record's JSON image.
struct Written {
  std::map<std::string, json> configs;
  std::map<std::string, json> apps;
};

// Writes round `round` of `prefix` in one transaction, through begin() and
// commit() so that the caller knows which of the two threw (`at_commit`).
Revision write_round(Registry& reg, const std::string& prefix, int round, Written& written,
                     bool& at_commit) {
  at_commit = false;
  cairn::Tx tx = reg.begin();
  std::vector<cairn::ConfigEntry> entries;
  for (int j = 0; j < kValuesPerTx; ++j) {
    entries.push_back(tx.config().save(round_keys(prefix, round)[static_cast<std::size_t>(j)],
                                       json{{"round", round}, {"text", value_text(round, j)}}));
  }
  cairn::App app;
  app.id = round_app(prefix, round);
  app.meta = {{"round", round}};
  app.pools = {"disk-full-pool"};
  const cairn::App stored = tx.apps().put(app);
  at_commit = true;
  tx.commit();
  for (const auto& e : entries) written.configs[e.key] = test::image(e);
  written.apps[stored.id] = test::image(stored);
  return stored.revision;
}

// The keys whose records differ from (or are missing against) what was written.
std::vector<std::string> damaged(Registry& reg, const Written& written) {
  std::vector<std::string> out;
  for (const auto& [key, image] : written.configs) {
    const auto found = reg.config().find(key);
    if (!found || test::image(*found) != image) out.push_back(key);
  }
  for (const auto& [id, image] : written.apps) {
    const auto found = reg.apps().find(id);
    if (!found || test::image(*found) != image) out.push_back(id);
  }
  return out;
}

// One scenario on an open registry: lower the limit, write until a round
// fails, check, raise the limit, retry. Returns the findings.
json fill_until_full(Registry& reg, const fs::path& path, const std::string& prefix,
                     Written& written) {
  json r;
  std::mutex mu;
  std::vector<std::pair<Revision, std::string>> events;  // (revision, id) delivered
  cairn::Subscription sub = reg.subscribe(cairn::Filter{}, [&](std::span<const cairn::Event> es) {
    std::lock_guard lock(mu);
    for (const auto& e : es) events.emplace_back(e.revision, e.id);
  });

  rlimit original{};
  ::getrlimit(RLIMIT_FSIZE, &original);
  const std::int64_t db_bytes = bytes_of(path);
  const std::int64_t wal_bytes = bytes_of(path.string() + "-wal");
  const std::int64_t limit = db_bytes + wal_bytes + kHeadroom;
  r["database_bytes"] = db_bytes;
  r["wal_bytes"] = wal_bytes;
  r["limit"] = limit;
  rlimit low = original;
  low.rlim_cur = static_cast<rlim_t>(limit);
  if (::setrlimit(RLIMIT_FSIZE, &low) != 0) {
    r["setup_error"] = std::string("setrlimit: ") + std::strerror(errno);
    return r;
  }

  Revision before = reg.revision();
  int round = 0;
  bool at_commit = false;
  std::optional<cairn::Error> failure;
  for (; round < kMaxRounds; ++round) {
    before = reg.revision();
    try {
      write_round(reg, prefix, round, written, at_commit);
    } catch (const cairn::Error& e) {
      failure = e;
      break;
    } catch (const std::exception& e) {
      r["other_exception"] = e.what();
      break;
    }
  }
  r["rounds_committed"] = round;
  r["failed"] = failure.has_value();
  if (failure) {
    r["code"] = cairn::to_string(failure->code_value());
    r["message"] = failure->what();
    r["sqlite_code"] = failure->sqlite_code();
    r["failed_in"] = at_commit ? "commit" : "write";
  }
  r["wal_bytes_at_failure"] = bytes_of(path.string() + "-wal");

  // While the limit still holds: nothing of the failed round, everything before.
  const std::vector<std::string> failed_keys = round_keys(prefix, round);
  const std::string failed_app = round_app(prefix, round);
  auto failed_round_present = [&] {
    json present = json::array();
    for (const auto& k : failed_keys) {
      if (reg.config().find(k)) present.push_back(k);
    }
    if (reg.apps().find(failed_app)) present.push_back(failed_app);
    return present;
  };
  r["revision_before"] = before;
  r["revision_after_failure"] = reg.revision();
  r["failed_round_present_while_full"] = failed_round_present();
  r["damaged_while_full"] = damaged(reg, written);

  // Room again: the soft limit goes back up to what it was.
  if (::setrlimit(RLIMIT_FSIZE, &original) != 0) {
    r["setup_error"] = std::string("setrlimit back: ") + std::strerror(errno);
    return r;
  }
  try {
    const Revision retried = write_round(reg, prefix, round, written, at_commit);
    r["retry_revision"] = retried;
    r["wait_for_retry"] = reg.wait_for(retried);
  } catch (const std::exception& e) {
    r["retry_error"] = e.what();
  }
  r["damaged_after"] = damaged(reg, written);
  r["integrity"] = reg.integrity_check();

  // Events of the failed round's records: only those of the retry's commit.
  json stray = json::array();
  int retry_events = 0;
  {
    std::lock_guard lock(mu);
    for (const auto& [rev, id] : events) {
      const bool of_failed_round =
          id == failed_app ||
          std::find(failed_keys.begin(), failed_keys.end(), id) != failed_keys.end();
      if (!of_failed_round) continue;
      if (r.contains("retry_revision") && rev == r["retry_revision"].get<Revision>()) {
        ++retry_events;
      } else {
        stray.push_back(std::to_string(rev) + " " + id);
      }
    }
  }
  r["events_of_failed_round"] = stray;
  r["retry_events"] = retry_events;
  return r;
}

// The whole scenario, twice (fresh, then reopened), in a forked child. The
// JSON report goes to `fd`. Never returns.
[[noreturn]] void disk_full_child(const fs::path& path, Spill spill, int fd) {
  json report;
  int status = 0;
  try {
    // Without this, the kernel kills a process that writes past RLIMIT_FSIZE.
    ::signal(SIGXFSZ, SIG_IGN);
    Written written;
    {
      Registry reg = Registry::open(path, options_for(spill));
      bool at_commit = false;
      for (int i = 0; i < 3; ++i) write_round(reg, "seed", i, written, at_commit);
      report["fresh"] = fill_until_full(reg, path, "fresh", written);
    }
    {
      Registry reg = Registry::open(path, options_for(spill));
      report["reopened_intact"] = damaged(reg, written);
      report["reopened"] = fill_until_full(reg, path, "reopened", written);
    }
    Registry reg = Registry::open(path, options_for(spill));
    report["final_damaged"] = damaged(reg, written);
    report["final_integrity"] = reg.integrity_check();
  } catch (const std::exception& e) {
    report["child_error"] = e.what();
    status = 1;
  }
  const std::string text = report.dump();
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(3);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::_exit(status);
}

// Runs the child and returns its report.
json run_child(const fs::path& path, Spill spill) {
  test::ForkedChild child([&](int, int report) -> int { disk_full_child(path, spill, report); });
  const std::string text = child.read_all();
  const int exit_code = child.wait();
  INFO("child report: " << text);
  REQUIRE(exit_code != -1);  // exited, not killed by a signal or hung
  CHECK(exit_code == 0);
  return json::parse(text);
}

void check_phase(const json& r, const char* phase) {
  INFO(phase << ": " << r.dump(2));
  REQUIRE(!r.contains("setup_error"));
  CHECK(!r.contains("other_exception"));
  // A write failed before the limit was lifted, after at least one round
  // that fitted (else the headroom did not test "writes until full").
  REQUIRE(r.value("failed", false));
  CHECK(r.value("rounds_committed", 0) >= 1);
  // The code a caller dispatches on: no space, not a generic I/O error.
  CHECK(r.value("code", "") == "disk_full");
  // Nothing of the failed transaction: no record, no revision, no event.
  CHECK(r["failed_round_present_while_full"].empty());
  CHECK(r["revision_after_failure"] == r["revision_before"]);
  CHECK(r["events_of_failed_round"].empty());
  // Everything written before is intact, while full and after.
  CHECK(r["damaged_while_full"].empty());
  CHECK(r["damaged_after"].empty());
  // With room again, the same transaction commits, as the next revision, and
  // its events (4 values and the app) are delivered once.
  CHECK(!r.contains("retry_error"));
  REQUIRE(r.contains("retry_revision"));
  CHECK(r["retry_revision"].get<Revision>() == r["revision_before"].get<Revision>() + 1);
  CHECK(r.value("wait_for_retry", false));
  CHECK(r.value("retry_events", 0) == kValuesPerTx + 1);
  CHECK(r["integrity"] == json::array({"ok"}));
}

void run_scenario(Spill spill, const char* name) {
  test::TempDir dir;
  const json report = run_child(dir / "full.db", spill);
  INFO("child report: " << report.dump(2));
  REQUIRE(!report.contains("child_error"));
  for (const char* phase : {"fresh", "reopened"}) {
    const json& r = report[phase];
    std::printf(
        "disk full (%s, %s): %d rounds fitted under a limit of %lld bytes, then %s in %s "
        "(%s); retried as revision %lld\n",
        name, phase, r.value("rounds_committed", 0),
        static_cast<long long>(r.value("limit", std::int64_t{0})),
        r.value("code", std::string("nothing")).c_str(),
        r.value("failed_in", std::string("-")).c_str(), r.value("message", std::string()).c_str(),
        static_cast<long long>(r.value("retry_revision", Revision{0})));
    check_phase(r, phase);
    // The scenario is about the place it names.
    CHECK(r.value("failed_in", std::string()) == (spill == Spill::at_commit ? "commit" : "write"));
  }
  std::fflush(stdout);
  CHECK(report["reopened_intact"].empty());
  CHECK(report["final_damaged"].empty());
  CHECK(report["final_integrity"] == json::array({"ok"}));
}

}  // namespace

TEST_CASE(
    "disk full: a transaction that fills the disk at COMMIT fails with disk_full and "
    "keeps nothing") {
  run_scenario(Spill::at_commit, "at commit");
}

TEST_CASE(
    "disk full: a transaction that fills the disk while it writes fails with disk_full "
    "and keeps nothing") {
  run_scenario(Spill::mid_transaction, "mid-transaction");
}
