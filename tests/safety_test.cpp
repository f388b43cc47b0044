// What cairn opens is input: paths with URI metacharacters, backups and
// registries whose schema was edited, restore targets that belong to someone
// else, directories of backups to prune, files that are only looked at.
//
// These were found by a hostile review (issue 17): a path holding '?', '#'
// or '%' named another file once pasted into a SQLite URI; a backup with an
// added trigger verified and restored; a refused restore had already
// replaced its target; prune removed every backup it could not open; `ls`
// on a backup changed its bytes. Each TEST_CASE covers one class.
#include <doctest/doctest.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

using cairn::App;
using cairn::errc;
using cairn::Registry;
using nlohmann::json;
using test::error_code_of;
using test::make_app;
using test::Recorder;
namespace fs = std::filesystem;

cairn::Options options() {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.backup_before_migrate = false;
  return o;
}

std::set<std::string> app_ids(Registry& reg) {
  std::set<std::string> out;
  for (const auto& a : reg.apps().list()) out.insert(a.id);
  return out;
}

// Names that mean something to a SQLite URI, a shell or a terminal.
const std::vector<std::string>& odd_names() {
  static const std::vector<std::string> names = {
      "a?b.db", "a#b.db", "a%b.db", "a%41.db", "a&b=c.db", "a b.db",  "a\nb.db",
      "-x.db",  "file:x.db", "file:a?mode=memory.db", "\xc3\xa9t\xc3\xa9.db", ":memory:",
      "x\xe2\x82.db"};  // the last is not UTF-8
  return names;
}

// The entries of a directory, recursively, as relative paths.
std::set<std::string> tree(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.insert(fs::relative(e.path(), dir).string());
  }
  return out;
}

// A registry with two apps, backed up to `backup`.
void make_backup(const fs::path& db, const fs::path& backup) {
  Registry reg = Registry::open(db, options());
  reg.apps().put(make_app("a1", {"p"}));
  reg.apps().put(make_app("a2", {"p"}));
  reg.backup(backup);
}

}  // namespace

// ---- 1. Paths are never SQLite URIs ------------------------------------------

TEST_CASE("paths: a registry, its backup and its restore are exactly the files named") {
  for (const std::string& name : odd_names()) {
    CAPTURE(name);
    test::TempDir dir;
    const fs::path db = dir / name;
    const fs::path backup = dir / ("bk-" + name);
    make_backup(db, backup);
    // Nothing but the registry, its -wal/-shm, and the backup pair.
    for (const auto& entry : tree(dir.path())) {
      CHECK((entry.starts_with(name) || entry.starts_with("bk-" + name)));
    }
    CHECK(fs::exists(db));
    CHECK(fs::exists(backup));
    CHECK(cairn::verify_backup(backup).last_revision == 2);

    // The backup verified is the one named: change it, and it is refused.
    const std::string good = test::read_bytes(backup);
    std::string bad = good;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x5a);
    test::write_bytes(backup, bad);
    CHECK(error_code_of([&] { cairn::verify_backup(backup); }) == errc::restore_refused);
    test::write_bytes(backup, good);

    const fs::path target = dir / ("restored-" + name);
    cairn::restore(backup, target);
    {
      Registry reg = Registry::open(target, options());
      CHECK(app_ids(reg) == std::set<std::string>{"a1", "a2"});
      reg.apps().put(make_app("a3", {"p"}));
      reg.restore_from(backup);
      CHECK(app_ids(reg) == std::set<std::string>{"a1", "a2"});
    }
    // Pruning a directory whose name holds the odd bytes keeps the good one.
    const fs::path sub = dir / ("dir-" + name);
    fs::create_directory(sub);
    make_backup(sub / "r.db", sub / "b1.db");
    CHECK(cairn::prune_backups(sub, 1).empty());
    CHECK(cairn::list_backups(sub).at(0).verified);
  }
}

TEST_CASE("paths: a relative name starting with file: is a file in the working directory") {
  test::TempDir dir;
  const fs::path cwd = fs::current_path();
  REQUIRE(::chdir(dir.path().c_str()) == 0);
  {
    Registry reg = Registry::open("file:x.db?mode=memory", options());
    reg.apps().put(make_app("a1", {"p"}));
  }
  CHECK(fs::exists(dir / "file:x.db?mode=memory"));
  {
    Registry reg = Registry::open("file:x.db?mode=memory", options());
    CHECK(app_ids(reg) == std::set<std::string>{"a1"});
  }
  REQUIRE(::chdir(cwd.c_str()) == 0);
}

