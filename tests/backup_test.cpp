// Backup, verify and restore (DESIGN.md section 9): a backup is a standalone
// registry with a manifest; a cancel leaves nothing behind, and temp files of
// dead processes are cleaned up; files are private; restore refuses untrusted
// input and live targets with the target untouched byte for byte, keeps the
// replaced database aside, migrates older backups forward, and works in place
// on a live Registry; scheduled backups rotate.
//
// Forked children run only while this process is single-threaded and has no
// database open (SQLite state must not cross a fork).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

using cairn::App;
using cairn::errc;
using cairn::Registry;
using nlohmann::json;
using test::error_code_of;
using test::error_of;
using test::make_app;
using test::Recorder;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kCairnApplicationId = 0x63616972;  // "cair"

cairn::Options options() {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.actor = "backup-test";
  return o;
}

// A meta of `bytes` filler bytes: apps of a chosen size.
json blob_meta(std::size_t bytes) { return json{{"blob", std::string(bytes, 'm')}}; }

// A closed registry at `path` holding apps <prefix>-0 .. <prefix>-(n-1).
std::set<std::string> make_registry(const fs::path& path, const std::string& prefix, int n,
                                    std::size_t meta_bytes = 16) {
  std::set<std::string> ids;
  Registry reg = Registry::open(path, options());
  reg.transact([&](cairn::Tx& tx) {
    for (int i = 0; i < n; ++i) {
      const std::string id = prefix + "-" + std::to_string(i);
      tx.apps().put(make_app(id, {"p"}, blob_meta(meta_bytes)));
      ids.insert(id);
    }
  });
  return ids;
}

// The app ids of a SQLite file, read with the sqlite3 C API.
std::set<std::string> app_ids_in(const fs::path& db) {
  std::set<std::string> ids;
  for (const auto& row : test::query(db, "SELECT id FROM apps")) ids.insert(row.at(0));
  return ids;
}

std::set<std::string> app_ids_of(Registry& reg) {
  std::set<std::string> ids;
  for (const auto& a : reg.apps().list()) ids.insert(a.id);
  return ids;
}

std::string integrity_of(const fs::path& db) {
  std::string out;
  for (const auto& row : test::query(db, "PRAGMA integrity_check")) out += row.at(0);
  return out;
}

// The SHA-256 of a file, by the system's sha256sum: there is no public helper,
// and an independent implementation checks the library's manifest too.
json read_json(const fs::path& file) { return json::parse(test::read_bytes(file)); }


std::vector<std::string> temp_files_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& name : test::dir_entries(dir)) {
    if (name.ends_with(".tmp")) out.push_back(name);
  }
  return out;
}

std::vector<std::string> names_containing(const fs::path& dir, std::string_view part) {
  std::vector<std::string> out;
  for (const auto& name : test::dir_entries(dir)) {
    if (test::contains(name, part)) out.push_back(name);
  }
  return out;
}

// The size of db-wal, 0 when there is none. (A restore may leave an empty
// -wal and -shm of the restored file: its last close is a read-only
// connection's, which cannot remove them.)
std::uintmax_t wal_bytes(const fs::path& db) {
  const fs::path wal = db.string() + "-wal";
  return fs::exists(wal) ? fs::file_size(wal) : 0;
}

void flip_byte(const fs::path& file, std::size_t offset) {
  std::string bytes = test::read_bytes(file);
  REQUIRE(offset < bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
  test::write_bytes(file, bytes);
}

// Sets the process umask for one test and restores it afterwards.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;
  ~UmaskGuard() { ::umask(old_); }

 private:
  mode_t old_;
};

// A pid that belonged to a process which has exited (and been reaped).
pid_t dead_pid() {
  test::ForkedChild child([](int, int) { return 0; });
  REQUIRE(child.wait() == 0);
  return child.pid();
}

// Another process opens `db`, commits app `id`, and dies without closing: the
// commit stays in db-wal (with db-shm), as after a crash.
void commit_then_crash_in_child(const fs::path& db, const std::string& id) {
  test::ForkedChild child([&](int, int) -> int {
    Registry reg = Registry::open(db, options());
    reg.apps().put(make_app(id, {"p"}));
    ::_exit(0);  // no close: no checkpoint, the -wal stays
  });
  REQUIRE(child.wait() == 0);
  REQUIRE(fs::exists(db.string() + "-wal"));
  REQUIRE(fs::file_size(db.string() + "-wal") > 0);
}

