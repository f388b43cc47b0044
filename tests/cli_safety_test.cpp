// The safety guarantees of tests/safety_test.cpp, through the cairn tool:
// a path is only a path whatever bytes it holds, looking never writes,
// prune and backup rotation never remove the only good copy, restore asks
// for --force before replacing another application's file, `check` reports
// drift, and every command that meets a held write lock exits 7 naming the
// registry.
//
// Every case runs the built tool (CAIRN_CLI_PATH) as a child process, in its
// own temporary directory. Nothing here is random.

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;

constexpr int kOk = 0;
constexpr int kUsage = 2;
constexpr int kRefused = 5;
constexpr int kCorrupt = 6;
constexpr int kBusy = 7;

test::ProcessResult run_cairn(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CAIRN_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_process(argv);
}

// Runs a command that must succeed, and returns its stdout.
std::string ok(const std::vector<std::string>& args) {
  const test::ProcessResult r = run_cairn(args);
  INFO("cairn", [&] {
    std::string line;
    for (const auto& a : args) line += " " + a;
    return line;
  }(), "\nstderr: ", r.err);
  REQUIRE(r.exit_code == kOk);
  return r.out;
}

// The last_revision of `cairn --json backup verify`'s output.
long long verified_revision(const std::string& out) {
  return nlohmann::json::parse(out).at("last_revision").get<long long>();
}

// A registry at `db` holding two apps.
void make_registry(const fs::path& db) {
  ok({"--db", db.string(), "--quiet", "init"});
  ok({"--db", db.string(), "--quiet", "put", "app", R"({"id":"a1","pools":["p"]})"});
  ok({"--db", db.string(), "--quiet", "put", "app", R"({"id":"a2","pools":["p"]})"});
}

// Runs SQL on a file with SQLite itself, as another program (or an attacker)
// would. Returns false when the SQL failed.
bool sqlite_exec(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  const bool opened = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                      nullptr) == SQLITE_OK;
  const bool ran = opened && sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  return ran;
}

// Holds a registry's write lock (BEGIN IMMEDIATE) for as long as it lives.
class WriteLock {
 public:
  explicit WriteLock(const fs::path& file) {
    REQUIRE(sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~WriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;

 private:
  sqlite3* db_ = nullptr;
};

std::vector<std::string> odd_names() {
  return {"a?b.db", "a#b.db",  "a%b.db",  "a%41.db", "a&b=c.db",
          "a b.db", "a\nb.db", "-x.db",   "file:x.db", "\xc3\xa9t\xc3\xa9.db"};
}

}  // namespace

// ---- 1. Paths are never SQLite URIs ------------------------------------------

TEST_CASE("cli safety: every command on a name with odd bytes uses exactly that file") {
  for (const std::string& name : odd_names()) {
    CAPTURE(name);
    test::TempDir dir;
    const fs::path db = dir / name;
    const fs::path backups = dir / ("bk#" + name);  // a backup directory with odd bytes too
    make_registry(db);
    ok({"--db", db.string(), "--quiet", "backup", "create", (backups / "one.db").string()});
    ok({"--db", db.string(), "--quiet", "backup", "create", (backups / "two.db").string()});
    const std::string verified = ok({"--db", db.string(), "--json", "backup", "verify",
                                     (backups / "two.db").string()});
    CHECK(verified_revision(verified) == 3);  // two apps and the first backup's event

    // Exactly the named backup is verified: alter it, and it is refused.
    const fs::path two = backups / "two.db";
    const std::string good = test::read_bytes(two);
    std::string bad = good;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x5a);
    test::write_bytes(two, bad);
    CHECK(run_cairn({"--db", db.string(), "backup", "verify", two.string()}).exit_code ==
          kRefused);
    test::write_bytes(two, good);

    // Prune in that directory removes the older good backup, nothing else.
    const std::string pruned =
        ok({"--db", db.string(), "--json", "backup", "prune", "--keep", "1", backups.string()});
    CHECK(test::contains(pruned, "one.db"));
    CHECK(test::dir_entries(backups) ==
          std::set<std::string>{"two.db", "two.db.manifest.json"});

    const fs::path target = dir / ("r-" + name);
    ok({"--db", target.string(), "--quiet", "restore", two.string()});
    const std::string apps = ok({"--db", target.string(), "--json", "ls", "app"});
    CHECK(test::contains(apps, "\"a1\""));
    CHECK(test::contains(apps, "\"a2\""));

    // Nothing was created but the registries, their side files and the backups.
    for (const std::string& entry : test::dir_entries(dir.path())) {
      CHECK((entry.starts_with(name) || entry.starts_with("r-" + name) ||
             entry == "bk#" + name));
    }
  }
}

