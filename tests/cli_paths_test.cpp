// The cairn tool refuses file arguments that are not what they claim to be:
// a symbolic link as the last component of --db, of a backup destination or
// of a restore target (or planted at their -wal, -shm or manifest names), a
// FIFO, or a directory where a file is expected. Each refusal exits with 5
// (refused), names the path and the problem on stderr, and writes nothing,
// least of all at the link's target. Directories along the path may be links
// (tools/cairn/paths.h says why); a case below shows that this works.
//
// Every case runs the built tool (CAIRN_CLI_PATH) as a child process, in its
// own temporary directory. Nothing here is random.

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;

constexpr int kOk = 0;
constexpr int kRefused = 5;

test::ProcessResult run_cairn(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {CAIRN_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return test::run_process(argv);
}

// A refusal: exit code 5, and a one-line reason naming the path and the problem.
void check_refused(const test::ProcessResult& r, const std::string& path,
                   const std::string& problem) {
  INFO("stderr: ", r.err, "stdout: ", r.out);
  CHECK(r.exit_code == kRefused);
  CHECK(test::contains(r.err, "cairn: error: "));
  CHECK(test::contains(r.err, path));
  CHECK(test::contains(r.err, problem));
  CHECK(r.out.empty());
}

// A tree with a registry, a victim file outside it and a victim directory:
//   <root>/work/real.db        a registry (cairn init)
//   <root>/elsewhere/victim    bytes that must never change
//   <root>/elsewhere/dir/      a directory that must stay empty
struct Tree {
  test::TempDir root;
  fs::path work = root / "work";
  fs::path db = work / "real.db";
  fs::path elsewhere = root / "elsewhere";
  fs::path victim = elsewhere / "victim";
  fs::path victim_dir = elsewhere / "dir";
  std::string victim_bytes = "precious bytes, not a registry\n";

  Tree() {
    fs::create_directories(work);
    fs::create_directories(victim_dir);
    test::write_bytes(victim, victim_bytes);
    const auto init = run_cairn({"--db", db.string(), "init"});
    REQUIRE_MESSAGE(init.exit_code == kOk, init.err);
  }

  // Nothing was written outside work/: the victim is intact and alone.
  void check_elsewhere_untouched() const {
    CHECK(test::read_bytes(victim) == victim_bytes);
    CHECK(test::dir_entries(elsewhere) == std::set<std::string>{"dir", "victim"});
    CHECK(test::dir_entries(victim_dir).empty());
  }

  // A verified backup of the registry, for restore.
  fs::path make_backup() const {
    const fs::path backup = root / "backups" / "b.db";
    const auto r = run_cairn({"--db", db.string(), "--quiet", "backup", "create", backup.string()});
    REQUIRE_MESSAGE(r.exit_code == kOk, r.err);
    return backup;
  }
};

void make_fifo(const fs::path& path) { REQUIRE(::mkfifo(path.c_str(), 0600) == 0); }

}  // namespace

TEST_CASE("cli paths: --db that is a symbolic link is refused, whatever it points at") {
  Tree t;
  const fs::path link = t.work / "link.db";

  SUBCASE("a link to another registry") {
    const fs::path other = t.elsewhere / "other.db";
    REQUIRE(run_cairn({"--db", other.string(), "init"}).exit_code == kOk);
    const std::string before = test::read_bytes(other);
    fs::remove(other.string() + "-wal");
    fs::remove(other.string() + "-shm");
    fs::create_symlink(other, link);
    for (const std::vector<std::string>& command : {std::vector<std::string>{"stats"},
                                                    {"init"},
                                                    {"put", "app", R"({"id":"a"})"},
                                                    {"check"},
                                                    {"migrate", "up"}}) {
      std::vector<std::string> args = {"--db", link.string()};
      args.insert(args.end(), command.begin(), command.end());
      INFO("command: ", command.front());
      check_refused(run_cairn(args), link.string(), "symbolic link");
    }
    CHECK(test::read_bytes(other) == before);
    CHECK_FALSE(fs::exists(other.string() + "-wal"));
  }
  SUBCASE("a link to a file that is not a registry") {
    fs::create_symlink(t.victim, link);
    const auto r = run_cairn({"--db", link.string(), "init"});
    check_refused(r, link.string(), "symbolic link");
    CHECK(test::contains(r.err, "real path"));
    t.check_elsewhere_untouched();
  }
  SUBCASE("a dangling link: init must not create its target") {
    fs::create_symlink(t.elsewhere / "created-through-link.db", link);
    check_refused(run_cairn({"--db", link.string(), "init"}), link.string(), "symbolic link");
    t.check_elsewhere_untouched();
  }
  SUBCASE("given through CAIRN_DB rather than --db") {
    fs::create_symlink(t.victim, link);
    const std::string var = "CAIRN_DB=" + link.string();
    const auto r = test::run_process({"/usr/bin/env", var, CAIRN_CLI_PATH, "stats"});
    check_refused(r, link.string(), "symbolic link");
    t.check_elsewhere_untouched();
  }
  CHECK(fs::is_symlink(link));  // left as it was
}

