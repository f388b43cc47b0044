// Migrations: the embedded chain against schema/ and migrations/, and the
// migration engine's rules (one transaction per step, no gaps, refusals).
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <latch>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "db/connection.h"
#include "migrate/migration.h"
#include "migrate/migrator.h"
#include "test_util.h"

using cairn::errc;
using cairn::detail::Migration;
using cairn::detail::Migrator;
using test::error_code_of;

namespace {

const test::fs::path kSourceDir = CAIRN_SOURCE_DIR;

// SQL text as sqlite_master keeps it, reduced to what matters: comments
// dropped, whitespace collapsed, no spaces around punctuation, lower case
// outside quotes.
std::string normalize_sql(const std::string& sql) {
  std::string out;
  bool pending_space = false;
  char quote = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote != 0) {
      out += c;
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
      pending_space = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      pending_space = true;
      continue;
    }
    const bool punct = c == '(' || c == ')' || c == ',' || c == ';';
    if (pending_space && !out.empty() && !punct && out.back() != '(' && out.back() != ',') {
      out += ' ';
    }
    pending_space = false;
    if (c == '\'' || c == '"' || c == '`') quote = c;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// type|name|tbl_name|normalized sql of every schema object, sorted.
std::set<std::string> schema_of(const std::vector<test::Row>& rows) {
  std::set<std::string> out;
  for (const auto& r : rows) out.insert(r[0] + "|" + r[1] + "|" + r[2] + "|" + normalize_sql(r[3]));
  return out;
}

constexpr const char* kSchemaQuery =
    "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name";

// The migration files, as (version, name, path), sorted by file name.
struct MigrationFile {
  int version;
  std::string name;
  test::fs::path path;
};

std::vector<MigrationFile> migration_files() {
  static const std::regex kName(R"(^(\d{4})_([a-z0-9_]+)\.sql$)");
  std::vector<MigrationFile> files;
  for (const auto& entry : test::fs::directory_iterator(kSourceDir / "migrations")) {
    const std::string filename = entry.path().filename().string();
    std::smatch m;
    if (std::regex_match(filename, m, kName)) {
      files.push_back({std::stoi(m[1]), m[2], entry.path()});
    }
  }
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.version < b.version; });
  return files;
}

std::string sha256_of(const test::fs::path& path) {
  auto r = test::run_command("sha256sum " + test::shell_quote(path.string()));
  REQUIRE(r.exit_code == 0);
  return r.output.substr(0, 64);
}

}  // namespace

TEST_CASE("migrations: applying every migration to an empty database gives schema/cairn.sql") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  {
    auto reg = cairn::Registry::open(path);
    CHECK(reg.schema_version() == cairn::latest_schema_version());
  }

  const auto actual = schema_of(test::query(path, kSchemaQuery));
  const std::string script = test::read_bytes(kSourceDir / "schema" / "cairn.sql");
  const auto expected = schema_of(test::exec_sql(":memory:", script + ";\n" + kSchemaQuery));

  REQUIRE_FALSE(expected.empty());
  for (const auto& object : expected) {
    CHECK_MESSAGE(actual.count(object) == 1, "missing from the migrated registry: ", object);
  }
  for (const auto& object : actual) {
    CHECK_MESSAGE(expected.count(object) == 1, "not in schema/cairn.sql: ", object);
  }
  CHECK(test::query_value(path, "PRAGMA user_version") ==
        std::to_string(cairn::latest_schema_version()));
  CHECK(test::query_value(path, "PRAGMA application_id") ==
        std::to_string(cairn::detail::kApplicationId));
}

TEST_CASE("migrations: the files are numbered from 0001 without gaps, and all embedded") {
  const auto files = migration_files();
  REQUIRE_FALSE(files.empty());
  for (std::size_t i = 0; i < files.size(); ++i) {
    CAPTURE(files[i].path);
    CHECK(files[i].version == static_cast<int>(i + 1));
  }
  CHECK(cairn::latest_schema_version() == static_cast<int>(files.size()));

  const auto& embedded = cairn::detail::embedded_migrations();
  REQUIRE(embedded.size() == files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    CAPTURE(files[i].path);
    CHECK(embedded[i].version == files[i].version);
    CHECK(embedded[i].name == files[i].name);
    CHECK(embedded[i].checksum == sha256_of(files[i].path));
    CHECK(embedded[i].sql == test::read_bytes(files[i].path));
  }
}