// Another process that holds `db` open with a Registry until release().
class HeldOpenByChild {
 public:
  explicit HeldOpenByChild(const fs::path& db)
      : child_([&db](int let_go, int ready) {
          Registry reg = Registry::open(db, options());
          if (!test::write_byte(ready, 'r')) return 2;
          test::read_byte(let_go);  // a byte or EOF: let go
          reg.close();
          return 0;
        }) {
    child_.wait_ready("the child could not open the registry");
  }

  // Lets the child close the registry and exit; returns its exit code.
  int release() {
    child_.close_input();
    return child_.wait();
  }

 private:
  test::ForkedChild child_;
};

cairn::Filter registry_events() {
  cairn::Filter f;
  f.kinds = {cairn::Kind::registry};
  return f;
}

std::vector<cairn::Event> backup_events(const Registry& reg) {
  std::vector<cairn::Event> out;
  for (auto& e : reg.changes(0)) {
    if (e.topic == "backup.created") out.push_back(std::move(e));
  }
  return out;
}

const std::regex kBackupName(R"(registry-\d{8}T\d{6}\.\d{3}Z\.db)");

}  // namespace

// ---- Taking a backup ------------------------------------------------------------

TEST_CASE("backup: a backup is a standalone registry with the same content and a manifest") {
  test::TempDir dir;
  test::TestClock clock(1'800'000'000'000);
  cairn::Options o = options();
  o.clock = clock.fn();
  Registry reg = Registry::open(dir / "live.db", o);
  reg.transact([&](cairn::Tx& tx) {
    for (int i = 0; i < 20; ++i) {
      tx.apps().put(make_app("app-" + std::to_string(i), {"p"}, blob_meta(300)));
    }
    cairn::Pool p;
    p.name = "p";
    tx.pools().put(p);
    tx.config().save("answer", 42);
  });
  const cairn::Revision revision = reg.revision();
  const fs::path dest = dir / "backups" / "one.db";

  const cairn::BackupInfo info = reg.backup(dest);

  CHECK(info.path == dest);
  CHECK(info.manifest == dir / "backups" / "one.db.manifest.json");
  CHECK(cairn::manifest_path(dest) == info.manifest);
  REQUIRE(fs::is_regular_file(dest));
  REQUIRE(fs::is_regular_file(info.manifest));

  SUBCASE("the file is a standalone SQLite database: no -wal, same content") {
    CHECK_FALSE(fs::exists(dest.string() + "-wal"));
    CHECK(test::query_value(dest, "PRAGMA journal_mode") == "delete");
    CHECK(std::stoll(test::query_value(dest, "PRAGMA application_id")) == kCairnApplicationId);
    CHECK(std::stoi(test::query_value(dest, "PRAGMA user_version")) ==
          cairn::latest_schema_version());
    CHECK(integrity_of(dest) == "ok");
    CHECK(app_ids_in(dest) == app_ids_of(reg));
    CHECK(test::query_value(dest, "SELECT count(*) FROM pools") == "1");
    CHECK(test::query_value(dest, "SELECT max(revision) FROM change_log") ==
          std::to_string(revision));
  }

  SUBCASE("the manifest states the file's hash, size, schema, revision, time and version") {
    const json m = read_json(info.manifest);
    CHECK(m.at("sha256").get<std::string>() == test::sha256_of(dest));
    CHECK(m.at("size").get<std::int64_t>() == static_cast<std::int64_t>(fs::file_size(dest)));
    CHECK(m.at("schema_version").get<int>() == cairn::latest_schema_version());
    CHECK(m.at("last_revision").get<cairn::Revision>() == revision);
    CHECK(m.at("created_at").get<cairn::Timestamp>() == clock.now());
    CHECK(m.at("cairn_version").get<std::string>() == cairn::version());

    CHECK(info.sha256 == m.at("sha256").get<std::string>());
    CHECK(info.size == m.at("size").get<std::int64_t>());
    CHECK(info.schema_version == cairn::latest_schema_version());
    CHECK(info.last_revision == revision);
    CHECK(info.created_at == clock.now());
    CHECK(info.cairn_version == cairn::version());
  }

  SUBCASE("verify_backup passes and reads the manifest back") {
    const cairn::BackupInfo verified = cairn::verify_backup(dest);
    CHECK(verified.sha256 == info.sha256);
    CHECK(verified.size == info.size);
    CHECK(verified.schema_version == info.schema_version);
    CHECK(verified.last_revision == info.last_revision);
    CHECK(verified.created_at == info.created_at);
    CHECK(verified.cairn_version == info.cairn_version);
  }

  SUBCASE("restored, it opens as a registry with the same records") {
    const auto restored = cairn::restore(dest, dir / "restored" / "copy.db");
    CHECK(restored.last_revision == revision);
    Registry copy = Registry::open(dir / "restored" / "copy.db", options());
    const auto theirs = copy.apps().list();
    const auto ours = reg.apps().list();
    REQUIRE(theirs.size() == ours.size());
    for (std::size_t i = 0; i < ours.size(); ++i)
      CHECK(test::image(theirs[i]) == test::image(ours[i]));
    CHECK(copy.config().load("answer") == std::optional<json>(42));
    CHECK(copy.integrity_check() == std::vector<std::string>{"ok"});
  }
}

