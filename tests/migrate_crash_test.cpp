// Migrations killed at random points. A child process runs a chain of
// migrations on a file and is SIGKILLed after a random delay; the parent then
// opens the file and checks that every step is applied wholly or not at all
// (user_version, the history table, the schema and the data agree), that the
// file is sound, and that running the chain again finishes it.
//
// White-box: the engine (lib/migrate/migrator.h) runs a chain of our own, with
// enough work in each step (a table, a few thousand rows, an index, an update
// of the previous step's table) that most kills land inside a step. The
// library's own two migrations are too small to be caught in the middle.
//
// CAIRN_KILLS sets the number of kills (default 200). CAIRN_SEED replays a run's
// journal modes and delays (where a delay lands still depends on the machine).
#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "db/connection.h"
#include "migrate/migration.h"
#include "migrate/migrator.h"
#include "migrate/schema.h"
#include "test_util.h"

using cairn::detail::Migration;
using cairn::detail::Migrator;
namespace fs = std::filesystem;

namespace {

constexpr int kSteps = 12;
constexpr int kRowsPerStep = 2000;

std::string table(int step) { return "t" + std::to_string(step); }

// Step k creates table tk, fills it, indexes it, and marks every row of the
// previous step's table with k: a step applied in part would show as a table
// without its rows or index, or as a previous table only partly marked.
std::vector<Migration> crash_chain() {
  std::vector<Migration> chain;
  for (int k = 1; k <= kSteps; ++k) {
    const std::string t = table(k);
    std::string sql = "CREATE TABLE " + t +
                      " (id INTEGER PRIMARY KEY, label TEXT NOT NULL, payload BLOB NOT NULL,"
                      " marked INTEGER NOT NULL DEFAULT 0);"
                      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                      std::to_string(kRowsPerStep) + ") INSERT INTO " + t +
                      " (id, label, payload) SELECT i, printf('step " + std::to_string(k) +
                      " row %d', i), randomblob(64) FROM n;"
                      "CREATE INDEX " +
                      t + "_by_label ON " + t + " (label, payload);";
    if (k > 1) sql += "UPDATE " + table(k - 1) + " SET marked = " + std::to_string(k) + ";";
    chain.push_back(Migration{k, "crash_step_" + std::to_string(k), sql,
                              "crash-checksum-" + std::to_string(k)});
  }
  return chain;
}

cairn::Timestamp fixed_clock() { return 1'700'000'000'000; }

// The journal mode a child migrates under: the registry's (WAL), and SQLite's
// default rollback journal, which the engine must survive as well.
enum class Journal { wal, rollback };

// Runs in a forked child: the whole chain on `path`. Exits 0 when done, 1 on
// an error (reported on stderr). Never returns. (Forked bare, not through
// test::ForkedChild: the loop kills it at a random moment and counts how it
// ended from the raw wait status.)
[[noreturn]] void migrate_child(const fs::path& path, Journal journal,
                                const std::vector<Migration>& chain) {
  int status = 0;
  try {
    cairn::db::Connection conn(path.string(), cairn::db::Connection::Mode::read_write_create, 5000);
    conn.exec(journal == Journal::wal ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                                      : "PRAGMA synchronous = NORMAL;");
    Migrator(conn, chain, fixed_clock).up();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "migrate crash child: %s\n", e.what());
    status = 1;
  }
  ::_exit(status);
}

void remove_database(const fs::path& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    fs::remove(path.string() + suffix);
  }
}

// One integer from a query on a raw connection (the Connection's statement
// cache is keyed by the SQL's address, so built SQL does not go through it).
std::int64_t scalar(cairn::db::Connection& conn, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(conn.handle(), sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    throw std::runtime_error(std::string(sqlite3_errmsg(conn.handle())) + " in: " + sql);
  }
  std::int64_t value = 0;
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) throw std::runtime_error("no row for: " + sql);
  return value;
}

std::vector<std::string> integrity_check(cairn::db::Connection& conn) {
  std::vector<std::string> out;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(conn.handle(), "PRAGMA integrity_check", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    return {sqlite3_errmsg(conn.handle())};
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    out.emplace_back(text == nullptr ? "NULL" : text);
  }
  sqlite3_finalize(stmt);
  return out;
}

// What the parent finds in a file a migrator was killed on.
struct Found {
  int version = 0;                    // PRAGMA user_version
  std::vector<std::string> problems;  // disagreements: a half-applied step
  bool integrity_ok = true;
};