TEST_CASE("cli paths: a link planted at the registry's -wal, -shm or -journal name is refused") {
  Tree t;
  for (const char* suffix : {"-wal", "-shm", "-journal"}) {
    const fs::path planted = t.db.string() + suffix;
    fs::remove(planted);
    fs::create_symlink(t.victim, planted);
    INFO("planted: ", planted.string());
    check_refused(run_cairn({"--db", t.db.string(), "put", "app", R"({"id":"a"})"}),
                  planted.string(), "symbolic link");
    fs::remove(planted);
    t.check_elsewhere_untouched();
  }
  // The registry itself is intact and never got the refused write.
  const auto get = run_cairn({"--db", t.db.string(), "get", "app", "a"});
  CHECK(get.exit_code == 3);
}

TEST_CASE("cli paths: --db that is a FIFO or a directory is refused without hanging") {
  Tree t;
  SUBCASE("a FIFO") {
    const fs::path fifo = t.work / "fifo.db";
    make_fifo(fifo);
    check_refused(run_cairn({"--db", fifo.string(), "init"}), fifo.string(), "FIFO");
    check_refused(run_cairn({"--db", fifo.string(), "stats"}), fifo.string(), "FIFO");
  }
  SUBCASE("a directory") {
    check_refused(run_cairn({"--db", t.victim_dir.string(), "init"}), t.victim_dir.string(),
                  "directory");
    check_refused(run_cairn({"--db", t.victim_dir.string() + "/", "init"}),
                  t.victim_dir.string() + "/", "directory");
    check_refused(run_cairn({"--db", t.victim_dir.string() + "/..", "init"}),
                  t.victim_dir.string() + "/..", "directory");
  }
  SUBCASE("a -wal name that is a directory") {
    fs::create_directory(t.db.string() + "-wal");
    check_refused(run_cairn({"--db", t.db.string(), "stats"}), t.db.string() + "-wal", "directory");
  }
  t.check_elsewhere_untouched();
}

TEST_CASE("cli paths: directories along the --db path may be links (like /tmp on some systems)") {
  Tree t;
  const fs::path dir_link = t.work / "dir-link";
  fs::create_directory_symlink(t.victim_dir, dir_link);
  const fs::path db = dir_link / "through.db";
  const auto init = run_cairn({"--db", db.string(), "init"});
  REQUIRE_MESSAGE(init.exit_code == kOk, init.err);
  CHECK(fs::is_regular_file(t.victim_dir / "through.db"));
  CHECK(run_cairn({"--db", db.string(), "put", "app", R"({"id":"a"})"}).exit_code == kOk);
  CHECK(run_cairn({"--db", db.string(), "get", "app", "a"}).exit_code == kOk);
}

TEST_CASE(
    "cli paths: a backup destination that is a link, a FIFO or a planted manifest is refused") {
  Tree t;
  const auto backup = [&](const std::string& dest) {
    return run_cairn({"--db", t.db.string(), "--quiet", "backup", "create", dest});
  };

  SUBCASE("a link to a file") {
    const fs::path link = t.work / "b.db";
    fs::create_symlink(t.victim, link);
    check_refused(backup(link.string()), link.string(), "symbolic link");
  }
  SUBCASE("a dangling link") {
    const fs::path link = t.work / "b.db";
    fs::create_symlink(t.elsewhere / "new.db", link);
    check_refused(backup(link.string()), link.string(), "symbolic link");
  }
  SUBCASE("a link to a directory, with or without a trailing slash or dot") {
    const fs::path link = t.work / "backups-link";
    fs::create_directory_symlink(t.victim_dir, link);
    check_refused(backup(link.string()), link.string(), "symbolic link");
    check_refused(backup(link.string() + "/"), link.string(), "symbolic link");
    check_refused(backup(link.string() + "//"), link.string(), "symbolic link");
    check_refused(backup(link.string() + "/."), link.string(), "'.' or '..'");
  }
  SUBCASE("the default directory <db dir>/backups is a link") {
    fs::create_directory_symlink(t.victim_dir, t.work / "backups");
    const auto r = run_cairn({"--db", t.db.string(), "--quiet", "backup", "create"});
    check_refused(r, (t.work / "backups").string(), "symbolic link");
  }
  SUBCASE("a FIFO") {
    const fs::path fifo = t.work / "b.db";
    make_fifo(fifo);
    check_refused(backup(fifo.string()), fifo.string(), "FIFO");
  }
  SUBCASE("a link planted at the manifest's name") {
    const fs::path dest = t.work / "b.db";
    fs::create_symlink(t.victim, dest.string() + ".manifest.json");
    check_refused(backup(dest.string()), dest.string() + ".manifest.json", "symbolic link");
    CHECK_FALSE(fs::exists(dest));
  }
  t.check_elsewhere_untouched();
  // No backup or temp file was left in work/ either.
  for (const auto& name : test::dir_entries(t.work)) {
    CHECK_FALSE(test::contains(name, ".tmp"));
    CHECK_FALSE(test::contains(name, "registry-"));
  }
}