TEST_CASE("backup: backup.created is in the change log and reaches subscribers") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "live.db", options());
  reg.apps().put(make_app("a", {"p"}));
  Recorder recorder;
  auto sub = reg.subscribe(registry_events(), recorder.handler());
  const cairn::Revision before = reg.revision();

  const auto info = reg.backup(dir / "b.db");

  CHECK(reg.revision() == before + 1);
  const auto events = test::events_at(reg, before + 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == cairn::Kind::registry);
  CHECK(events[0].op == cairn::Op::backed_up);
  CHECK(events[0].topic == "backup.created");
  CHECK(events[0].id == (dir / "b.db").string());
  CHECK(events[0].actor == "backup-test");

  REQUIRE(reg.wait_for(reg.revision()));
  const auto delivered = recorder.events();
  REQUIRE(delivered.size() == 1);
  CHECK(delivered[0].op == cairn::Op::backed_up);
  CHECK(delivered[0].revision == before + 1);

  const auto stats = reg.stats();
  CHECK(stats.last_backup_path == (dir / "b.db").string());
  CHECK(stats.last_backup_at == info.created_at);
}

TEST_CASE("backup: progress grows step by step and ends at the total") {
  test::TempDir dir;
  make_registry(dir / "live.db", "app", 400, 2000);
  Registry reg = Registry::open(dir / "live.db", options());
  std::vector<std::pair<std::int64_t, std::int64_t>> calls;
  cairn::BackupOptions bo;
  bo.pages_per_step = 8;
  bo.progress = [&](std::int64_t copied, std::int64_t total) {
    calls.emplace_back(copied, total);
    return true;
  };

  reg.backup(dir / "b.db", bo);

  const auto total = std::stoll(test::query_value(dir / "b.db", "PRAGMA page_count"));
  REQUIRE(total > 100);
  REQUIRE(calls.size() >= static_cast<std::size_t>(total / 8));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    CAPTURE(i);
    CHECK(calls[i].second == total);
    CHECK(calls[i].first > 0);
    CHECK(calls[i].first <= calls[i].second);
    if (i > 0) CHECK(calls[i].first > calls[i - 1].first);
  }
  CHECK(calls.back().first == total);
}

TEST_CASE("backup: a cancel leaves no file under the final name and no temp file") {
  test::TempDir dir;
  make_registry(dir / "live.db", "app", 300, 2000);
  Registry reg = Registry::open(dir / "live.db", options());
  const fs::path backups = dir / "backups";
  fs::create_directory(backups);
  const fs::path dest = backups / "b.db";
  int cancel_at = 0;
  SUBCASE("at the first step") { cancel_at = 1; }
  SUBCASE("midway") { cancel_at = 5; }
  const cairn::Revision before = reg.revision();
  int calls = 0;
  cairn::BackupOptions bo;
  bo.pages_per_step = 16;
  bo.progress = [&](std::int64_t, std::int64_t) { return ++calls < cancel_at; };

  const auto e = error_of([&] { reg.backup(dest, bo); });

  REQUIRE(e.has_value());
  CHECK(test::code(*e) == errc::backup_failed);
  CHECK(test::contains(e->what(), dest.string()));
  CHECK(calls == cancel_at);
  CHECK(test::dir_entries(backups).empty());
  CHECK(reg.revision() == before);  // no backup.created
  CHECK(reg.stats().last_backup_path.empty());

  // The registry is fine and the next backup succeeds.
  reg.backup(dest);
  CHECK(cairn::verify_backup(dest).last_revision == before);
  CHECK(temp_files_in(backups).empty());
}