TEST_CASE("migrations: the history table records each migration once, with its checksum") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  test::TestClock clock;
  cairn::Options options;
  options.clock = clock.fn();
  const auto applied_at = clock.now();
  { auto reg = cairn::Registry::open(path, options); }

  const auto files = migration_files();
  auto history =
      test::query(path,
                  "SELECT version, name, checksum, applied_at, duration_ms FROM schema_migrations "
                  "ORDER BY version");
  REQUIRE(history.size() == files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    CAPTURE(files[i].path);
    CHECK(history[i][0] == std::to_string(files[i].version));
    CHECK(history[i][1] == files[i].name);
    CHECK(history[i][2] == sha256_of(files[i].path));
    CHECK(history[i][3] == std::to_string(applied_at));
    CHECK(std::stoll(history[i][4]) >= 0);
  }

  SUBCASE("reopening applies nothing again") {
    clock.advance(60'000);
    { auto reg = cairn::Registry::open(path, options); }
    CHECK(test::query(path,
                      "SELECT version, name, checksum, applied_at, duration_ms FROM "
                      "schema_migrations ORDER BY version") == history);
  }
}

// ---------------------------------------------------------------------------
// White-box tests of lib/migrate/migrator.h. The engine takes its chain of
// migrations as data, so these run chains of our own: the one chain the
// library embeds cannot show a failing step, a gap, or a multi-step upgrade.

namespace {

std::vector<Migration> chain_of(std::vector<std::pair<std::string, std::string>> steps) {
  std::vector<Migration> chain;
  int version = 0;
  for (auto& [name, sql] : steps) {
    ++version;
    chain.push_back(Migration{version, name, sql, "checksum-of-" + name});
  }
  return chain;
}

std::vector<Migration> three_steps() {
  return chain_of({
      {"one", "CREATE TABLE t1 (x INTEGER);"},
      {"two", "CREATE TABLE t2 (y TEXT); INSERT INTO t1 (x) VALUES (1);"},
      {"three", "CREATE INDEX t2_by_y ON t2 (y);"},
  });
}

// A database file and a connection to it, as the library opens them.
struct MigratorFixture {
  test::TempDir dir;
  test::fs::path path = dir / "migrated.db";
  cairn::db::Connection conn{path.string(), cairn::db::Connection::Mode::read_write_create, 5000};
  test::TestClock clock;

  std::string user_version() const { return test::query_value(path, "PRAGMA user_version"); }
  std::set<std::string> schema() const { return schema_of(test::query(path, kSchemaQuery)); }
  std::size_t history_rows() const {
    if (test::query_value(
            path, "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'") == "0") {
      return 0;
    }
    return std::stoul(test::query_value(path, "SELECT count(*) FROM schema_migrations"));
  }
};

}  // namespace

TEST_CASE("migrations engine: a chain is applied step by step, each with its history row") {
  MigratorFixture f;
  const auto chain = three_steps();
  Migrator m(f.conn, chain, f.clock.fn());
  CHECK(m.latest() == 3);
  CHECK(m.check() == 0);
  CHECK(m.pending(0).size() == 3);

  SUBCASE("all at once") {
    CHECK(m.up().version == 3);
    CHECK(f.user_version() == "3");
    auto history = m.history();
    REQUIRE(history.size() == 3);
    for (int i = 0; i < 3; ++i) {
      CHECK(history[static_cast<std::size_t>(i)].version == i + 1);
      CHECK(history[static_cast<std::size_t>(i)].name == chain[static_cast<std::size_t>(i)].name);
      CHECK(history[static_cast<std::size_t>(i)].checksum ==
            chain[static_cast<std::size_t>(i)].checksum);
      CHECK(history[static_cast<std::size_t>(i)].applied_at == f.clock.now());
    }
    CHECK(test::query_value(f.path, "SELECT count(*) FROM t1") == "1");
    CHECK(m.check() == 3);
    CHECK(m.pending(3).empty());
    CHECK(m.up().version == 3);  // nothing left to do
    CHECK(test::query_value(f.path, "SELECT count(*) FROM t1") == "1");
    CHECK(f.history_rows() == 3);
  }

  SUBCASE("up to a target, then the rest") {
    CHECK(m.up(1).version == 1);
    CHECK(f.user_version() == "1");
    CHECK(f.history_rows() == 1);
    CHECK(m.pending(1).size() == 2);
    CHECK(m.up().version == 3);
    CHECK(f.user_version() == "3");
    CHECK(f.history_rows() == 3);
  }

  SUBCASE("a target outside the chain is refused") {
    CHECK(error_code_of([&] { m.up(4); }) == errc::invalid_argument);
    CHECK(f.user_version() == "0");
  }
}