TEST_CASE("cli safety: --db starting with file: is refused, and ./file: is a plain file") {
  test::TempDir dir;
  const test::ProcessResult r =
      test::run_process({CAIRN_CLI_PATH, "--db", "file:reg.db", "init"}, {.cwd = dir.path()});
  CHECK(r.exit_code == kUsage);
  CHECK(test::contains(r.err, "./file:reg.db"));
  CHECK(test::dir_entries(dir.path()).empty());

  const test::ProcessResult plain =
      test::run_process({CAIRN_CLI_PATH, "--db", "./file:reg.db", "--quiet", "init"},
                        {.cwd = dir.path()});
  INFO(plain.err);
  CHECK(plain.exit_code == kOk);
  CHECK(fs::is_regular_file(dir / "file:reg.db"));
}

// ---- 2. cairn check reports drift ----------------------------------------------

TEST_CASE("cli safety: check exits 6 naming a trigger planted in the schema") {
  test::TempDir dir;
  const fs::path db = dir / "reg.db";
  make_registry(db);
  CHECK(ok({"--db", db.string(), "check"}) == "ok\n");
  REQUIRE(sqlite_exec(db, "CREATE TRIGGER planted AFTER INSERT ON apps BEGIN SELECT 1; END"));
  const test::ProcessResult r = run_cairn({"--db", db.string(), "check"});
  CHECK(r.exit_code == kCorrupt);
  CHECK(test::contains(r.out, "planted"));
}

// ---- 3. restore asks before replacing another application's file -------------

TEST_CASE("cli safety: restore over another application's SQLite file needs --force") {
  test::TempDir dir;
  const fs::path db = dir / "reg.db";
  make_registry(db);
  const fs::path backup = dir / "b.db";
  ok({"--db", db.string(), "--quiet", "backup", "create", backup.string()});

  const fs::path other = dir / "other-app.db";
  REQUIRE(sqlite_exec(other, "PRAGMA application_id = 42; CREATE TABLE mine(x); "
                             "INSERT INTO mine VALUES (1)"));
  const std::string before = test::read_bytes(other);
  const test::ProcessResult refused =
      run_cairn({"--db", db.string(), "restore", backup.string(), "--to", other.string()});
  CHECK(refused.exit_code == kRefused);
  CHECK(test::contains(refused.err, "--force"));
  CHECK(test::read_bytes(other) == before);

  ok({"--db", db.string(), "--quiet", "restore", backup.string(), "--to", other.string(),
      "--force"});
  CHECK(test::contains(ok({"--db", other.string(), "--json", "ls", "app"}), "\"a1\""));
}

// ---- 4. prune and rotation never remove the only good copies ------------------

TEST_CASE("cli safety: prune refuses --keep 0, and --dry-run removes nothing") {
  test::TempDir dir;
  const fs::path db = dir / "reg.db";
  const fs::path backups = dir / "backups";
  make_registry(db);
  for (const char* name : {"1.db", "2.db", "3.db"}) {
    ok({"--db", db.string(), "--quiet", "backup", "create", (backups / name).string()});
  }
  const auto before = test::snapshot(backups);

  CHECK(run_cairn({"--db", db.string(), "backup", "prune", "--keep", "0"}).exit_code == kUsage);
  const std::string dry =
      ok({"--db", db.string(), "backup", "prune", "--keep", "1", "--dry-run"});
  CHECK(test::contains(dry, "would remove"));
  CHECK(test::snapshot(backups) == before);

  // A backup that does not verify is reported by list and never removed.
  test::write_bytes(backups / "1.db", "not a backup any more");
  const test::ProcessResult pruned =
      run_cairn({"--db", db.string(), "backup", "prune", "--keep", "1"});
  CHECK(pruned.exit_code == kOk);
  CHECK(test::contains(pruned.err, "1.db"));
  CHECK(test::contains(pruned.err, "does not verify"));
  CHECK(fs::exists(backups / "1.db"));
  CHECK(fs::exists(backups / "3.db"));
  CHECK_FALSE(fs::exists(backups / "2.db"));
  CHECK(test::contains(ok({"--db", db.string(), "backup", "list"}), "NOT VERIFIED"));
}