TEST_CASE("backup: stale temp files of dead processes are removed, live ones are not") {
  test::TempDir dir;
  make_registry(dir / "live.db", "app", 3);
  const fs::path backups = dir / "backups";
  fs::create_directory(backups);
  const std::string stale = ".cairn-" + std::to_string(dead_pid()) + "-0.tmp";
  // This process is alive: a temp file with its pid may be a backup in progress.
  const std::string live = ".cairn-" + std::to_string(::getpid()) + "-99999.tmp";

  SUBCASE("by the next backup") {
    test::write_bytes(backups / stale, "half a backup");
    test::write_bytes(backups / live, "a backup in progress");
    Registry reg = Registry::open(dir / "live.db", options());
    reg.backup(backups / "b.db");
    CHECK_FALSE(fs::exists(backups / stale));
    CHECK(fs::exists(backups / live));
  }
  SUBCASE("by the next restore into that directory") {
    {
      Registry reg = Registry::open(dir / "live.db", options());
      reg.backup(backups / "b.db");
    }
    const fs::path target_dir = dir / "target";
    fs::create_directory(target_dir);
    test::write_bytes(target_dir / stale, "half a restore");
    test::write_bytes(target_dir / live, "a restore in progress");
    cairn::restore(backups / "b.db", target_dir / "t.db");
    CHECK_FALSE(fs::exists(target_dir / stale));
    CHECK(fs::exists(target_dir / live));
  }
}

TEST_CASE("backup: backups, manifests, restored files and new directories are private") {
  mode_t mask = 0;
  SUBCASE("umask 0") { mask = 0; }
  SUBCASE("umask 022") { mask = 022; }
  CAPTURE(mask);
  test::TempDir dir;
  UmaskGuard umask_guard(mask);
  Registry reg = Registry::open(dir / "live.db", options());
  reg.apps().put(make_app("a", {"p"}));

  const fs::path dest = dir / "new" / "sub" / "b.db";
  reg.backup(dest);
  CHECK(test::file_mode(dir / "new") == 0700u);
  CHECK(test::file_mode(dir / "new" / "sub") == 0700u);
  CHECK(test::file_mode(dest) == 0600u);
  CHECK(test::file_mode(cairn::manifest_path(dest)) == 0600u);

  const fs::path target = dir / "other" / "deeper" / "t.db";
  cairn::restore(dest, target);
  CHECK(test::file_mode(dir / "other") == 0700u);
  CHECK(test::file_mode(dir / "other" / "deeper") == 0700u);
  CHECK(test::file_mode(target) == 0600u);
}

TEST_CASE("backup: backup_file_name is <name>-<UTC time>.db") {
  CHECK(cairn::backup_file_name("registry", 1'700'000'000'123) ==
        "registry-20231114T221320.123Z.db");
  CHECK(cairn::backup_file_name("reg", 1'700'000'000'005) == "reg-20231114T221320.005Z.db");
  CHECK(std::regex_match(cairn::backup_file_name("registry", 1'800'000'000'000), kBackupName));
}

// ---- Restore refuses, with the target untouched -----------------------------------

