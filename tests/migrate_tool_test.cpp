// Schema migrations as an operator and a server meet them (migrate.h): the
// upgrade of an older registry on open, with its backup and its event;
// status, plan, up, verify and dry-run; what is refused with nothing written;
// a failing step; and migrators in several processes at once.
//
// The library embeds one chain, and Registry::open always takes a registry to
// its end, so an older registry is built with the engine itself: white-box,
// a Migrator over the first embedded migration only (make_v1_registry).
// tests/migrations_test.cpp checks schema/ against migrations/ and the
// engine's basic rules; this file does not repeat them.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/cairn.h"
#include "db/connection.h"
#include "migrate/migration.h"
#include "migrate/migrator.h"
#include "migrate/schema.h"
#include "test_util.h"

using cairn::errc;
using cairn::Registry;
using cairn::detail::Migration;
using cairn::detail::Migrator;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

int latest() { return cairn::latest_schema_version(); }

const std::vector<Migration>& embedded() { return cairn::detail::embedded_migrations(); }

// "0001_initial": how the library names a migration in its messages.
std::string step_name(const Migration& m) { return fmt::format("{:04d}_{}", m.version, m.name); }

// Whether `text` holds `n` as a whole number ("version 2", not "12" or "2024").
bool names_number(std::string_view text, int n) {
  const std::regex whole("(^|[^0-9])" + std::to_string(n) + "([^0-9]|$)");
  return std::regex_search(text.begin(), text.end(), whole);
}

// ---- A version-1 registry ----------------------------------------------------

constexpr cairn::Timestamp kV1Time = 1'600'000'000'000;
constexpr int kV1Pools = 3;
constexpr int kV1Apps = 5;
constexpr cairn::Revision kV1Revision = kV1Pools + kV1Apps;  // one revision per record

// A registry file as a cairn that knew only migration 0001 left it: WAL mode,
// 0001's tables, three pools and five apps with their change-log rows and
// revisions. White-box: the engine runs a chain holding only the library's
// first migration, and the rows are written with plain SQL in 0001's layout
// (the stores of this library cannot write to a registry they have not
// migrated).
void make_v1_registry(const fs::path& path) {
  test::exec_sql(path, "PRAGMA journal_mode = WAL;");
  {
    const std::vector<Migration> first(embedded().begin(), embedded().begin() + 1);
    cairn::db::Connection conn(path.string(), cairn::db::Connection::Mode::read_write, 5000);
    Migrator migrator(conn, first, [] { return kV1Time; });
    REQUIRE(migrator.up().version == 1);
  }
  std::string sql = "BEGIN;";
  cairn::Revision revision = 0;
  const char* types[kV1Pools] = {"local", "global", "encrypted"};
  for (int i = 0; i < kV1Pools; ++i) {
    ++revision;
    sql += fmt::format(
        R"(INSERT INTO pools VALUES ('p{0}', '{1}', {2}, '["a0"]',
             '{{"read":["*"],"write":["a0"]}}', 'pool p{0}', '{{"size":{0}}}', {3}, {3}, {4});
           INSERT INTO change_log VALUES ({4}, 0, 'pool', 'created', 'pool.created', 'p{0}',
             NULL, '{{"name":"p{0}"}}', {3}, 'v1-actor');)",
        i, types[i], i == 2 ? 1 : 0, kV1Time, revision);
  }
  for (int i = 0; i < kV1Apps; ++i) {
    ++revision;
    // Even apps are in p0 only, odd ones in p0 and p1.
    const bool odd = i % 2 == 1;
    sql += fmt::format(
        R"(INSERT INTO apps VALUES ('a{0}', '{1}', '["on-start"]', '{{"n":{0}}}', '1.2',
             {2}, {3}, 0, {2}, {3}, {4});
           INSERT INTO app_pools VALUES ('p0', 'a{0}');
           INSERT INTO change_log VALUES ({4}, 0, 'app', 'created', 'app.registered', 'a{0}',
             NULL, '{{"id":"a{0}"}}', {2}, 'v1-actor');)",
        i, odd ? R"(["p0","p1"])" : R"(["p0"])", kV1Time, kV1Time + i, revision);
    if (odd) sql += fmt::format("INSERT INTO app_pools VALUES ('p1', 'a{}');", i);
  }
  sql += "UPDATE registry_state SET revision = " + std::to_string(revision) + "; COMMIT;";
  test::exec_sql(path, sql);
  REQUIRE(test::query_value(path, "PRAGMA user_version") == "1");
}