// ---- 2. A backup or a registry is trusted only with cairn's exact schema ------

TEST_CASE("schema: an object cairn does not create, or a missing or altered one, is refused") {
  test::TempDir dir;
  const fs::path backup = dir / "b.db";
  make_backup(dir / "live.db", backup);
  const std::string original = test::read_bytes(backup);

  std::string sql, object;
  SUBCASE("an added trigger") {
    sql = "CREATE TRIGGER evil AFTER INSERT ON apps BEGIN DELETE FROM change_log; END;";
    object = "trigger evil";
  }
  SUBCASE("a trigger whose name a LIKE 'sqlite_%' filter would hide") {
    sql = "CREATE TRIGGER sqlitex AFTER INSERT ON apps BEGIN DELETE FROM apps; END;";
    object = "trigger sqlitex";
  }
  SUBCASE("a trigger named like SQLite's own, planted through writable_schema") {
    sql = "PRAGMA writable_schema = ON; INSERT INTO sqlite_master VALUES ('trigger', "
          "'sqlite_evil', 'apps', 0, 'CREATE TRIGGER sqlite_evil AFTER INSERT ON apps BEGIN "
          "DELETE FROM apps; END'); PRAGMA writable_schema = OFF;";
    object = "trigger sqlite_evil";
  }
  SUBCASE("an added view") {
    sql = "CREATE VIEW peek AS SELECT * FROM apps;";
    object = "view peek";
  }
  SUBCASE("an added index") {
    sql = "CREATE INDEX extra ON apps (meta);";
    object = "index extra";
  }
  SUBCASE("an added table") {
    sql = "CREATE TABLE stash (x);";
    object = "table stash";
  }
  SUBCASE("a dropped index") {
    const auto rows = test::query(backup, "SELECT name FROM sqlite_master WHERE type = 'index' "
                                          "AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 1");
    REQUIRE(!rows.empty());
    sql = "DROP INDEX " + rows[0][0] + ";";
    object = "index " + rows[0][0];
  }
  test::exec_sql(backup, sql + "PRAGMA journal_mode = DELETE;");
  test::write_matching_manifest(backup, cairn::latest_schema_version());
  CAPTURE(object);

  // verify, restore and restore_from refuse it, naming the object.
  const auto verify_error = test::error_of([&] { cairn::verify_backup(backup); });
  REQUIRE(verify_error.has_value());
  CHECK(verify_error->code() == errc::restore_refused);
  CHECK(test::contains(verify_error->what(), object));

  const fs::path target = dir / "target.db";
  make_backup(target, dir / "unused.db");
  const auto before = test::snapshot(dir.path());
  CHECK(error_code_of([&] { cairn::restore(backup, target); }) == errc::restore_refused);
  CHECK(test::snapshot(dir.path()) == before);
  {
    Registry reg = Registry::open(target, options());
    CHECK(error_code_of([&] { reg.restore_from(backup); }) == errc::restore_refused);
    CHECK(app_ids(reg) == std::set<std::string>{"a1", "a2"});
  }

  // Opened as a registry, it is refused before anything runs.
  const fs::path as_registry = dir / "edited.db";
  fs::copy_file(backup, as_registry);
  const auto open_error = test::error_of([&] { Registry::open(as_registry, options()); });
  REQUIRE(open_error.has_value());
  CHECK(open_error->code() == errc::not_a_registry);
  CHECK(test::contains(open_error->what(), object));
  CHECK(test::read_bytes(as_registry) == test::read_bytes(backup));
  CHECK(original != test::read_bytes(backup));
}

TEST_CASE("schema: cairn check reports drift, broken CHECK constraints and foreign keys") {
  test::TempDir dir;
  const fs::path db = dir / "r.db";
  {
    Registry reg = Registry::open(db, options());
    reg.apps().put(make_app("a1", {"p"}));
  }
  const std::string cli = CAIRN_CLI_PATH;
  const auto check = [&] {
    return test::run_command(cli + " --db " + test::shell_quote(db.string()) + " check 2>&1");
  };
  CHECK(check().exit_code == 0);
  test::exec_sql(db, "CREATE TRIGGER evil AFTER INSERT ON apps BEGIN SELECT 1; END;");
  const auto drift = check();
  CHECK(drift.exit_code == 6);
  CHECK(test::contains(drift.output, "trigger evil"));
}

// ---- 3. A refused restore leaves the target exactly as it was -----------------

