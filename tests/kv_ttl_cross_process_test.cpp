// Expired KV entries that OTHER processes wrote are purged by a long-lived
// registry, with their kv.expired events (DESIGN section 6: the background
// purge covers every expired entry in the file, whoever wrote it).
//
// Regression: a registry started its background purge only for TTL writes of
// its own (or TTL entries already in the file at open), so an entry written
// later by `cairn put kv ... --ttl-ms` stayed in the file, and no kv.expired
// event was ever published. Found by the safety review ("background work
// sees other processes' writes").
//
// The other process is the cairn CLI, run with run_process (fork + exec at
// once, so no SQLite state crosses the fork).
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::Event;
using cairn::Filter;
using cairn::Kind;
using cairn::Op;
using cairn::Registry;
using namespace std::chrono_literals;

namespace {

namespace fs = std::filesystem;

// Far above what the purge needs (a TTL of 300 ms, ticks of 20 ms): only
// keeps a broken build from hanging.
constexpr auto kPatience = 10s;

cairn::Options long_lived_options() {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.purge_interval_ms = 20;
  o.watch_interval_ms = 10;
  return o;
}

bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// The ids of the kv.expired events `recorder` was handed, in order.
std::vector<std::string> expired_ids(const test::Recorder& recorder) {
  std::vector<std::string> ids;
  for (const auto& e : recorder.events()) {
    if (e.op == Op::expired) ids.push_back(e.id);
  }
  return ids;
}

// `cairn put kv NS KEY VALUE --ttl-ms TTL` on `db`, in a process of its own.
void put_with_ttl_in_cli(const fs::path& db, const std::string& ns, const std::string& key,
                         int ttl_ms) {
  const test::ProcessResult put =
      test::run_process({CAIRN_CLI_PATH, "--db", db.string(), "--quiet", "put", "kv", ns, key,
                         "value", "--ttl-ms", std::to_string(ttl_ms)});
  INFO("cairn put stderr: ", put.err);
  REQUIRE(put.exit_code == 0);
}

}  // namespace

TEST_CASE("kv ttl: an entry another process wrote with a TTL is purged, with its kv.expired event") {
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  // Nothing in the file expires when the long-lived registry opens.
  Registry reg = Registry::open(db, long_lived_options());
  reg.kv("setup").put("forever", "x");
  test::Recorder kv_events;
  auto sub = reg.subscribe(Filter{.kinds = {Kind::kv}}, kv_events.handler());

  put_with_ttl_in_cli(db, "sessions", "abc", 300);

  CHECK(eventually([&] { return !expired_ids(kv_events).empty(); }));
  CHECK(expired_ids(kv_events) == std::vector<std::string>{"sessions/abc"});
  CHECK(eventually([&] { return reg.stats().kv_entries == 1; }));
  CHECK_FALSE(reg.kv("sessions").exists("abc"));
  CHECK(reg.kv("setup").exists("forever"));
}

TEST_CASE("kv ttl: entries other processes write after the first purge are purged too") {
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  Registry reg = Registry::open(db, long_lived_options());
  test::Recorder kv_events;
  auto sub = reg.subscribe(Filter{.kinds = {Kind::kv}}, kv_events.handler());

  for (const std::string key : {"first", "second", "third"}) {
    CAPTURE(key);
    put_with_ttl_in_cli(db, "sessions", key, 100);
    CHECK(eventually([&] { return reg.stats().kv_entries == 0; }));
  }
  CHECK(eventually([&] { return expired_ids(kv_events).size() == 3; }));
  CHECK(expired_ids(kv_events) ==
        std::vector<std::string>{"sessions/first", "sessions/second", "sessions/third"});
}

// Nothing in this process is subscribed, so the event dispatcher (which
// sees other processes' commits) is not running: the purge must look itself.
TEST_CASE("kv ttl: an unsubscribed registry purges entries another process wrote") {
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  Registry reg = Registry::open(db, long_lived_options());

  put_with_ttl_in_cli(db, "sessions", "abc", 100);
  CHECK(eventually([&] { return reg.stats().kv_entries == 0; }));
  const auto events = reg.changes(1);
  CHECK(std::any_of(events.begin(), events.end(), [](const Event& e) {
    return e.op == Op::expired && e.id == "sessions/abc";
  }));
}