TEST_CASE("cli paths: backups into real directories still work") {
  Tree t;
  const fs::path dir = t.root / "real-backups";
  fs::create_directory(dir);
  const auto into_dir =
      run_cairn({"--db", t.db.string(), "--quiet", "backup", "create", dir.string()});
  CHECK_MESSAGE(into_dir.exit_code == kOk, into_dir.err);
  const auto with_slash = run_cairn(
      {"--db", t.db.string(), "--quiet", "backup", "create", (t.root / "new-dir").string() + "/"});
  CHECK_MESSAGE(with_slash.exit_code == kOk, with_slash.err);
  const auto as_file = run_cairn(
      {"--db", t.db.string(), "--quiet", "backup", "create", (t.root / "file.db").string()});
  CHECK_MESSAGE(as_file.exit_code == kOk, as_file.err);
  const auto by_default = run_cairn({"--db", t.db.string(), "--quiet", "backup", "create"});
  CHECK_MESSAGE(by_default.exit_code == kOk, by_default.err);
  CHECK(test::dir_entries(dir).size() == 2);  // the backup and its manifest
  CHECK(fs::is_regular_file(t.root / "file.db"));
}

TEST_CASE("cli paths: a restore target that is a link, a FIFO or a directory is refused") {
  Tree t;
  const fs::path backup = t.make_backup();
  const auto restore = [&](const std::string& target) {
    return run_cairn({"--quiet", "restore", backup.string(), "--to", target});
  };

  SUBCASE("a link to a file") {
    const fs::path link = t.work / "target.db";
    fs::create_symlink(t.victim, link);
    check_refused(restore(link.string()), link.string(), "symbolic link");
    // --force (replace a non-registry) does not open the door either.
    check_refused(
        run_cairn({"--quiet", "restore", backup.string(), "--to", link.string(), "--force"}),
        link.string(), "symbolic link");
  }
  SUBCASE("a link to another registry") {
    const fs::path other = t.elsewhere / "other.db";
    REQUIRE(run_cairn({"--db", other.string(), "init"}).exit_code == kOk);
    const std::string before = test::read_bytes(other);
    const fs::path link = t.work / "target.db";
    fs::create_symlink(other, link);
    check_refused(restore(link.string()), link.string(), "symbolic link");
    CHECK(test::read_bytes(other) == before);
    fs::remove(other);
    fs::remove(other.string() + "-wal");
    fs::remove(other.string() + "-shm");
  }
  SUBCASE("the restore target given as --db") {
    const fs::path link = t.work / "target.db";
    fs::create_symlink(t.victim, link);
    check_refused(run_cairn({"--db", link.string(), "--quiet", "restore", backup.string()}),
                  link.string(), "symbolic link");
  }
  SUBCASE("a link planted at the target's -wal") {
    fs::create_symlink(t.victim, t.db.string() + "-wal");
    check_refused(restore(t.db.string()), t.db.string() + "-wal", "symbolic link");
  }
  SUBCASE("a FIFO") {
    const fs::path fifo = t.work / "target.db";
    make_fifo(fifo);
    check_refused(restore(fifo.string()), fifo.string(), "FIFO");
  }
  SUBCASE("a directory") {
    check_refused(restore(t.victim_dir.string()), t.victim_dir.string(), "directory");
  }
  t.check_elsewhere_untouched();
}

TEST_CASE("cli paths: a restore into a real file still works") {
  Tree t;
  const fs::path backup = t.make_backup();
  const fs::path target = t.root / "restored" / "r.db";
  const auto r = run_cairn({"--quiet", "restore", backup.string(), "--to", target.string()});
  CHECK_MESSAGE(r.exit_code == kOk, r.err);
  CHECK(fs::is_regular_file(target));
}

TEST_CASE("cli paths: the path in a refusal is escaped, not echoed raw") {
  Tree t;
  const fs::path link = t.work / "esc\x1b[31mape\nd.db";
  fs::create_symlink(t.victim, link);
  const auto r = run_cairn({"--db", link.string(), "stats"});
  CHECK(r.exit_code == kRefused);
  CHECK_FALSE(test::contains(r.err, "\x1b[31m"));
  CHECK(test::contains(r.err, "esc\\x1b[31mape\\x0ad.db"));
  t.check_elsewhere_untouched();
}