// The v1 data, read back through the stores of an open registry.
void check_v1_data(Registry& reg) {
  CHECK(reg.pools().count() == kV1Pools);
  CHECK(reg.apps().count() == kV1Apps);
  const cairn::App a3 = reg.apps().get("a3");
  CHECK(a3.pools == std::vector<std::string>{"p0", "p1"});
  CHECK(a3.triggers == std::vector<std::string>{"on-start"});
  CHECK(a3.meta == json{{"n", 3}});
  CHECK(a3.protocol_version == "1.2");
  CHECK(a3.last_seen == kV1Time + 3);
  CHECK(a3.revision == kV1Pools + 4);
  const cairn::Pool p2 = reg.pools().get("p2");
  CHECK(p2.type == cairn::PoolType::encrypted);
  CHECK(p2.encrypted);
  CHECK(p2.policies.read == std::vector<std::string>{"*"});
  CHECK(p2.config == json{{"size", 2}});
  CHECK(test::keys_of(reg.apps().in_pool("p1"), [](const cairn::App& a) { return a.id; }) ==
        std::vector<std::string>{"a1", "a3"});
  CHECK(reg.apps().in_pool("p0").size() == kV1Apps);
}

std::string history_versions(const fs::path& path) {
  return test::query_value(path,
                           "SELECT coalesce(group_concat(version, ','), '') FROM "
                           "(SELECT version FROM schema_migrations ORDER BY version)");
}

std::string all_versions() {
  std::string out;
  for (int v = 1; v <= latest(); ++v) out += (v > 1 ? "," : "") + std::to_string(v);
  return out;
}

// The files of `dir` that are neither `db` nor its -wal and -shm.
std::set<std::string> other_files(const fs::path& dir, const std::string& db) {
  auto names = test::dir_entries(dir);
  names.erase(db);
  names.erase(db + "-wal");
  names.erase(db + "-shm");
  return names;
}

// What a reader of the database sees on disk: the file and its WAL. A missing
// WAL and an empty one hold the same thing (a reader may leave an empty one).
struct DiskImage {
  std::string db;
  std::string wal;
  bool operator==(const DiskImage&) const = default;
};

DiskImage disk_image(const fs::path& path) {
  const fs::path wal = path.string() + "-wal";
  return {test::read_bytes(path), fs::exists(wal) ? test::read_bytes(wal) : std::string()};
}

}  // namespace

// ---- Upgrade on open ---------------------------------------------------------

TEST_CASE("migrate: opening a version-1 registry upgrades it, keeps its data, backs it up") {
  REQUIRE(latest() >= 2);
  test::TempDir dir;
  const auto path = dir / "registry.db";
  make_v1_registry(path);
  test::TestClock clock(1'700'000'000'000);
  cairn::Options options;
  options.clock = clock.fn();
  options.synchronous = cairn::Synchronous::normal;

  SUBCASE("with a backup first (the default)") {
    {
      auto reg = Registry::open(path, options);
      CHECK(reg.schema_version() == latest());
      check_v1_data(reg);

      // The upgrade is one more revision, with one schema.migrated event.
      CHECK(reg.revision() == kV1Revision + 1);
      const auto events = reg.changes(1);
      REQUIRE(events.size() == static_cast<std::size_t>(kV1Revision + 1));
      CHECK(events[0].topic == "pool.created");
      CHECK(events[kV1Revision - 1].topic == "app.registered");
      const cairn::Event& migrated = events.back();
      CHECK(migrated.revision == kV1Revision + 1);
      CHECK(migrated.kind == cairn::Kind::registry);
      CHECK(migrated.op == cairn::Op::migrated);
      CHECK(migrated.topic == "schema.migrated");
      CHECK(migrated.at == clock.now());
      CHECK_FALSE(migrated.before.has_value());
      REQUIRE(migrated.after.has_value());
      CHECK(*migrated.after == json{{"from", 1}, {"to", latest()}});

      // The registry goes on writing after the upgrade.
      cairn::App app;
      app.id = "after-upgrade";
      app.pools = {"p1"};
      CHECK(reg.apps().put(app).revision == kV1Revision + 2);
      CHECK(reg.apps().in_pool("p1").size() == 3);
    }
    CHECK(test::query_value(path, "PRAGMA user_version") == std::to_string(latest()));
    CHECK(history_versions(path) == all_versions());
    CHECK(test::query_value(path, "SELECT applied_at FROM schema_migrations WHERE version = 1") ==
          std::to_string(kV1Time));
    CHECK(test::query_value(path, "SELECT applied_at FROM schema_migrations WHERE version = 2") ==
          std::to_string(clock.now()));
    const auto check = cairn::verify_schema(path);
    INFO("problems: ", json(check.problems).dump());
    CHECK(check.ok);

    // The pre-migration backup: named after the version it holds and the time.
    const auto backup = dir / cairn::backup_file_name("registry.db.pre-migrate-v1", clock.now());
    CHECK(other_files(dir.path(), "registry.db") ==
          std::set<std::string>{backup.filename(), cairn::manifest_path(backup).filename()});
    REQUIRE(fs::exists(backup));
    const cairn::BackupInfo info = cairn::verify_backup(backup);
    CHECK(info.schema_version == 1);
    CHECK(info.last_revision == kV1Revision);
    CHECK(info.created_at == clock.now());
    CHECK(test::file_mode(backup) == 0600);
    CHECK(test::query_value(backup, "PRAGMA user_version") == "1");
    CHECK(test::query_value(backup,
                            "SELECT group_concat(id) FROM (SELECT id FROM apps ORDER BY id)") ==
          "a0,a1,a2,a3,a4");
    CHECK(test::query_value(backup, "SELECT count(*) FROM schema_migrations") == "1");
  }

  SUBCASE("without a backup (backup_before_migrate = false)") {
    options.backup_before_migrate = false;
    {
      auto reg = Registry::open(path, options);
      CHECK(reg.schema_version() == latest());
      check_v1_data(reg);
      const auto events = test::events_at(reg, kV1Revision + 1);
      REQUIRE(events.size() == 1);
      CHECK(events[0].topic == "schema.migrated");
    }
    CHECK(other_files(dir.path(), "registry.db").empty());
  }

  SUBCASE("migrate_on_open = false refuses it, naming both versions") {
    options.migrate_on_open = false;
    auto e = test::error_of([&] { Registry::open(path, options); });
    REQUIRE(e.has_value());
    const std::string message = e->what();
    CAPTURE(message);
    CHECK(test::code(*e) == errc::migration_failed);
    CHECK(names_number(e->what(), 1));
    CHECK(names_number(e->what(), latest()));
    CHECK(test::query_value(path, "PRAGMA user_version") == "1");
    CHECK(other_files(dir.path(), "registry.db").empty());

    // The operator then migrates it, and the server opens it.
    const cairn::MigrateResult result = cairn::migrate(path);
    CHECK(result.from_version == 1);
    CHECK(result.to_version == latest());
    auto reg = Registry::open(path, options);
    check_v1_data(reg);
  }
}