TEST_CASE("restore: every refusal leaves the target's bytes, -wal and records as they were") {
  test::TempDir dir;
  const fs::path good = dir / "good.db";
  make_backup(dir / "source.db", good);
  const fs::path bad = dir / "bad.db";
  fs::copy_file(good, bad);
  fs::copy_file(cairn::manifest_path(good), cairn::manifest_path(bad));

  // A live target with a -wal that holds committed data.
  const fs::path target = dir / "target" / "registry.db";
  cairn::Options keep_wal = options();
  keep_wal.journal_size_limit = 1 << 30;
  {
    Registry reg = Registry::open(target, keep_wal);
    reg.apps().put(make_app("t1", {"p"}));
  }
  std::string problem;
  SUBCASE("a manifest that is not JSON") {
    test::write_bytes(cairn::manifest_path(bad), "{not json");
    problem = "manifest";
  }
  SUBCASE("a hash that does not match") {
    json m = json::parse(test::read_bytes(cairn::manifest_path(bad)));
    m["sha256"] = std::string(64, '0');
    test::write_bytes(cairn::manifest_path(bad), m.dump());
    problem = "SHA-256";
  }
  SUBCASE("a foreign application_id") {
    test::exec_sql(bad, "PRAGMA application_id = 42;");
    test::write_matching_manifest(bad, cairn::latest_schema_version());
    problem = "application_id";
  }
  SUBCASE("a foreign schema") {
    test::exec_sql(bad, "CREATE TABLE other (x);");
    test::write_matching_manifest(bad, cairn::latest_schema_version());
    problem = "table other";
  }
  SUBCASE("a newer schema") {
    test::exec_sql(bad, "PRAGMA user_version = 999;");
    test::write_matching_manifest(bad, 999);
    problem = "newer";
  }
  const auto before = test::snapshot(target.parent_path());
  const auto error = test::error_of([&] { cairn::restore(bad, target); });
  REQUIRE(error.has_value());
  CHECK(error->code() == errc::restore_refused);
  CHECK(test::contains(error->what(), problem));
  CHECK(test::snapshot(target.parent_path()) == before);
  Registry reg = Registry::open(target, options());
  CHECK(app_ids(reg) == std::set<std::string>{"t1"});
}

TEST_CASE("restore: a target held open, or of another application, is refused untouched") {
  test::TempDir dir;
  const fs::path good = dir / "good.db";
  make_backup(dir / "source.db", good);
  const fs::path target = dir / "t" / "other-app.db";
  fs::create_directories(target.parent_path());

  SUBCASE("another application's SQLite file needs force") {
    test::exec_sql(target, "CREATE TABLE mine (x); INSERT INTO mine VALUES (1);"
                           "PRAGMA application_id = 7;");
    const auto before = test::snapshot(target.parent_path());
    const auto error = test::error_of([&] { cairn::restore(good, target); });
    REQUIRE(error.has_value());
    CHECK(error->code() == errc::restore_refused);
    CHECK(test::contains(error->what(), "another application"));
    CHECK(test::snapshot(target.parent_path()) == before);
    cairn::RestoreOptions forced;
    forced.force = true;
    forced.keep_replaced = false;
    cairn::restore(good, target, forced);
    Registry reg = Registry::open(target, options());
    CHECK(app_ids(reg) == std::set<std::string>{"a1", "a2"});
  }
  SUBCASE("a registry open in this process") {
    Registry live = Registry::open(target, options());
    live.apps().put(make_app("t1", {"p"}));
    const std::string bytes = test::read_bytes(target);
    CHECK(error_code_of([&] { cairn::restore(good, target); }) == errc::restore_refused);
    CHECK(test::read_bytes(target) == bytes);
    CHECK(app_ids(live) == std::set<std::string>{"t1"});
  }
}