TEST_CASE("restore: refuses untrusted input and leaves the target untouched byte for byte") {
  test::TempDir dir;
  const fs::path good = dir / "backups" / "good.db";
  const std::set<std::string> backup_ids = make_registry(dir / "source.db", "new", 5);
  {
    Registry source = Registry::open(dir / "source.db", options());
    source.backup(good);
  }
  const fs::path target_dir = dir / "target";
  const fs::path target = target_dir / "t.db";
  std::set<std::string> target_ids = make_registry(target, "old", 5);
  // The target's last commit lives only in its -wal, as after a crash.
  commit_then_crash_in_child(target, "old-in-wal");
  target_ids.insert("old-in-wal");
  const auto before = test::snapshot(target_dir);
  REQUIRE(before.count("t.db-wal") == 1);

  fs::path bad = dir / "backups" / "bad.db";
  std::string problem;  // a word the refusal must name
  SUBCASE("a missing backup file") {
    bad = dir / "backups" / "missing.db";
    problem = "does not exist";
  }
  SUBCASE("an empty file") {
    test::write_bytes(bad, "");
    test::write_matching_manifest(bad, cairn::latest_schema_version());
    problem = "empty";
  }
  SUBCASE("a text file") {
    test::write_bytes(bad, "name,size\nregistry,42\n");
    test::write_matching_manifest(bad, cairn::latest_schema_version());
    problem = "not a SQLite database";
  }
  SUBCASE("a good backup without its manifest") {
    fs::copy_file(good, bad);
    problem = "manifest";
  }
  SUBCASE("a SQLite file of another application, with a manifest that matches") {
    test::exec_sql(bad,
                   "CREATE TABLE apps (id TEXT PRIMARY KEY); INSERT INTO apps VALUES ('x');"
                   "PRAGMA application_id = 42;");
    test::write_matching_manifest(bad, cairn::latest_schema_version());
    REQUIRE(test::query_value(bad, "PRAGMA application_id") == "42");
    problem = "application_id";
  }
  SUBCASE("a backup whose bytes changed after it was taken") {
    fs::copy_file(good, bad);
    fs::copy_file(cairn::manifest_path(good), cairn::manifest_path(bad));
    flip_byte(bad, static_cast<std::size_t>(fs::file_size(bad) / 2));
    problem = "SHA-256";
  }
  SUBCASE("a backup from a newer schema, with a manifest that matches") {
    fs::copy_file(good, bad);
    test::exec_sql(bad, "PRAGMA user_version = 999");
    REQUIRE(test::query_value(bad, "PRAGMA user_version") == "999");
    REQUIRE_FALSE(fs::exists(bad.string() + "-wal"));
    test::write_matching_manifest(bad, 999);
    problem = "999";
  }
  CAPTURE(problem);

  const auto verify_error = error_of([&] { cairn::verify_backup(bad); });
  REQUIRE(verify_error.has_value());
  CHECK(test::code(*verify_error) == errc::restore_refused);
  CHECK(test::contains(verify_error->what(), problem));

  const auto e = error_of([&] { cairn::restore(bad, target); });
  REQUIRE(e.has_value());
  CHECK(test::code(*e) == errc::restore_refused);
  CHECK(test::contains(e->what(), bad.filename().string()));
  CHECK(test::contains(e->what(), problem));
  CHECK(test::snapshot(target_dir) == before);

  // The same target takes a good backup: the refusal was about the input.
  cairn::restore(good, target);
  CHECK(app_ids_in(target) == backup_ids);
}