// ---- The operator's verbs ----------------------------------------------------

TEST_CASE("migrate: after the write-path tables (0004), revisions go on and memberships follow") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  make_v1_registry(path);
  {
    auto reg = Registry::open(path);
    const cairn::Revision migrated = reg.revision();
    CHECK(migrated == kV1Revision + 1);  // the data's revisions, then schema.migrated

    // a1 was in p0 and p1; now in p1 and p9.
    cairn::App a1 = reg.apps().get("a1");
    a1.pools = {"p1", "p9"};
    CHECK(reg.apps().put(a1).revision == migrated + 1);
    auto ids_in = [&](const char* pool) {
      return test::keys_of(reg.apps().in_pool(pool), [](const cairn::App& a) { return a.id; });
    };
    CHECK(ids_in("p9") == std::vector<std::string>{"a1"});
    CHECK(ids_in("p1") == std::vector<std::string>{"a1", "a3"});
    CHECK(reg.apps().in_pool("p0").size() == kV1Apps - 1);

    CHECK(reg.apps().remove("a3"));
    CHECK(ids_in("p1") == std::vector<std::string>{"a1"});
    CHECK(reg.apps().count({.pool = "p0"}) == kV1Apps - 2);
    CHECK(reg.revision() == migrated + 2);
  }
  CHECK(test::query_value(path, "SELECT count(*) FROM app_pools WHERE app_id = 'a3'") == "0");
  CHECK(test::query_value(path, "SELECT max(revision) FROM change_log") ==
        std::to_string(kV1Revision + 3));
  CHECK(cairn::verify_schema(path).ok);
}

TEST_CASE("revisions: a change log emptied by retention keeps the last revision") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  cairn::Options options;
  options.change_log_max_revisions = 0;  // retention removes every row...
  options.retention_interval_ms = 3'600'000;  // ...when the test calls it
  cairn::Revision last = 0;
  {
    auto reg = Registry::open(path, options);
    reg.config().put({.key = "a", .value = 1});
    last = reg.config().put({.key = "b", .value = 2}).revision;
    CHECK(reg.compact_change_log() == 2);
    CHECK(test::query_value(path, "SELECT count(*) FROM change_log") == "0");
    CHECK(reg.revision() == last);
    CHECK(reg.config().put({.key = "c", .value = 3}).revision == last + 1);
    CHECK(reg.compact_change_log() == 1);
  }
  auto reg = Registry::open(path, options);
  CHECK(reg.revision() == last + 1);
  CHECK(reg.config().put({.key = "d", .value = 4}).revision == last + 2);
}