TEST_CASE("cli safety: backup create over an existing name needs --overwrite") {
  test::TempDir dir;
  const fs::path db = dir / "reg.db";
  const fs::path backup = dir / "b.db";
  make_registry(db);
  ok({"--db", db.string(), "--quiet", "backup", "create", backup.string()});
  const std::string first = test::read_bytes(backup);

  ok({"--db", db.string(), "--quiet", "put", "app", R"({"id":"a3","pools":["p"]})"});
  const test::ProcessResult refused =
      run_cairn({"--db", db.string(), "backup", "create", backup.string()});
  CHECK(refused.exit_code != kOk);
  CHECK(test::contains(refused.err, "--overwrite"));
  CHECK(test::read_bytes(backup) == first);

  ok({"--db", db.string(), "--quiet", "backup", "create", backup.string(), "--overwrite"});
  CHECK(verified_revision(
            ok({"--db", db.string(), "--json", "backup", "verify", backup.string()})) == 4);
}

// ---- 5. Looking never writes -----------------------------------------------------

TEST_CASE("cli safety: inspecting a backup leaves every byte of its directory as it was") {
  test::TempDir dir;
  const fs::path db = dir / "reg.db";
  const fs::path backups = dir / "backups";
  make_registry(db);
  const fs::path backup = backups / "b.db";
  ok({"--db", db.string(), "--quiet", "backup", "create", backup.string()});
  const auto before = test::snapshot(backups);

  const std::string b = backup.string();
  const std::vector<std::vector<std::string>> looks = {
      {"--db", b, "ls", "app"},
      {"--db", b, "ls", "pool"},
      {"--db", b, "get", "app", "a1"},
      {"--db", b, "stats"},
      {"--db", b, "check"},
      {"--db", b, "export"},
      {"--db", b, "migrate", "status"},
      {"--db", b, "migrate", "verify"},
      {"--db", b, "backup", "verify", b},
      {"--db", b, "backup", "list", backups.string()},
  };
  for (const auto& args : looks) {
    CAPTURE(args.at(2));
    ok(args);
    CHECK(test::snapshot(backups) == before);
  }
  CHECK(verified_revision(ok({"--db", db.string(), "--json", "backup", "verify", b})) == 2);
}

TEST_CASE("cli safety: looking at an empty file does not make it a registry") {
  test::TempDir dir;
  const fs::path empty = dir / "empty.db";
  test::write_bytes(empty, "");
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"ls", "app"}, {"stats"}, {"get", "app", "x"}}) {
    std::vector<std::string> full = {"--db", empty.string()};
    full.insert(full.end(), args.begin(), args.end());
    CAPTURE(args.at(0));
    CHECK(run_cairn(full).exit_code != kOk);
    CHECK(test::dir_entries(dir.path()) == std::set<std::string>{"empty.db"});
    CHECK(fs::file_size(empty) == 0);
  }
}

// ---- 7. Consistent errors under contention ---------------------------------------

TEST_CASE("cli safety: every command that meets a held write lock exits 7 naming the registry") {
  test::TempDir dir;
  const fs::path db = dir / "reg.db";
  make_registry(db);
  const std::string d = db.string();
  const std::vector<std::vector<std::string>> writes = {
      {"--db", d, "--busy-timeout", "100", "put", "app", R"({"id":"a9","pools":["p"]})"},
      {"--db", d, "--busy-timeout", "100", "rm", "app", "a1"},
      {"--db", d, "--busy-timeout", "100", "put", "kv", "ns", "k", "v"},
      {"--db", d, "--busy-timeout", "100", "backup", "create", (dir / "b.db").string()},
  };
  WriteLock lock(db);
  for (const auto& args : writes) {
    CAPTURE(args.at(4));
    const test::ProcessResult r = run_cairn(args);
    INFO("stderr: ", r.err);
    CHECK(r.exit_code == kBusy);
    CHECK(test::contains(r.err, d));
    CHECK(test::contains(r.err, "--busy-timeout"));
  }
  // Reading is not held up by a writer (WAL).
  CHECK(test::contains(ok({"--db", d, "--json", "ls", "app"}), "\"a1\""));
  CHECK(run_cairn({"--db", d, "--busy-timeout", "-1", "stats"}).exit_code == kUsage);
}
