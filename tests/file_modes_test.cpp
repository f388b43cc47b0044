// Every file cairn creates is 0600 and every directory 0700, whatever the
// umask: the database, -wal, -shm, a backup and its manifest, the temp files
// of a backup (caught while it runs, from BackupOptions::progress), the
// pre-migration backup, restore's aside copy, and the directories created for
// a nested registry path, a nested backup destination and a nested restore
// target. The same through the tool (`cairn --db <nested/new.db> init`,
// `backup create`).
//
// Each case runs under umask 000 (a careless service manager) and 022 (the
// usual default): the library must not rely on the umask in either
// direction. The library cases set the umask in this process and restore it
// when they end; the tool runs in a child with its own umask. Nothing here is
// random.

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;

constexpr unsigned kUmasks[] = {0000, 0022};

// Sets the process umask for one scope. The registry's own threads create no
// files in these tests, so nothing else sees the change.
class UmaskScope {
 public:
  explicit UmaskScope(unsigned mask) : old_(::umask(static_cast<mode_t>(mask))) {}
  ~UmaskScope() { ::umask(old_); }
  UmaskScope(const UmaskScope&) = delete;
  UmaskScope& operator=(const UmaskScope&) = delete;

 private:
  mode_t old_;
};

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode);
  return buf;
}

// The mode of every file and directory under `root` (root included), by
// lstat: links are not followed.
std::map<fs::path, unsigned> modes_under(const fs::path& root) {
  std::map<fs::path, unsigned> modes;
  modes[root] = test::file_mode(root);
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    modes[entry.path()] = test::file_mode(entry.path());
  }
  return modes;
}

// Every regular file 0600, every directory 0700, nothing else. Returns how
// many files were checked.
int check_private_tree(const fs::path& root) {
  int files = 0;
  for (const auto& [path, mode] : modes_under(root)) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    INFO(path.string(), " has mode ", octal(mode));
    if (S_ISDIR(st.st_mode)) {
      CHECK(mode == 0700u);
    } else {
      CHECK(S_ISREG(st.st_mode));
      CHECK(mode == 0600u);
      ++files;
    }
  }
  return files;
}

bool has_file_ending(const fs::path& dir, std::string_view suffix) {
  for (const auto& name : test::dir_entries(dir)) {
    if (name.ends_with(suffix)) return true;
  }
  return false;
}

bool has_file_containing(const fs::path& dir, std::string_view part) {
  for (const auto& name : test::dir_entries(dir)) {
    if (test::contains(name, part)) return true;
  }
  return false;
}

cairn::Options options() {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  return o;
}

// Enough rows for a backup of many pages.
void fill(cairn::Registry& reg, int apps) {
  reg.transact([&](cairn::Tx& tx) {
    for (int i = 0; i < apps; ++i) {
      tx.apps().put({.id = "app-" + std::to_string(i),
                     .meta = {{"padding", std::string(2000, static_cast<char>('a' + i % 26))}}});
    }
  });
}

test::ProcessResult run_cairn(const std::vector<std::string>& args, unsigned mask) {
  std::vector<std::string> argv = {CAIRN_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_process(argv, {.umask = mask});
}

}  // namespace

TEST_CASE("file modes: a registry in new nested directories: dirs 0700, db, -wal and -shm 0600") {
  for (unsigned mask : kUmasks) {
    INFO("umask ", octal(mask));
    test::TempDir dir;
    const fs::path db = dir / "a" / "b" / "c" / "new.db";
    {
      UmaskScope scope(mask);
      cairn::Registry reg = cairn::Registry::open(db, options());
      fill(reg, 5);
      // While the registry is open, its -wal and -shm exist.
      REQUIRE(fs::exists(db.string() + "-wal"));
      REQUIRE(fs::exists(db.string() + "-shm"));
      CHECK(check_private_tree(dir.path()) == 3);
    }
    check_private_tree(dir.path());
  }
}