TEST_CASE("migrate: status, plan, up --to, up and verify on a version-1 registry") {
  REQUIRE(latest() >= 2);
  test::TempDir dir;
  const auto path = dir / "registry.db";
  make_v1_registry(path);
  const DiskImage v1_image = disk_image(path);

  const cairn::MigrationStatus status = cairn::migration_status(path);
  CHECK(status.current_version == 1);
  CHECK(status.latest_version == latest());
  REQUIRE(status.steps.size() == static_cast<std::size_t>(latest()));
  const cairn::MigrationStep& applied = status.steps[0];
  CHECK(applied.version == 1);
  CHECK(applied.name == "initial");
  CHECK(applied.applied);
  CHECK(applied.checksum_ok);
  CHECK(applied.checksum == embedded()[0].checksum);
  CHECK(applied.applied_at == kV1Time);
  CHECK(applied.duration_ms >= 0);
  for (int v = 2; v <= latest(); ++v) {
    const cairn::MigrationStep& pending = status.steps[static_cast<std::size_t>(v - 1)];
    CAPTURE(v);
    CHECK(pending.version == v);
    CHECK(pending.name == embedded()[static_cast<std::size_t>(v - 1)].name);
    CHECK_FALSE(pending.applied);
    CHECK(pending.applied_at == 0);
    CHECK(pending.sql == embedded()[static_cast<std::size_t>(v - 1)].sql);
  }
  CHECK(status.steps[1].name == "subscriptions");

  const auto plan = cairn::migration_plan(path);
  REQUIRE(plan.size() == static_cast<std::size_t>(latest() - 1));
  CHECK(plan[0].version == 2);
  CHECK(plan[0].checksum == embedded()[1].checksum);
  CHECK(test::contains(plan[0].sql, "CREATE TABLE subscriptions"));
  CHECK(test::contains(plan[0].sql, "CREATE INDEX change_log_by_at"));
  CHECK(cairn::migration_plan(path, 1).empty());
  CHECK(cairn::migration_plan(path, 2).size() == 1);

  // An older registry is exactly its version's schema.
  const auto v1_check = cairn::verify_schema(path);
  INFO("problems at v1: ", json(v1_check.problems).dump());
  CHECK(v1_check.ok);

  // status, plan and verify read only.
  CHECK(disk_image(path) == v1_image);

  // Up to the version it has: nothing to do, nothing written.
  const cairn::MigrateResult noop = cairn::migrate(path, {.to = 1});
  CHECK(noop.from_version == 1);
  CHECK(noop.to_version == 1);
  CHECK_FALSE(noop.backup.has_value());
  CHECK(disk_image(path) == v1_image);
  CHECK(other_files(dir.path(), "registry.db").empty());

  // Up to the latest.
  const cairn::MigrateResult up = cairn::migrate(path);
  CHECK(up.from_version == 1);
  CHECK(up.to_version == latest());
  REQUIRE(up.backup.has_value());
  CHECK(up.backup->parent_path() == dir.path());
  CHECK(up.backup->filename().string().starts_with("registry.db.pre-migrate-v1-"));
  CHECK(cairn::verify_backup(*up.backup).schema_version == 1);
  CHECK(test::query_value(path, "PRAGMA user_version") == std::to_string(latest()));
  CHECK(history_versions(path) == all_versions());
  CHECK(test::query_value(
            path, "SELECT count(*) FROM change_log WHERE topic = 'schema.migrated'") == "1");

  const cairn::MigrationStatus after = cairn::migration_status(path);
  CHECK(after.current_version == latest());
  REQUIRE(after.steps.size() == static_cast<std::size_t>(latest()));
  for (const auto& step : after.steps) {
    CAPTURE(step.version);
    CHECK(step.applied);
    CHECK(step.checksum_ok);
  }
  CHECK(cairn::migration_plan(path).empty());
  const auto v2_check = cairn::verify_schema(path);
  INFO("problems after up: ", json(v2_check.problems).dump());
  CHECK(v2_check.ok);

  // Again: nothing to do.
  const cairn::MigrateResult again = cairn::migrate(path);
  CHECK(again.from_version == latest());
  CHECK(again.to_version == latest());
  CHECK_FALSE(again.backup.has_value());
  CHECK(test::query_value(
            path, "SELECT count(*) FROM change_log WHERE topic = 'schema.migrated'") == "1");

  SUBCASE("a history checksum edited by hand") {
    test::exec_sql(path, "UPDATE schema_migrations SET checksum = 'c0ffee' WHERE version = 1;");
    const auto check = cairn::verify_schema(path);
    INFO("problems: ", json(check.problems).dump());
    CHECK_FALSE(check.ok);
    CHECK(std::any_of(check.problems.begin(), check.problems.end(), [](const std::string& p) {
      return test::contains(p, step_name(embedded()[0]));
    }));

    const auto drifted = cairn::migration_status(path);
    CHECK(drifted.current_version == latest());
    REQUIRE(drifted.steps.size() == static_cast<std::size_t>(latest()));
    CHECK_FALSE(drifted.steps[0].checksum_ok);
    CHECK(drifted.steps[0].checksum == "c0ffee");
    CHECK(drifted.steps[1].checksum_ok);

    auto e = test::error_of([&] { Registry::open(path); });
    REQUIRE(e.has_value());
    const std::string message = e->what();
    CAPTURE(message);
    CHECK(test::code(*e) == errc::migration_checksum);
    CHECK(test::contains(e->what(), step_name(embedded()[0])));
  }

  SUBCASE("a table created by hand") {
    test::exec_sql(path, "CREATE TABLE hand_made (x INTEGER);");
    const auto check = cairn::verify_schema(path);
    INFO("problems: ", json(check.problems).dump());
    CHECK_FALSE(check.ok);
    CHECK(check.problems == std::vector<std::string>{"table hand_made is not expected"});
  }

  SUBCASE("an index dropped by hand") {
    test::exec_sql(path, "DROP INDEX pools_by_type;");
    const auto check = cairn::verify_schema(path);
    INFO("problems: ", json(check.problems).dump());
    CHECK_FALSE(check.ok);
    REQUIRE(check.problems.size() == 1);
    CHECK(test::contains(check.problems[0], "index pools_by_type"));
    CHECK(test::contains(check.problems[0], "missing"));
  }

  SUBCASE("a column added by hand") {
    test::exec_sql(path, "ALTER TABLE apps ADD COLUMN extra TEXT;");
    const auto check = cairn::verify_schema(path);
    INFO("problems: ", json(check.problems).dump());
    CHECK_FALSE(check.ok);
    REQUIRE(check.problems.size() == 1);
    CHECK(test::contains(check.problems[0], "table apps"));
  }
}