TEST_CASE("restore_from: no subscriber takes the backup's history for new writes") {
  test::TempDir dir;
  const fs::path db = dir / "live.db";
  Registry reg = Registry::open(db, options());
  for (int i = 1; i <= 10; ++i) reg.apps().put(make_app("a" + std::to_string(i), {"p"}));
  reg.backup(dir / "b.db");  // the backup's history: revisions 1..11
  {
    // A named subscription handles everything up to 25.
    for (int i = 11; i <= 24; ++i) reg.config().save("k" + std::to_string(i), i);
    Recorder first;
    cairn::SubscribeOptions named;
    named.name = "indexer";
    named.from = 1;
    auto sub = reg.subscribe({}, first.handler(), named);
    REQUIRE(reg.wait_for(reg.revision()));
    sub = cairn::Subscription();  // stores its position
  }
  const cairn::Revision handled = reg.revision();
  REQUIRE(handled >= 25);

  Recorder live;
  auto live_sub = reg.subscribe({}, live.handler());
  reg.restore_from(dir / "b.db");
  const cairn::Revision after = reg.revision();
  REQUIRE(reg.wait_for(after));
  const auto live_events = live.events();
  REQUIRE(live_events.size() == 2);
  CHECK(live_events[0].op == cairn::Op::resync_required);
  CHECK(live_events[1].topic == "registry.restored");

  // The named subscription resumes with a resync, never with revisions it
  // handled before (12..25 of the old history).
  Recorder resumed;
  cairn::SubscribeOptions named;
  named.name = "indexer";
  auto sub = reg.subscribe({}, resumed.handler(), named);
  reg.apps().put(make_app("new", {"p"}));
  REQUIRE(reg.wait_for(reg.revision()));
  const auto events = resumed.events();
  REQUIRE(!events.empty());
  CHECK(events.front().op == cairn::Op::resync_required);
  for (const auto& e : events) {
    if (e.op != cairn::Op::resync_required) CHECK(e.revision > handled);
  }
  CHECK(events.back().id == "new");
}

// ---- 4. Prune and rotation never remove the only good copies -------------------

TEST_CASE("prune: only verified backups beyond keep go; the others are reported, not removed") {
  test::TempDir dir;
  const fs::path backups = dir / "backups#1";
  fs::create_directories(backups);
  Registry reg = Registry::open(dir / "live.db", options());
  for (int i = 1; i <= 4; ++i) {
    reg.apps().put(make_app("a" + std::to_string(i), {"p"}));
    reg.backup(backups / ("b" + std::to_string(i) + ".db"));
    ::usleep(2000);  // distinct created_at
  }
  // One is altered after it was made, one lost its file (an orphan manifest).
  {
    std::string bytes = test::read_bytes(backups / "b1.db");
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
    test::write_bytes(backups / "b1.db", bytes);
  }
  fs::copy_file(cairn::manifest_path(backups / "b2.db"), cairn::manifest_path(backups / "b9.db"));

  CHECK(error_code_of([&] { cairn::prune_backups(backups, 0); }) == errc::invalid_argument);
  const auto before = test::snapshot(backups);
  const auto would = cairn::prune_backups(backups, 2, /*dry_run=*/true);
  CHECK(test::snapshot(backups) == before);
  const std::set<fs::path> expected = {backups / "b2.db", cairn::manifest_path(backups / "b9.db")};
  CHECK(std::set<fs::path>(would.begin(), would.end()) == expected);
  const auto removed = cairn::prune_backups(backups, 2);
  CHECK(std::set<fs::path>(removed.begin(), removed.end()) == expected);
  CHECK_FALSE(fs::exists(cairn::manifest_path(backups / "b2.db")));
  CHECK(fs::exists(backups / "b1.db"));  // unverifiable: kept for a person to look at
  CHECK(fs::exists(backups / "b3.db"));
  CHECK(fs::exists(backups / "b4.db"));
  // Fewer verified than keep: nothing goes.
  CHECK(cairn::prune_backups(backups, 5).empty());
}

TEST_CASE("backup: an existing name is refused unless overwrite, and the old pair stays good") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "live.db", options());
  reg.apps().put(make_app("a1", {"p"}));
  const fs::path dest = dir / "b.db";
  reg.backup(dest);
  const auto before = test::snapshot(dir.path());
  CHECK(error_code_of([&] { reg.backup(dest); }) == errc::backup_failed);
  CHECK(test::read_bytes(dest) == before.at("b.db"));
  reg.apps().put(make_app("a2", {"p"}));
  cairn::BackupOptions overwrite;
  overwrite.overwrite = true;
  const cairn::Revision now = reg.revision();
  CHECK(reg.backup(dest, overwrite).last_revision == now);
  CHECK(cairn::verify_backup(dest).last_revision == now);
  CHECK_FALSE(fs::exists(dest.string() + ".previous"));
}