TEST_CASE("migrations engine: a failing step changes nothing and names the migration") {
  MigratorFixture f;
  auto chain = three_steps();
  {
    Migrator first(f.conn, chain, f.clock.fn());
    REQUIRE(first.up(2).version == 2);
  }
  const auto schema_before = f.schema();
  const auto t1_before = test::query_value(f.path, "SELECT count(*) FROM t1");

  std::string bad_sql;
  SUBCASE("bad SQL after a good statement") {
    bad_sql = "CREATE TABLE t3 (z); INSERT INTO t1 (x) VALUES (99); THIS IS NOT SQL;";
  }
  SUBCASE("a constraint violation") {
    bad_sql =
        "CREATE TABLE t3 (z UNIQUE); INSERT INTO t1 (x) VALUES (99);"
        "INSERT INTO t3 (z) VALUES (1); INSERT INTO t3 (z) VALUES (1);";
  }
  SUBCASE("a reference to a missing table") {
    bad_sql =
        "CREATE TABLE t3 (z); INSERT INTO t1 (x) VALUES (99); INSERT INTO nowhere VALUES (1);";
  }
  chain[2] = Migration{3, "breaks_things", bad_sql, "checksum-of-breaks"};

  Migrator m(f.conn, chain, f.clock.fn());
  auto e = test::error_of([&] { m.up(); });
  REQUIRE(e.has_value());
  INFO("message: ", e->what());
  CHECK(test::code(*e) == errc::migration_failed);
  CHECK(test::contains(e->what(), "breaks_things"));
  CHECK(f.user_version() == "2");
  CHECK(f.schema() == schema_before);
  CHECK(f.history_rows() == 2);
  CHECK(test::query_value(f.path, "SELECT count(*) FROM t1") == t1_before);

  // The database is not stuck: a good step 3 applies.
  const auto good = three_steps();
  Migrator fixed(f.conn, good, f.clock.fn());
  CHECK(fixed.up().version == 3);
  CHECK(f.user_version() == "3");
}

TEST_CASE("migrations engine: a failing first step leaves an empty database") {
  MigratorFixture f;
  const auto chain = chain_of({{"first", "CREATE TABLE a (x); INSERT INTO missing VALUES (1);"}});
  Migrator m(f.conn, chain, f.clock.fn());
  auto e = test::error_of([&] { m.up(); });
  REQUIRE(e.has_value());
  CHECK(test::code(*e) == errc::migration_failed);
  CHECK(test::contains(e->what(), "first"));
  CHECK(f.user_version() == "0");
  CHECK(test::query_value(f.path, "PRAGMA application_id") == "0");
  CHECK(f.schema().empty());
}

TEST_CASE("migrations engine: a chain with gaps is refused") {
  MigratorFixture f;
  auto refused = [&](std::vector<Migration> chain) {
    return error_code_of([&] { Migrator m(f.conn, chain, f.clock.fn()); });
  };
  auto step = [](int version) {
    return Migration{version, "v" + std::to_string(version), "SELECT 1;", "c"};
  };
  CHECK(refused({step(1), step(3)}) == errc::invalid_argument);
  CHECK(refused({step(2), step(3)}) == errc::invalid_argument);
  CHECK(refused({step(1), step(1)}) == errc::invalid_argument);
  CHECK(refused({step(0), step(1)}) == errc::invalid_argument);
  CHECK(refused({step(1), step(2), step(4)}) == errc::invalid_argument);
  CHECK(refused({step(1), step(2)}) == errc::ok);
  CHECK(f.user_version() == "0");
}