// ---- Refusals ----------------------------------------------------------------

TEST_CASE("migrate: a newer, edited or foreign database is refused by every verb, untouched") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  errc refusal = errc::ok;
  std::vector<int> versions_named;
  std::string migration_named;

  SUBCASE("a schema newer than the library") {
    { auto reg = Registry::open(path); }
    const int newer = latest() + 3;
    std::string sql = "BEGIN;";
    for (int v = latest() + 1; v <= newer; ++v) {
      sql += "INSERT INTO schema_migrations VALUES (" + std::to_string(v) + ", 'future_" +
             std::to_string(v) + "', 'abc', 0, 0);";
    }
    sql += "COMMIT; PRAGMA user_version = " + std::to_string(newer) + ";";
    test::exec_sql(path, sql);
    refusal = errc::schema_too_new;
    versions_named = {newer, latest()};
  }
  SUBCASE("an applied migration that was edited") {
    { auto reg = Registry::open(path); }
    test::exec_sql(path, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = " +
                             std::to_string(latest()) + ";");
    refusal = errc::migration_checksum;
    migration_named = step_name(embedded().back());
  }
  SUBCASE("another application's SQLite file, with its own application_id") {
    test::exec_sql(path,
                   "PRAGMA application_id = 305419896; PRAGMA user_version = 1;"
                   "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
                   "INSERT INTO users VALUES (1, 'ada');");
    refusal = errc::not_a_registry;
  }
  SUBCASE("another tool's migrated database, with a schema_migrations table of its own") {
    // The table golang-migrate keeps (application_id 0): a common name.
    test::exec_sql(path,
                   "CREATE TABLE schema_migrations (version uint64, dirty bool);"
                   "CREATE UNIQUE INDEX version_unique ON schema_migrations (version);"
                   "INSERT INTO schema_migrations VALUES (20240101120000, 0);"
                   "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);");
    refusal = errc::not_a_registry;
  }

  const DiskImage before = disk_image(path);
  const auto files_before = other_files(dir.path(), "registry.db");
  auto refused = [&](const std::string& verb, auto&& call) {
    CAPTURE(verb);
    auto e = test::error_of(call);
    REQUIRE_MESSAGE(e.has_value(), verb, " accepted the file");
    const std::string message = e->what();
    CAPTURE(message);
    CHECK(test::code(*e) == refusal);
    for (int v : versions_named) CHECK_MESSAGE(names_number(e->what(), v), "version ", v);
    if (!migration_named.empty()) CHECK(test::contains(e->what(), migration_named));
    CHECK(disk_image(path) == before);
    CHECK(other_files(dir.path(), "registry.db") == files_before);
  };

  cairn::Options no_migrate;
  no_migrate.migrate_on_open = false;
  refused("migrate", [&] { cairn::migrate(path); });
  refused("migrate without backup", [&] { cairn::migrate(path, {.backup_first = false}); });
  refused("migrate --to 1", [&] { cairn::migrate(path, {.to = 1}); });
  refused("Registry::open", [&] { Registry::open(path); });
  refused("Registry::open without migrate_on_open", [&] { Registry::open(path, no_migrate); });
  refused("migration_plan", [&] { cairn::migration_plan(path); });
  refused("migrate_dry_run", [&] { cairn::migrate_dry_run(path); });
  if (refusal == errc::migration_checksum) {
    // status and verify report drift instead of refusing: it is what they are for.
    CHECK_FALSE(cairn::migration_status(path).steps.back().checksum_ok);
    CHECK_FALSE(cairn::verify_schema(path).ok);
    CHECK(disk_image(path) == before);
  } else {
    refused("migration_status", [&] { cairn::migration_status(path); });
    refused("verify_schema", [&] { cairn::verify_schema(path); });
  }
}

// ---- A failing step (white-box) ------------------------------------------------