TEST_CASE("restore: refuses a target that a live process holds open") {
  test::TempDir dir;
  const fs::path good = dir / "backups" / "good.db";
  const std::set<std::string> backup_ids = make_registry(dir / "source.db", "new", 5);
  {
    Registry source = Registry::open(dir / "source.db", options());
    source.backup(good);
  }
  const fs::path target_dir = dir / "target";
  const fs::path target = target_dir / "t.db";
  const std::set<std::string> target_ids = make_registry(target, "old", 5);

  SUBCASE("another process") {
    HeldOpenByChild child(target);
    const auto before = test::snapshot(target_dir);
    const auto e = error_of([&] { cairn::restore(good, target); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::restore_refused);
    CHECK(test::contains(e->what(), target.string()));
    CHECK(test::snapshot(target_dir) == before);
    CHECK(child.release() == 0);
  }
  SUBCASE("this process") {
    Registry live = Registry::open(target, options());
    const auto before = test::snapshot(target_dir);
    const auto e = error_of([&] { cairn::restore(good, target); });
    REQUIRE(e.has_value());
    CHECK(test::code(*e) == errc::restore_refused);
    CHECK(test::contains(e->what(), target.string()));
    CHECK(test::snapshot(target_dir) == before);
    CHECK(app_ids_of(live) == target_ids);
  }

  // Once closed, the same restore goes through.
  CHECK(app_ids_in(target) == target_ids);
  cairn::restore(good, target);
  CHECK(app_ids_in(target) == backup_ids);
}

// ---- Restore replaces the target -------------------------------------------------

TEST_CASE("restore: stale -wal and -shm of another database are never applied") {
  test::TempDir dir;
  const fs::path good = dir / "backups" / "good.db";
  const std::set<std::string> backup_ids = make_registry(dir / "source.db", "new", 10);
  {
    Registry source = Registry::open(dir / "source.db", options());
    source.backup(good);
  }
  const fs::path target = dir / "target" / "t.db";
  make_registry(target, "old", 10);
  {
    // Another registry with commits still in its WAL: its -wal and -shm are
    // copied beside the target while it is open.
    Registry other = Registry::open(dir / "other.db", options());
    for (int i = 0; i < 50; ++i) {
      other.apps().put(make_app("other-" + std::to_string(i), {"p"}, blob_meta(500)));
    }
    REQUIRE(fs::file_size(dir / "other.db-wal") > 0);
    fs::copy_file(dir / "other.db-wal", target.string() + "-wal");
    fs::copy_file(dir / "other.db-shm", target.string() + "-shm");
  }

  cairn::RestoreOptions ro;
  ro.keep_replaced = false;
  cairn::restore(good, target, ro);

  CHECK(integrity_of(target) == "ok");
  CHECK(app_ids_in(target) == backup_ids);
  Registry reg = Registry::open(target, options());
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  CHECK(app_ids_of(reg) == backup_ids);
}

TEST_CASE("restore: the replaced database is kept aside unless told not to") {
  test::TempDir dir;
  const fs::path good = dir / "backups" / "good.db";
  const std::set<std::string> backup_ids = make_registry(dir / "source.db", "new", 5);
  {
    Registry source = Registry::open(dir / "source.db", options());
    source.backup(good);
  }
  const fs::path target_dir = dir / "target";
  const fs::path target = target_dir / "t.db";
  std::set<std::string> old_ids = make_registry(target, "old", 5);
  commit_then_crash_in_child(target, "old-in-wal");  // kept aside with its -wal too
  old_ids.insert("old-in-wal");

  SUBCASE("keep_replaced (the default)") {
    const auto result = cairn::restore(good, target);
    CHECK(wal_bytes(target) == 0);  // the old -wal is not beside the new file
    REQUIRE(result.replaced_kept_as.has_value());
    const fs::path aside = *result.replaced_kept_as;
    CHECK(aside.parent_path() == target_dir);
    CHECK(aside.filename().string().starts_with("t.db.before-restore-"));
    REQUIRE(fs::exists(aside));
    CHECK(app_ids_in(target) == backup_ids);
    Registry old = Registry::open(aside, options());
    CHECK(app_ids_of(old) == old_ids);
    CHECK(old.integrity_check() == std::vector<std::string>{"ok"});
  }
  SUBCASE("keep_replaced = false") {
    cairn::RestoreOptions ro;
    ro.keep_replaced = false;
    const auto result = cairn::restore(good, target, ro);
    CHECK(wal_bytes(target) == 0);  // the old -wal is not beside the new file
    CHECK_FALSE(result.replaced_kept_as.has_value());
    CHECK(names_containing(target_dir, "before-restore").empty());
    CHECK(app_ids_in(target) == backup_ids);
  }
  CHECK(temp_files_in(target_dir).empty());
}

TEST_CASE("restore: a backup of an older schema is migrated forward") {
  REQUIRE(cairn::latest_schema_version() > 1);
  test::TempDir dir;
  // A version-1 registry, taken as a backup by copying it and writing its
  // manifest: this library cannot back up a registry it has not migrated.
  const fs::path v1 = dir / "backups" / "v1.db";
  fs::create_directories(v1.parent_path());
  cairn::MigrateOptions mo;
  mo.to = 1;
  mo.backup_first = false;
  CHECK(cairn::migrate(v1, mo).to_version == 1);
  test::exec_sql(v1,
                 "INSERT INTO apps (id, pools, triggers, meta, protocol_version, registered, "
                 "last_seen, rehydrated, created_at, updated_at, revision) VALUES "
                 "('v1-app', '[]', '[]', '{\"from\":\"v1\"}', '', 1, 1, 0, 1, 1, 0);"
                 "PRAGMA journal_mode = DELETE;");
  REQUIRE(test::query_value(v1, "PRAGMA user_version") == "1");
  REQUIRE_FALSE(fs::exists(v1.string() + "-wal"));
  test::write_matching_manifest(v1, 1);
  CHECK(cairn::verify_backup(v1).schema_version == 1);

  SUBCASE("into a file") {
    const fs::path target = dir / "target" / "t.db";
    make_registry(target, "old", 3);
    const auto result = cairn::restore(v1, target);
    CHECK(result.backup_schema_version == 1);
    CHECK(result.schema_version == cairn::latest_schema_version());
    CHECK(std::stoi(test::query_value(target, "PRAGMA user_version")) ==
          cairn::latest_schema_version());
    Registry reg = Registry::open(target, options());
    CHECK(reg.schema_version() == cairn::latest_schema_version());
    CHECK(app_ids_of(reg) == std::set<std::string>{"v1-app"});
    CHECK(reg.apps().get("v1-app").meta == json{{"from", "v1"}});
    CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  }
  SUBCASE("in place") {
    Registry reg = Registry::open(dir / "live.db", options());
    reg.apps().put(make_app("current", {"p"}));
    reg.restore_from(v1);
    CHECK(reg.schema_version() == cairn::latest_schema_version());
    CHECK(app_ids_of(reg) == std::set<std::string>{"v1-app"});
    CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  }
}

TEST_CASE("restore: in place on a live registry, revisions keep increasing") {
  test::TempDir dir;
  Registry reg = Registry::open(dir / "live.db", options());
  for (int i = 1; i <= 3; ++i) reg.apps().put(make_app("a" + std::to_string(i), {"p"}));
  const auto info = reg.backup(dir / "b.db");
  reg.apps().put(make_app("a4", {"p"}));
  reg.apps().remove("a1");
  for (int i = 0; i < 10; ++i) reg.config().save("k" + std::to_string(i), i);
  REQUIRE(app_ids_of(reg) == std::set<std::string>{"a2", "a3", "a4"});

  Recorder recorder;
  auto sub = reg.subscribe(registry_events(), recorder.handler());
  const cairn::Revision before = reg.revision();
  REQUIRE(before > info.last_revision);

  SUBCASE("from a good backup") {
    reg.restore_from(dir / "b.db");

    const cairn::Revision after = reg.revision();
    CHECK(after > before);
    CHECK(app_ids_of(reg) == std::set<std::string>{"a1", "a2", "a3"});
    CHECK_FALSE(reg.config().find("k0").has_value());
    CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});

    // The backup's history is not delivered as new writes: a resync (one
    // revision is skipped before the restore), then the restore itself.
    REQUIRE(reg.wait_for(after));
    const auto delivered = recorder.events();
    REQUIRE(delivered.size() == 2);
    CHECK(delivered[0].op == cairn::Op::resync_required);
    CHECK(delivered[1].op == cairn::Op::restored);
    CHECK(delivered[1].topic == "registry.restored");
    CHECK(delivered[1].revision == after);
    CHECK(after == before + 2);

    const App next = reg.apps().put(make_app("a5", {"p"}));
    CHECK(next.revision > after);
    CHECK(reg.revision() == next.revision);
  }
  SUBCASE("a refused backup changes nothing") {
    fs::copy_file(dir / "b.db", dir / "bad.db");
    fs::copy_file(cairn::manifest_path(dir / "b.db"), cairn::manifest_path(dir / "bad.db"));
    flip_byte(dir / "bad.db", static_cast<std::size_t>(fs::file_size(dir / "bad.db") / 2));
    CHECK(error_code_of([&] { reg.restore_from(dir / "bad.db"); }) == errc::restore_refused);
    CHECK(reg.revision() == before);
    CHECK(app_ids_of(reg) == std::set<std::string>{"a2", "a3", "a4"});
    REQUIRE(reg.wait_for(before));
    CHECK(recorder.events().empty());
  }
}