TEST_CASE("migrations engine: check() refuses changed, newer and foreign databases") {
  MigratorFixture f;
  const auto chain = three_steps();
  {
    Migrator m(f.conn, chain, f.clock.fn());
    REQUIRE(m.up().version == 3);
  }

  SUBCASE("an applied step whose checksum differs") {
    auto edited = chain;
    edited[1].checksum = "something-else";
    Migrator m(f.conn, edited, f.clock.fn());
    auto e = test::error_of([&] { m.check(); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::migration_checksum);
    CHECK(test::contains(e->what(), "two"));
    CHECK(error_code_of([&] { m.up(); }) == errc::migration_checksum);
  }

  SUBCASE("a database newer than the chain") {
    const std::vector<Migration> older(chain.begin(), chain.begin() + 2);
    Migrator m(f.conn, older, f.clock.fn());
    CHECK(error_code_of([&] { m.check(); }) == errc::schema_too_new);
    CHECK(error_code_of([&] { m.up(); }) == errc::schema_too_new);
  }

  CHECK(f.user_version() == "3");
}

TEST_CASE("migrations engine: another application's database is refused") {
  MigratorFixture f;
  test::exec_sql(f.path, "CREATE TABLE users (id INTEGER PRIMARY KEY);");
  const auto chain = three_steps();
  Migrator m(f.conn, chain, f.clock.fn());
  CHECK(error_code_of([&] { m.check(); }) == errc::not_a_registry);
  CHECK(error_code_of([&] { m.up(); }) == errc::not_a_registry);
  CHECK(f.user_version() == "0");
  CHECK(f.schema().size() == 1);
}

TEST_CASE("migrations engine: concurrent migrators apply each step exactly once") {
  // Two processes opening one new registry at once. Each step appends a row:
  // a step applied twice would show up as a duplicate. A race is not hit
  // every time, so several rounds, each on a fresh file.
  std::vector<std::pair<std::string, std::string>> steps = {
      {"log", "CREATE TABLE applied (step INTEGER NOT NULL);"}};
  for (int i = 2; i <= 12; ++i) {
    steps.emplace_back("step_" + std::to_string(i),
                       "INSERT INTO applied (step) VALUES (" + std::to_string(i) + ");");
  }
  const auto chain = chain_of(steps);
  test::TestClock clock;

  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    test::TempDir dir;
    const auto path = dir / "shared.db";
    std::latch start(2);
    std::string failures[2];
    int reached[2] = {-1, -1};
    std::thread threads[2];
    for (int t = 0; t < 2; ++t) {
      threads[t] = std::thread([&, t] {
        try {
          cairn::db::Connection conn(path.string(), cairn::db::Connection::Mode::read_write_create,
                                     10'000);
          Migrator m(conn, chain, clock.fn());
          start.arrive_and_wait();
          reached[t] = m.up().version;
        } catch (const std::exception& e) {
          failures[t] = e.what();
        }
      });
    }
    for (auto& th : threads) th.join();

    CHECK(failures[0] == "");
    CHECK(failures[1] == "");
    CHECK(reached[0] == 12);
    CHECK(reached[1] == 12);
    CHECK(test::query_value(path, "SELECT count(*) FROM applied") == "11");
    CHECK(test::query_value(path, "SELECT count(DISTINCT step) FROM applied") == "11");
    CHECK(test::query_value(path, "SELECT count(*) FROM schema_migrations") == "12");
    if (!failures[0].empty() || !failures[1].empty()) break;
  }
}

// Last in this file: before the fix, these crashed the process (an index out
// of the chain), which would have hidden every test after them.
TEST_CASE("migrations engine: a history whose versions are not 1..N is corrupt, not a crash") {
  MigratorFixture f;
  const auto chain = three_steps();
  {
    Migrator m(f.conn, chain, f.clock.fn());
    REQUIRE(m.up().version == 3);
  }

  SUBCASE("version 0 instead of 1") {
    // {0, 2, 3} with user_version 3: as many rows as the version says.
    test::exec_sql(f.path, "UPDATE schema_migrations SET version = 0 WHERE version = 1;");
  }
  SUBCASE("a negative version") {
    test::exec_sql(f.path, "UPDATE schema_migrations SET version = -7 WHERE version = 1;");
  }

  Migrator m(f.conn, chain, f.clock.fn());
  CHECK(error_code_of([&] { m.check(); }) == errc::corrupt);
  CHECK(f.user_version() == "3");
}