namespace {

// Everything a database holds, as rows: its header fields, its schema, and
// every row of every table, tagged with the table's name.
std::vector<test::Row> dump(const fs::path& path) {
  auto out = test::query(path, "PRAGMA user_version; PRAGMA application_id;");
  const auto objects = test::query(
      path,
      "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name");
  out.insert(out.end(), objects.begin(), objects.end());
  for (const auto& object : objects) {
    if (object[0] != "table" || object[1].starts_with("sqlite_")) continue;
    for (auto row : test::query(path, "SELECT * FROM \"" + object[1] + "\" ORDER BY rowid")) {
      row.insert(row.begin(), object[1]);
      out.push_back(std::move(row));
    }
  }
  return out;
}

}  // namespace

TEST_CASE("migrate engine: a step that fails late is undone whole, history and schema too") {
  // White-box: a chain of our own, on a file in WAL mode as the registry uses.
  // Unlike tests/migrations_test.cpp's failing steps, this one first alters
  // what earlier steps made (a column added, rows changed, an index dropped)
  // and then fails on the earlier step's primary key, and the whole database
  // is compared row by row.
  test::TempDir dir;
  const auto path = dir / "chain.db";
  test::exec_sql(path, "PRAGMA journal_mode = WAL;");
  test::TestClock clock;
  std::vector<Migration> chain = {
      {1, "items",
       "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT NOT NULL);"
       "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three');",
       "checksum-1"},
      {2, "tags",
       "CREATE TABLE tags (item INTEGER NOT NULL REFERENCES items (id), tag TEXT);"
       "CREATE INDEX tags_by_tag ON tags (tag);"
       "INSERT INTO tags VALUES (1, 'red'), (2, 'blue');",
       "checksum-2"},
      {3, "bad", "", "checksum-3"},
  };
  SUBCASE("bad SQL") {
    chain[2].sql =
        "ALTER TABLE items ADD COLUMN weight INTEGER NOT NULL DEFAULT 0;"
        "UPDATE items SET label = upper(label), weight = id * 10;"
        "DROP INDEX tags_by_tag; CREATE TABLE extra (x); INSERT INTO extra VALUES (1);"
        "DELETE FROM tags WHERE item = 1;"
        "SELEKT everything FROM nowhere;";
  }
  SUBCASE("a duplicate primary key") {
    chain[2].sql =
        "ALTER TABLE items ADD COLUMN weight INTEGER NOT NULL DEFAULT 0;"
        "UPDATE items SET label = upper(label), weight = id * 10;"
        "DROP INDEX tags_by_tag; CREATE TABLE extra (x); INSERT INTO extra VALUES (1);"
        "DELETE FROM tags WHERE item = 1;"
        "INSERT INTO items (id, label) VALUES (4, 'four'), (2, 'two again');";
  }

  cairn::db::Connection conn(path.string(), cairn::db::Connection::Mode::read_write, 5000);
  Migrator migrator(conn, chain, clock.fn());
  REQUIRE(migrator.up(2).version == 2);
  const auto after_step_2 = dump(path);
  const auto history_after_step_2 = migrator.history();

  clock.advance(1000);
  auto e = test::error_of([&] { migrator.up(); });
  REQUIRE(e.has_value());
  const std::string message = e->what();
  CAPTURE(message);
  CHECK(test::code(*e) == errc::migration_failed);
  CHECK(test::contains(e->what(), "0003_bad"));

  CHECK(dump(path) == after_step_2);
  CHECK(test::query_value(path, "PRAGMA user_version") == "2");
  CHECK(history_versions(path) == "1,2");
  const auto history = migrator.history();
  REQUIRE(history.size() == history_after_step_2.size());
  for (std::size_t i = 0; i < history.size(); ++i) {
    CHECK(history[i].version == history_after_step_2[i].version);
    CHECK(history[i].checksum == history_after_step_2[i].checksum);
    CHECK(history[i].applied_at == history_after_step_2[i].applied_at);
  }
  CHECK(test::query_value(path, "PRAGMA integrity_check") == "ok");
  CHECK(migrator.check() == 2);
  CHECK(cairn::detail::schema_objects(conn) == cairn::detail::expected_schema(chain, 2));

  // The same failure again: still nothing of it applied.
  CHECK(test::error_code_of([&] { migrator.up(); }) == errc::migration_failed);
  CHECK(dump(path) == after_step_2);
}

// ---- Dry-run -----------------------------------------------------------------