// ---- Rotation --------------------------------------------------------------------

TEST_CASE("backup: scheduled backups rotate, keeping the newest max_backups that verify") {
  test::TempDir dir;
  const fs::path backups = dir / "backups";
  std::string last_backup_path;
  {
    cairn::Options o = options();
    o.backup_dir = backups.string();
    o.backup_interval_ms = 100;
    o.max_backups = 3;
    Registry reg = Registry::open(dir / "live.db", o);
    // Wait (bounded) until rotation had to remove some: 5 backups taken.
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    int i = 0;
    while (backup_events(reg).size() < 5 && std::chrono::steady_clock::now() < deadline) {
      reg.apps().put(make_app("app-" + std::to_string(i++), {"p"}));
      std::this_thread::sleep_for(20ms);
    }
    REQUIRE(backup_events(reg).size() >= 5);
    last_backup_path = reg.stats().last_backup_path;
  }

  // Closed: the scheduler has stopped, nothing is in flight.
  const auto listing = cairn::list_backups(backups);
  CHECK(listing.size() == 3);
  for (const auto& l : listing) {
    CAPTURE(l.info.path);
    CHECK(l.verified);
    CHECK(l.problem.empty());
    CHECK(l.info.path.parent_path() == backups);
    CHECK(std::regex_match(l.info.path.filename().string(), kBackupName));
  }
  for (std::size_t i = 1; i < listing.size(); ++i) {
    CHECK(listing[i - 1].info.created_at >= listing[i].info.created_at);
  }
  CHECK(temp_files_in(backups).empty());
  CHECK(test::dir_entries(backups).size() == 2 * listing.size());  // files and manifests

  // The ones kept are the newest three taken.
  Registry reg = Registry::open(dir / "live.db", options());
  const auto events = backup_events(reg);
  REQUIRE(events.size() >= 5);
  std::set<std::string> newest, kept;
  for (std::size_t i = events.size() - 3; i < events.size(); ++i) newest.insert(events[i].id);
  for (const auto& l : listing) kept.insert(l.info.path.string());
  CHECK(kept == newest);

  CHECK_FALSE(last_backup_path.empty());
  CHECK(fs::path(last_backup_path).parent_path() == backups);
  CHECK(std::regex_match(fs::path(last_backup_path).filename().string(), kBackupName));
  bool taken = false;
  for (const auto& e : events) taken = taken || e.id == last_backup_path;
  CHECK(taken);
}