Found inspect(cairn::db::Connection& conn,
              const std::vector<cairn::detail::SchemaObjects>& expected) {
  Found found;
  auto problem = [&](const std::string& p) { found.problems.push_back(p); };
  const auto integrity = integrity_check(conn);
  found.integrity_ok = integrity == std::vector<std::string>{"ok"};

  const int version = static_cast<int>(scalar(conn, "PRAGMA user_version"));
  found.version = version;
  if (version < 0 || version > kSteps) {
    problem("user_version " + std::to_string(version) + " is outside the chain");
    return found;
  }
  const bool has_history =
      scalar(conn, "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'") == 1;
  const std::int64_t rows =
      has_history ? scalar(conn, "SELECT count(*) FROM schema_migrations") : 0;
  const std::int64_t highest =
      has_history ? scalar(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations") : 0;
  const std::int64_t lowest =
      has_history ? scalar(conn, "SELECT coalesce(min(version), 1) FROM schema_migrations") : 1;
  if (rows != version || highest != version || lowest != 1) {
    problem("user_version " + std::to_string(version) + " but the history has " +
            std::to_string(rows) + " rows, versions " + std::to_string(lowest) + ".." +
            std::to_string(highest));
  }
  const std::int64_t application_id = scalar(conn, "PRAGMA application_id");
  if (application_id != (version > 0 ? cairn::detail::kApplicationId : 0)) {
    problem("application_id " + std::to_string(application_id) + " at version " +
            std::to_string(version));
  }
  if (cairn::detail::schema_objects(conn) != expected[static_cast<std::size_t>(version)]) {
    problem("the schema is not version " + std::to_string(version) + "'s");
    return found;  // the data checks below assume the tables exist
  }
  for (int k = 1; k <= version; ++k) {
    const std::int64_t n = scalar(conn, "SELECT count(*) FROM " + table(k));
    const std::int64_t marked = scalar(
        conn, "SELECT count(*) FROM " + table(k) + " WHERE marked = " + std::to_string(k + 1));
    const std::int64_t want_marked = k < version ? kRowsPerStep : 0;
    if (n != kRowsPerStep || marked != want_marked) {
      problem(table(k) + " has " + std::to_string(n) + " rows, " + std::to_string(marked) +
              " marked by step " + std::to_string(k + 1) + " (version " + std::to_string(version) +
              ")");
    }
  }
  return found;
}

std::uint64_t seed_from_env() {
  if (const char* s = std::getenv("CAIRN_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

int kills_from_env() {
  if (const char* s = std::getenv("CAIRN_KILLS"); s != nullptr && *s != '\0') {
    return std::max(1, std::atoi(s));
  }
  return 200;
}

}  // namespace

TEST_CASE("migrate crash: a migrator killed at any point leaves each step whole or absent") {
  const std::uint64_t seed = seed_from_env();
  const int kills = kills_from_env();
  std::printf("migrate crash: seed %llu (CAIRN_SEED=%llu replays its delays), %d kills\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed), kills);
  std::fflush(stdout);
  std::mt19937_64 random(seed);

  const std::vector<Migration> chain = crash_chain();
  std::vector<cairn::detail::SchemaObjects> expected;
  for (int v = 0; v <= kSteps; ++v) expected.push_back(cairn::detail::expected_schema(chain, v));

  test::TempDir dir;
  const auto path = dir / "crash.db";

  // How long the chain takes here, in each journal mode, in a child like the
  // ones to be killed: the kills are spread over it. The fastest of three runs,
  // so that few kills land after the end on a machine busy with other work.
  auto run_whole_chain = [&](Journal journal) {
    remove_database(path);
    const auto started = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) migrate_child(path, journal, chain);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    cairn::db::Connection conn(path.string(), cairn::db::Connection::Mode::read_write, 5000);
    REQUIRE(scalar(conn, "PRAGMA user_version") == kSteps);
    return us;
  };
  std::int64_t chain_us[2];
  for (Journal journal : {Journal::wal, Journal::rollback}) {
    std::int64_t fastest = run_whole_chain(journal);
    for (int i = 0; i < 2; ++i) fastest = std::min(fastest, run_whole_chain(journal));
    chain_us[static_cast<int>(journal)] = fastest;
  }
  std::printf("migrate crash: the chain of %d steps takes %lld ms (WAL), %lld ms (rollback)\n",
              kSteps, static_cast<long long>(chain_us[0] / 1000),
              static_cast<long long>(chain_us[1] / 1000));
  std::fflush(stdout);

  int lowest = kSteps + 1, highest = -1;
  int half_applied = 0, integrity_failures = 0, child_errors = 0, rerun_failures = 0;
  int finished_first = 0;
  std::vector<int> reached(kSteps + 1, 0);
  std::vector<std::string> reports;  // the first few problems, for the log
  auto report = [&](int kill, const std::string& what) {
    if (reports.size() < 10) reports.push_back("kill " + std::to_string(kill) + ": " + what);
  };

  const auto loop_started = std::chrono::steady_clock::now();
  for (int kill = 0; kill < kills; ++kill) {
    remove_database(path);
    const Journal journal = kill % 2 == 0 ? Journal::wal : Journal::rollback;
    const std::int64_t delay =
        std::uniform_int_distribution<std::int64_t>(0, chain_us[static_cast<int>(journal)])(random);

    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) migrate_child(path, journal, chain);
    std::this_thread::sleep_for(std::chrono::microseconds(delay));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) {
      ++finished_first;
      if (WEXITSTATUS(status) != 0) {
        ++child_errors;
        report(kill,
               "the child failed on its own (exit " + std::to_string(WEXITSTATUS(status)) + ")");
      }
    }

    // The parent's connection recovers what the kill left: a hot journal or a WAL.
    cairn::db::Connection conn(path.string(), cairn::db::Connection::Mode::read_write_create, 5000);
    const Found found = inspect(conn, expected);
    lowest = std::min(lowest, found.version);
    highest = std::max(highest, found.version);
    if (found.version >= 0 && found.version <= kSteps) {
      ++reached[static_cast<std::size_t>(found.version)];
    }
    if (!found.problems.empty()) {
      ++half_applied;
      for (const auto& p : found.problems) report(kill, p);
    }
    if (!found.integrity_ok) {
      ++integrity_failures;
      report(kill, "integrity_check failed");
    }

    // The engine agrees, and running the chain again finishes it.
    try {
      Migrator migrator(conn, chain, fixed_clock);
      if (migrator.check() != found.version) {
        throw std::runtime_error("check() disagrees with user_version");
      }
      if (migrator.up().version != kSteps) throw std::runtime_error("up() stopped early");
      const Found done = inspect(conn, expected);
      if (done.version != kSteps || !done.problems.empty()) {
        throw std::runtime_error("after the rerun: version " + std::to_string(done.version) +
                                 (done.problems.empty() ? "" : ", " + done.problems.front()));
      }
    } catch (const std::exception& e) {
      ++rerun_failures;
      report(kill,
             std::string("rerun from version ") + std::to_string(found.version) + ": " + e.what());
    }
  }
  const auto loop_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - loop_started)
                           .count();

  std::string histogram;
  for (int v = 0; v <= kSteps; ++v) {
    histogram += (v > 0 ? " " : "") + std::to_string(v) + ":" +
                 std::to_string(reached[static_cast<std::size_t>(v)]);
  }
  for (const auto& r : reports) std::printf("migrate crash: %s\n", r.c_str());
  std::printf("migrate crash: versions reached (version:kills) %s; %d finished before the kill\n",
              histogram.c_str(), finished_first);
  std::printf(
      "migrate crash: %d kills, versions reached %d..%d, %d half-applied, %d integrity failures, "
      "%d failed reruns, %d child errors (%lld ms, seed %llu)\n",
      kills, lowest, highest, half_applied, integrity_failures, rerun_failures, child_errors,
      static_cast<long long>(loop_ms), static_cast<unsigned long long>(seed));
  std::fflush(stdout);

  CAPTURE(seed);
  CHECK(half_applied == 0);
  CHECK(integrity_failures == 0);
  CHECK(rerun_failures == 0);
  CHECK(child_errors == 0);
  // The test is vacuous if no kill lands while the chain runs. The delays are
  // spread over the chain's measured duration, so with this many kills some
  // land between its first and last step, whatever the machine's speed.
  if (kills >= 100) {
    const int inside = std::accumulate(reached.begin() + 1, reached.end() - 1, 0);
    CHECK(inside > 0);
  }
}