TEST_CASE("migrate: dry-run of a registry of 100,000 apps leaves its files byte for byte") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  constexpr int kApps = 100'000;
  cairn::Options options;
  options.synchronous = cairn::Synchronous::normal;
  auto reg = Registry::open(path, options);
  reg.transact([&](cairn::Tx& tx) {
    auto apps = tx.apps();
    cairn::App app;
    app.pools = {"bulk"};
    for (int i = 0; i < kApps; ++i) {
      app.id = "app-" + std::to_string(i);
      apps.put(app);
    }
  });

  auto check_dry_run = [&](const std::string& when) {
    CAPTURE(when);
    const DiskImage before = disk_image(path);
    const cairn::DryRun run = cairn::migrate_dry_run(path);
    CHECK(disk_image(path) == before);
    CHECK(other_files(dir.path(), "registry.db").empty());

    CHECK(run.from_version == latest());
    CHECK(run.to_version == latest());
    CHECK(run.added.empty());
    CHECK(run.altered.empty());
    CHECK(run.removed.empty());
    using Counts = std::pair<std::int64_t, std::int64_t>;
    CHECK(run.rows.at("apps") == Counts{kApps, kApps});
    CHECK(run.rows.at("app_pools") == Counts{kApps, kApps});
    CHECK(run.rows.at("change_log") == Counts{kApps, kApps});
    CHECK(run.rows.at("pools") == Counts{0, 0});
    CHECK(run.rows.at("schema_migrations") == Counts{latest(), latest()});
    // Every table of the registry is counted.
    std::set<std::string> tables;
    for (const auto& row : test::query(path,
                                       "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                       "name NOT LIKE 'sqlite_%'")) {
      tables.insert(row[0]);
    }
    std::set<std::string> counted;
    for (const auto& [table, counts] : run.rows) counted.insert(table);
    CHECK(counted == tables);
  };

  // While the registry is open, most of the data is still in its WAL.
  REQUIRE(fs::exists(path.string() + "-wal"));
  REQUIRE(fs::file_size(path.string() + "-wal") > 0);
  check_dry_run("while the registry is open");
  reg.close();
  check_dry_run("after the registry is closed");
}

TEST_CASE("migrate: dry-run of a version-1 registry reports what the upgrade adds") {
  REQUIRE(latest() >= 2);
  test::TempDir dir;
  const auto path = dir / "registry.db";
  make_v1_registry(path);
  const DiskImage before = disk_image(path);

  const cairn::DryRun run = cairn::migrate_dry_run(path);
  CHECK(disk_image(path) == before);
  CHECK(other_files(dir.path(), "registry.db").empty());
  CHECK(test::query_value(path, "PRAGMA user_version") == "1");

  CHECK(run.from_version == 1);
  CHECK(run.to_version == latest());
  const std::set<std::string> added(run.added.begin(), run.added.end());
  CHECK(added.count("table subscriptions") == 1);
  CHECK(added.count("table torrents") == 1);
  // 0002 added change_log_by_at and 0004 dropped it again: not in the sum.
  CHECK(added.count("index change_log_by_at") == 0);
  if (latest() == 2) {
    CHECK(added == std::set<std::string>{"table subscriptions", "index change_log_by_at"});
    CHECK(run.altered.empty());
    CHECK(run.removed.empty());
  }
  using Counts = std::pair<std::int64_t, std::int64_t>;
  CHECK(run.rows.at("apps") == Counts{kV1Apps, kV1Apps});
  CHECK(run.rows.at("pools") == Counts{kV1Pools, kV1Pools});
  CHECK(run.rows.at("app_pools") == Counts{7, 7});
  CHECK(run.rows.at("change_log").first == kV1Revision);
  CHECK(run.rows.at("subscriptions") == Counts{0, 0});
  CHECK(run.rows.at("schema_migrations") == Counts{1, latest()});

  json j = run;
  CHECK(j["from_version"] == 1);
  CHECK(j["rows"]["schema_migrations"] == json{{"before", 1}, {"after", latest()}});
}

// ---- Concurrent migrators ------------------------------------------------------

namespace {

// How the children of one round reach the registry.
enum class Verb { open, migrate };

// Runs in a forked child: `verb` on `path`, then _exit(0), or _exit(1) after
// writing the error to `error_file`. Never returns.
[[noreturn]] void migrator_child(int start_fd, Verb verb, const fs::path& path,
                                 const fs::path& error_file) {
  char c;
  while (::read(start_fd, &c, 1) < 0) {
  }  // the parent closes the pipe: everyone starts at once
  int status = 0;
  try {
    if (verb == Verb::open) {
      auto reg = Registry::open(path);
      if (reg.schema_version() != latest()) throw std::runtime_error("not at the latest version");
      reg.close();
    } else {
      const auto result = cairn::migrate(path);
      if (result.to_version != latest()) throw std::runtime_error("migrate stopped early");
    }
  } catch (const std::exception& e) {
    try {
      test::write_bytes(error_file, e.what());
    } catch (...) {
    }
    status = 1;
  }
  ::_exit(status);
}

}  // namespace