TEST_CASE("backup: list_backups is newest first; prune_backups keeps the newest N that verify") {
  test::TempDir dir;
  test::TestClock clock(1'800'000'000'000);
  cairn::Options o = options();
  o.clock = clock.fn();
  Registry reg = Registry::open(dir / "live.db", o);
  const fs::path backups = dir / "backups";
  std::vector<fs::path> taken;  // oldest first
  for (int i = 0; i < 5; ++i) {
    clock.advance(60'000);
    reg.apps().put(make_app("app-" + std::to_string(i), {"p"}));
    taken.push_back(reg.backup(backups / cairn::backup_file_name("registry", clock.now())).path);
  }
  test::write_bytes(backups / "notes.txt", "not a backup");
  test::write_bytes(backups / "orphan.db", "a .db without a manifest");
  flip_byte(taken[4], static_cast<std::size_t>(fs::file_size(taken[4]) / 2));  // the newest

  const auto listing = cairn::list_backups(backups);
  REQUIRE(listing.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(listing[i].info.path == taken[4 - i]);
  CHECK_FALSE(listing[0].verified);
  CHECK(test::contains(listing[0].problem, "SHA-256"));
  for (std::size_t i = 1; i < 5; ++i) CHECK(listing[i].verified);

  const auto removed = cairn::prune_backups(backups, 3);

  // The altered newest backup is not positively a backup any more: it is
  // reported by list_backups, never removed.
  CHECK(std::set<fs::path>(removed.begin(), removed.end()) == std::set<fs::path>{taken[0]});
  CHECK_FALSE(fs::exists(taken[0]));
  CHECK_FALSE(fs::exists(cairn::manifest_path(taken[0])));
  const auto after = cairn::list_backups(backups);
  REQUIRE(after.size() == 4);
  CHECK(after[0].info.path == taken[4]);
  CHECK_FALSE(after[0].verified);
  for (std::size_t i = 1; i < 4; ++i) {
    CHECK(after[i].verified);
    CHECK(after[i].info.path == taken[4 - i]);
  }
  // Not backups: left alone.
  CHECK(fs::exists(backups / "notes.txt"));
  CHECK(fs::exists(backups / "orphan.db"));

  CHECK(cairn::prune_backups(backups, 3).empty());
}

// Registry::open started the backup thread before it set the WAL-bound hook
// that the backup's own commit calls: an unsynchronized std::function read.
// Found by the ThreadSanitizer build (.ci/tsan), which runs this case.
TEST_CASE("scheduled backups: a backup right after open, with the WAL past its bound, is taken") {
  test::TempDir dir;
  const fs::path db = dir / "live.db";
  const fs::path backups = dir / "backups";
  {
    Registry reg = Registry::open(db, options());
    reg.apps().put(make_app("a"));
  }
  {
    cairn::Options o = options();
    o.backup_dir = backups.string();
    o.backup_interval_ms = 1;
    o.journal_size_limit = 1;  // every commit passes the bound
    Registry reg = Registry::open(db, o);
    // Until the first backup is in place this thread touches neither the
    // registry nor SQLite (whose locks would order the two threads for TSan).
    const auto backup_in_place = [&] {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(backups, ec)) {
        if (std::regex_match(entry.path().filename().string(), kBackupName)) return true;
      }
      return false;
    };
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!backup_in_place() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
  }
  CHECK(test::query_value(db, "SELECT count(*) FROM change_log WHERE topic = 'backup.created'") !=
        "0");
  const auto listing = cairn::list_backups(backups);
  REQUIRE(!listing.empty());
  for (const auto& l : listing) CHECK(l.verified);
}