TEST_CASE("file modes: a backup, its manifest, its temp files and its new directories") {
  for (unsigned mask : kUmasks) {
    INFO("umask ", octal(mask));
    test::TempDir dir;
    const fs::path db = dir / "db" / "r.db";
    const fs::path dest_dir = dir / "backups" / "x" / "y";
    std::map<fs::path, unsigned> seen_during;  // every entry of dest_dir, as the copy ran
    int progress_calls = 0;
    {
      UmaskScope scope(mask);
      cairn::Registry reg = cairn::Registry::open(db, options());
      fill(reg, 60);
      cairn::BackupOptions bo;
      bo.pages_per_step = 4;
      bo.progress = [&](std::int64_t, std::int64_t) {
        ++progress_calls;
        for (const auto& [path, mode] : modes_under(dest_dir)) seen_during[path] = mode;
        return true;
      };
      const cairn::BackupInfo info = reg.backup(dest_dir / "b.db", bo);
      CHECK(fs::exists(info.path));
      CHECK(fs::exists(info.manifest));
    }
    CHECK(progress_calls > 2);
    bool saw_temp = false;
    for (const auto& [path, mode] : seen_during) {
      INFO(path.string(), " had mode ", octal(mode), " during the backup");
      if (path == dest_dir) {
        CHECK(mode == 0700u);
        continue;
      }
      saw_temp = saw_temp || path.filename().string().ends_with(".tmp");
      CHECK(mode == 0600u);
    }
    CHECK(saw_temp);                             // the temp file was there to be checked
    CHECK(check_private_tree(dir.path()) >= 3);  // db, backup, manifest (+ -wal, -shm gone)
    CHECK(test::dir_entries(dest_dir) == std::set<std::string>{"b.db", "b.db.manifest.json"});
  }
}

TEST_CASE("file modes: the pre-migration backup") {
  REQUIRE(cairn::latest_schema_version() > 1);
  for (unsigned mask : kUmasks) {
    INFO("umask ", octal(mask));
    test::TempDir dir;
    const fs::path db = dir / "old" / "r.db";
    {
      UmaskScope scope(mask);
      cairn::MigrateOptions mo;
      mo.to = 1;
      mo.backup_first = false;
      REQUIRE(cairn::migrate(db, mo).to_version == 1);
      cairn::Registry reg = cairn::Registry::open(db, options());  // migrates, backing up first
      CHECK(reg.schema_version() == cairn::latest_schema_version());
    }
    CHECK(has_file_containing(db.parent_path(), ".pre-migrate-v1-"));
    CHECK(has_file_ending(db.parent_path(), ".manifest.json"));
    check_private_tree(dir.path());
  }
}

TEST_CASE("file modes: restore's result, its aside copy and a new target directory") {
  for (unsigned mask : kUmasks) {
    INFO("umask ", octal(mask));
    test::TempDir dir;
    const fs::path source = dir / "source" / "s.db";
    const fs::path backup = dir / "backups" / "b.db";
    const fs::path target = dir / "target" / "t.db";
    const fs::path nested_target = dir / "new" / "n" / "t.db";
    {
      UmaskScope scope(mask);
      {
        cairn::Registry reg = cairn::Registry::open(source, options());
        fill(reg, 3);
        reg.backup(backup);
      }
      {
        cairn::Registry old = cairn::Registry::open(target, options());
        fill(old, 1);
      }
      const cairn::RestoreResult kept = cairn::restore(backup, target);
      REQUIRE(kept.replaced_kept_as.has_value());
      CHECK(fs::exists(*kept.replaced_kept_as));
      cairn::restore(backup, nested_target);
    }
    CHECK(has_file_containing(target.parent_path(), ".before-restore-"));
    CHECK(check_private_tree(dir.path()) >= 6);
  }
}

TEST_CASE("file modes: the tool's init and backup create") {
  for (unsigned mask : kUmasks) {
    INFO("umask ", octal(mask));
    test::TempDir dir;
    const fs::path db = dir / "nested" / "deeper" / "new.db";
    const auto init = run_cairn({"--db", db.string(), "--quiet", "init"}, mask);
    REQUIRE_MESSAGE(init.exit_code == 0, init.err);
    const auto put = run_cairn({"--db", db.string(), "put", "app", R"({"id":"a"})"}, mask);
    REQUIRE_MESSAGE(put.exit_code == 0, put.err);
    // Into the default directory, <db dir>/backups, which it creates.
    const auto by_default = run_cairn({"--db", db.string(), "--quiet", "backup", "create"}, mask);
    REQUIRE_MESSAGE(by_default.exit_code == 0, by_default.err);
    // Into a new nested directory.
    const auto nested = run_cairn(
        {"--db", db.string(), "--quiet", "backup", "create", (dir / "b" / "c").string() + "/"},
        mask);
    REQUIRE_MESSAGE(nested.exit_code == 0, nested.err);
    CHECK(fs::is_directory(db.parent_path() / "backups"));
    CHECK(has_file_ending(db.parent_path() / "backups", ".manifest.json"));
    CHECK(has_file_ending(dir / "b" / "c", ".manifest.json"));
    CHECK(check_private_tree(dir.path()) >= 5);
  }
}