TEST_CASE("migrate: a run waits for another run of the same file, then times out as busy") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  make_v1_registry(path);
  // Another process in the middle of a migration run holds its lock file.
  const fs::path lock_path = path.native() + "-migrate.lock";
  const int held = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(held >= 0);
  REQUIRE(::flock(held, LOCK_EX) == 0);
  // SQLite's own -wal and -shm come and go with connections; every other
  // file must stay as it is.
  const auto files = [&] {
    auto out = test::snapshot(dir.path());
    std::erase_if(out, [](const auto& entry) {
      return entry.first.ends_with("-wal") || entry.first.ends_with("-shm");
    });
    return out;
  };
  const auto before = files();

  cairn::Options options;
  options.busy_timeout_ms = 200;
  try {
    (void)Registry::open(path, options);
    FAIL("the open migrated while another run held the lock");
  } catch (const cairn::Error& e) {
    CHECK(e.code() == errc::busy);
    CHECK(std::string_view(e.what()).find(path.string()) != std::string_view::npos);
  }
  // Refused before anything was written: no pre-migration backup, no step.
  CHECK(files() == before);
  CHECK(test::query_value(path, "PRAGMA user_version") == "1");

  // Once the other run is done, the open migrates, reports the whole range
  // and leaves no lock file behind.
  ::close(held);
  {
    auto reg = Registry::open(path, options);
    CHECK(reg.schema_version() == latest());
    const auto events = reg.changes(1);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().topic == "schema.migrated");
    CHECK(*events.back().after == json{{"from", 1}, {"to", latest()}});
  }
  CHECK_FALSE(fs::exists(lock_path));
}

TEST_CASE("migrate: four processes migrating one file at once apply each migration once") {
  constexpr int kRounds = 20;
  constexpr int kChildren = 4;
  for (int round = 0; round < kRounds; ++round) {
    CAPTURE(round);
    test::TempDir dir;
    const auto path = dir / "registry.db";
    // Round kinds: a path with no file yet (four servers starting on a new
    // deployment), an empty file, and a version-1 registry with data.
    const int kind = round % 3;
    const std::string kind_name = kind == 0   ? "missing file"
                                  : kind == 1 ? "empty file"
                                              : "version-1 registry";
    CAPTURE(kind_name);
    if (kind == 1) test::write_bytes(path, "");
    if (kind == 2) make_v1_registry(path);

    // Not test::ForkedChild: closing one start pipe releases every child at once.
    int start[2];
    REQUIRE(::pipe(start) == 0);
    std::vector<pid_t> children;
    for (int i = 0; i < kChildren; ++i) {
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        ::close(start[1]);
        migrator_child(start[0], i % 2 == 0 ? Verb::open : Verb::migrate, path,
                       dir / ("child-" + std::to_string(i) + ".err"));
      }
      children.push_back(pid);
    }
    ::close(start[0]);
    ::close(start[1]);
    for (int i = 0; i < kChildren; ++i) {
      int status = 0;
      REQUIRE(::waitpid(children[static_cast<std::size_t>(i)], &status, 0) > 0);
      const auto error_file = dir / ("child-" + std::to_string(i) + ".err");
      const std::string error = fs::exists(error_file) ? test::read_bytes(error_file) : "";
      const bool succeeded = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      const std::string child =
          "child " + std::to_string(i) + (i % 2 == 0 ? " (Registry::open)" : " (migrate)");
      CHECK_MESSAGE(succeeded, child, ": ", error);
      fs::remove(error_file);
    }

    CHECK(history_versions(path) == all_versions());
    CHECK(test::query_value(path, "PRAGMA user_version") == std::to_string(latest()));
    const auto check = cairn::verify_schema(path);
    INFO("problems: ", json(check.problems).dump());
    CHECK(check.ok);
    CHECK(test::query_value(path, "PRAGMA integrity_check") == "ok");
    // The schema.migrated events say, together, that the registry went once
    // through each step from where it was: their from..to ranges follow each
    // other without overlap, up to the latest. (One process may have found a
    // new file at version 1, created by another one moments before.)
    const auto ranges = test::query(
        path,
        "SELECT json_extract(after, '$.from'), json_extract(after, '$.to') FROM change_log "
        "WHERE topic = 'schema.migrated' ORDER BY revision");
    std::string ranges_text;
    for (const auto& r : ranges) ranges_text += r[0] + "->" + r[1] + " ";
    if (kind == 2) {
      CHECK(test::query_value(path, "SELECT count(*) FROM apps") == std::to_string(kV1Apps));
      CHECK_FALSE(ranges.empty());
      if (!ranges.empty()) CHECK(ranges.front()[0] == "1");
    }
    bool one_chain = ranges.empty() || ranges.back()[1] == std::to_string(latest());
    for (std::size_t r = 0; r < ranges.size(); ++r) {
      one_chain = one_chain && std::stoi(ranges[r][0]) < std::stoi(ranges[r][1]) &&
                  (r == 0 || ranges[r][0] == ranges[r - 1][1]);
    }
    CHECK_MESSAGE(one_chain, "schema.migrated events (from->to): ", ranges_text);
    // Every pre-migration backup beside it is sound.
    for (const auto& name : other_files(dir.path(), "registry.db")) {
      if (!name.ends_with(".db")) continue;
      CAPTURE(name);
      CHECK(test::error_code_of([&] { cairn::verify_backup(dir / name); }) == errc::ok);
    }
  }
}