// A kill between an overwrite's two renames (the new manifest in place, the
// old file still under the name) is laid out by hand: the pair at the name
// then fails to verify, and the message points at the whole pair kept aside.
TEST_CASE("backup: an overwrite cut between its renames keeps a whole previous pair") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "live.db", options());
  reg.apps().put(make_app("a1", {"p"}));
  const fs::path dest = dir / "b.db";
  const fs::path previous = dir / "b.db.previous";
  reg.backup(dest);
  const cairn::Revision old_revision = cairn::verify_backup(dest).last_revision;
  reg.apps().put(make_app("a2", {"p"}));
  const fs::path newer = dir / "newer.db";
  reg.backup(newer);
  fs::create_hard_link(dest, previous);
  fs::create_hard_link(cairn::manifest_path(dest), cairn::manifest_path(previous));
  fs::remove(cairn::manifest_path(dest));
  fs::copy_file(cairn::manifest_path(newer), cairn::manifest_path(dest));

  try {
    cairn::verify_backup(dest);
    FAIL("a mismatched pair verified");
  } catch (const cairn::Error& e) {
    CHECK(e.code_value() == errc::restore_refused);
    CHECK(test::contains(e.what(), previous.string()));
  }
  CHECK(cairn::verify_backup(previous).last_revision == old_revision);

  // The next overwrite keeps the whole previous pair aside, not the broken
  // one, until its own pair is in place.
  const auto previous_bytes = test::read_bytes(previous);
  reg.apps().put(make_app("a3", {"p"}));
  cairn::BackupOptions overwrite;
  overwrite.overwrite = true;
  overwrite.progress = [&](std::int64_t, std::int64_t) {
    CHECK(test::read_bytes(previous) == previous_bytes);
    return true;
  };
  const cairn::Revision backed_up = reg.revision();
  CHECK(reg.backup(dest, overwrite).last_revision == backed_up);
  CHECK(cairn::verify_backup(dest).last_revision == backed_up);
  CHECK_FALSE(fs::exists(previous));
}

// ---- 5. Looking never writes ----------------------------------------------------

TEST_CASE("read-only: opening never writes, and refuses what it would have to write") {
  test::TempDir dir;
  SUBCASE("a missing file is not created") {
    cairn::Options ro = options();
    ro.read_only = true;
    CHECK(error_code_of([&] { Registry::open(dir / "none.db", ro); }) == errc::not_found);
    CHECK(tree(dir.path()).empty());
    cairn::Options no_create = options();
    no_create.create_if_missing = false;
    CHECK(error_code_of([&] { Registry::open(dir / "none.db", no_create); }) == errc::not_found);
    CHECK(tree(dir.path()).empty());
  }
  SUBCASE("an empty file stays empty") {
    test::write_bytes(dir / "empty.db", "");
    cairn::Options ro = options();
    ro.read_only = true;
    CHECK(error_code_of([&] { Registry::open(dir / "empty.db", ro); }) == errc::not_found);
    CHECK(fs::file_size(dir / "empty.db") == 0);
    CHECK(tree(dir.path()) == std::set<std::string>{"empty.db"});
  }
  SUBCASE("a backup read through the library keeps its SHA-256") {
    make_backup(dir / "live.db", dir / "b.db");
    const std::string sha = test::sha256_of(dir / "b.db");
    cairn::Options ro = options();
    ro.read_only = true;
    {
      Registry reg = Registry::open(dir / "b.db", ro);
      CHECK(app_ids(reg) == std::set<std::string>{"a1", "a2"});
      CHECK(reg.stats().apps == 2);
      CHECK(error_code_of([&] { reg.apps().put(make_app("x", {"p"})); }) == errc::read_only);
      CHECK(error_code_of([&] { reg.backup(dir / "again.db"); }) == errc::read_only);
      CHECK(error_code_of([&] { reg.kv("ns").put("k", "v"); }) == errc::read_only);
      Recorder r;
      auto sub = reg.subscribe({}, r.handler());
    }
    CHECK(test::sha256_of(dir / "b.db") == sha);
    CHECK(cairn::verify_backup(dir / "b.db").last_revision == 2);
  }
  SUBCASE("a registry that needs migrating is refused, naming both versions") {
    cairn::MigrateOptions to_v1;
    to_v1.to = 1;
    to_v1.backup_first = false;
    cairn::migrate(dir / "old.db", to_v1);
    const std::string bytes = test::read_bytes(dir / "old.db");
    cairn::Options ro = options();
    ro.read_only = true;
    const auto error = test::error_of([&] { Registry::open(dir / "old.db", ro); });
    REQUIRE(error.has_value());
    CHECK(error->code() == errc::migration_failed);
    CHECK(test::contains(error->what(), "version 1"));
    CHECK(test::contains(error->what(), std::to_string(cairn::latest_schema_version())));
    CHECK(test::read_bytes(dir / "old.db") == bytes);
  }
}
