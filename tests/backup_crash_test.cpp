// Crash harness for backup and restore (DESIGN.md section 9): SIGKILL lands
// at a random moment in `cairn backup create` or `cairn restore` (the CLI,
// CAIRN_CLI_PATH), CAIRN_KILLS times (default 50), alternating. After every
// kill:
//   - no partial file under a final name: a backup under its final name
//     verifies and has its manifest;
//   - a restore target is wholly the old content or wholly the new (sound,
//     and its app ids exactly one of the two sets), and a replaced database
//     kept aside is wholly the old content;
//   - rotation still holds the newest 3 valid backups: list_backups shows only
//     verified ones and prune_backups(dir, 3) keeps the newest three;
//   - temp files of killed runs are gone after the next run that completes.
// The registry is about 25 MB, so that a kill usually lands mid-way. The seed
// comes from CAIRN_SEED (or the time), is printed, and replays a run.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

extern char** environ;

using cairn::Registry;
using nlohmann::json;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr int kApps = 4000;
constexpr std::size_t kMetaBytes = 4000;
constexpr std::size_t kKeep = 3;

cairn::Options options() {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.actor = "backup-crash";
  return o;
}

std::int64_t env_int(const char* name, std::int64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::stoll(value) : fallback;
}

// The CLI as a child process, its stdout and stderr into `log`.
pid_t spawn_cli(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> argv_strings{CAIRN_CLI_PATH};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(rc == 0, "posix_spawn " << CAIRN_CLI_PATH << " failed");
  return pid;
}

struct Outcome {
  bool killed = false;  // SIGKILL ended it
  int exit_code = -1;   // when it exited by itself
};

// Runs the CLI and kills it after `delay` (if it is still running by then).
Outcome run_cli(const std::vector<std::string>& args, const fs::path& log,
                std::chrono::microseconds delay = std::chrono::microseconds::max()) {
  const pid_t pid = spawn_cli(args, log);
  if (delay != std::chrono::microseconds::max()) {
    std::this_thread::sleep_for(delay);
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    REQUIRE(errno == EINTR);
  }
  Outcome out;
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    out.killed = true;
  } else if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
  }
  return out;
}

std::string log_text(const fs::path& log) {
  try {
    return test::read_bytes(log);
  } catch (const std::exception&) {
    return "";
  }
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::vector<fs::path> temp_files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().ends_with(".tmp")) out.push_back(entry.path());
  }
  return out;
}

// The backups of `dir` (*.db with a manifest), by file listing alone.
std::set<fs::path> backup_files_in(const fs::path& dir) {
  std::set<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto& p = entry.path();
    if (p.extension() == ".db" && fs::exists(cairn::manifest_path(p))) out.insert(p);
  }
  return out;
}

struct Content {
  bool sound = false;
  std::set<std::string> ids;
  std::string problem;
};

// Opens a registry as a restarted server would, and reads what it holds.
Content content_of(const fs::path& db) {
  Content c;
  try {
    Registry reg = Registry::open(db, options());
    const auto check = reg.integrity_check();
    c.sound = check == std::vector<std::string>{"ok"};
    if (!c.sound) c.problem = check.empty() ? "no integrity_check result" : check.front();
    for (const auto& row : test::query(db, "SELECT id FROM apps")) c.ids.insert(row.at(0));
  } catch (const std::exception& e) {
    c.problem = e.what();
  }
  return c;
}

std::string name_of(const std::set<std::string>& ids, const std::set<std::string>& old_ids,
                    const std::set<std::string>& new_ids) {
  if (ids == old_ids) return "old";
  if (ids == new_ids) return "new";
  return "mixed (" + std::to_string(ids.size()) + " apps)";
}

}  // namespace

TEST_CASE("backup crash: SIGKILL during backup create and restore leaves no partial file") {
  const auto started = std::chrono::steady_clock::now();
  const auto seed = static_cast<std::uint64_t>(env_int(
      "CAIRN_SEED", std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000'007));
  const auto kills_wanted = env_int("CAIRN_KILLS", 50);
  std::printf("backup crash: seed %llu (rerun with CAIRN_SEED=%llu), %lld kills\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
              static_cast<long long>(kills_wanted));
  std::fflush(stdout);
  std::mt19937_64 rng(seed);

  test::TempDir dir;
  const fs::path log = dir / "cli.log";
  // (`cairn X --help` exits 0 even without an X: the help must be X's own.)
  for (const auto& [command, mark] :
       {std::pair{"backup", "create"}, std::pair{"restore", "--to"}}) {
    const auto help = run_cli({command, "--help"}, log);
    REQUIRE_MESSAGE((help.exit_code == 0 && test::contains(log_text(log), mark)),
                    "the CLI has no `" << command << "` command: " << log_text(log));
  }

  // ---- the registry, its two contents, and their backups ----
  const fs::path live = dir / "live.db";
  const fs::path sources = dir / "sources";
  std::set<std::string> old_ids, new_ids;
  {
    Registry reg = Registry::open(live, options());
    for (int first = 0; first < kApps; first += 500) {
      reg.transact([&](cairn::Tx& tx) {
        for (int i = first; i < std::min(kApps, first + 500); ++i) {
          cairn::App a;
          a.id = "app-" + std::to_string(i);
          a.meta = json{{"pad", std::string(kMetaBytes, static_cast<char>('a' + i % 26))}};
          tx.apps().put(a);
          old_ids.insert(a.id);
        }
      });
    }
    reg.backup(sources / "old.db");
    reg.transact([&](cairn::Tx& tx) {
      tx.apps().remove("app-0");
      cairn::App a;
      a.id = "new-marker";
      tx.apps().put(a);
    });
    new_ids = old_ids;
    new_ids.erase("app-0");
    new_ids.insert("new-marker");
    reg.backup(sources / "new.db");
  }
  REQUIRE(fs::file_size(sources / "old.db") > (20u << 20));

  // ---- rotation: 3 good backups, taken by the CLI uncrashed (timing it) ----
  const fs::path rotation = dir / "rotation";
  fs::create_directories(rotation);
  int serial = 0;
  const auto next_backup_name = [&] {
    char name[32];
    std::snprintf(name, sizeof name, "rot-%06d.db", serial++);
    return rotation / name;
  };
  double backup_seconds = 0;
  for (std::size_t i = 0; i < kKeep; ++i) {
    const auto t = std::chrono::steady_clock::now();
    const auto out =
        run_cli({"--db", live.string(), "backup", "create", next_backup_name().string()}, log);
    REQUIRE_MESSAGE(out.exit_code == 0, log_text(log));
    backup_seconds = std::max(backup_seconds, seconds_since(t));
  }
  REQUIRE(cairn::list_backups(rotation).size() == kKeep);

  // ---- the restore target, old content to begin with (timing restores) ----
  const fs::path target_dir = dir / "target";
  fs::create_directories(target_dir);
  const fs::path target = target_dir / "t.db";
  double restore_seconds = 0;
  for (const char* from : {"new.db", "old.db"}) {
    const auto t = std::chrono::steady_clock::now();
    const auto out = run_cli(
        {"restore", (sources / from).string(), "--to", target.string(), "--discard-replaced"}, log);
    REQUIRE_MESSAGE(out.exit_code == 0, log_text(log));
    restore_seconds = std::max(restore_seconds, seconds_since(t));
  }
  bool target_is_new = false;
  REQUIRE(content_of(target).ids == old_ids);
  std::printf("backup crash: registry %.1f MB; uncrashed backup %.2f s, restore %.2f s\n",
              static_cast<double>(fs::file_size(sources / "old.db")) / (1 << 20), backup_seconds,
              restore_seconds);

  // ---- the kills ----
  long long kills = 0, backup_kills = 0, restore_kills = 0;
  long long partial_files = 0, mixed_restores = 0, orphan_manifests = 0, stale_temps = 0;
  long long killed_mid_copy = 0, killed_after_backup = 0, restore_old = 0, restore_new = 0;
  long long completed_runs = 0;
  const long long max_runs = 4 * kills_wanted + 10;
  for (long long run = 0; kills < kills_wanted && run < max_runs; ++run) {
    const bool during_backup = run % 2 == 0;
    CAPTURE(run);
    if (during_backup) {
      const fs::path dest = next_backup_name();
      std::uniform_int_distribution<std::int64_t> delay_us(
          0, static_cast<std::int64_t>(backup_seconds * 1.1e6));
      const auto out = run_cli({"--db", live.string(), "backup", "create", dest.string()}, log,
                               std::chrono::microseconds(delay_us(rng)));
      if (out.killed) {
        ++kills;
        ++backup_kills;
      } else {
        CHECK_MESSAGE(out.exit_code == 0, log_text(log));
        ++completed_runs;
        // A run that completed cleaned every temp file of the killed ones.
        CHECK(temp_files_in(rotation).empty());
      }
      const auto temps = temp_files_in(rotation);
      stale_temps += static_cast<long long>(temps.size());
      if (fs::exists(dest)) {
        if (out.killed) ++killed_after_backup;
        // Under its final name: it must be whole, with its manifest.
        bool whole = fs::exists(cairn::manifest_path(dest));
        if (whole) {
          try {
            cairn::verify_backup(dest);
          } catch (const cairn::Error& e) {
            MESSAGE("partial backup " << dest << ": " << e.what());
            whole = false;
          }
        } else {
          MESSAGE("backup " << dest << " has no manifest");
        }
        if (!whole) ++partial_files;
      } else {
        if (out.killed && !temps.empty()) ++killed_mid_copy;
        // The manifest is renamed into place just before the file.
        if (fs::exists(cairn::manifest_path(dest))) ++orphan_manifests;
      }

      // Rotation: everything listed verifies, and pruning keeps the newest 3.
      const auto listing = cairn::list_backups(rotation);
      for (const auto& l : listing) {
        if (!l.verified) {
          MESSAGE("listed backup does not verify: " << l.info.path << ": " << l.problem);
          ++partial_files;
        }
      }
      REQUIRE(listing.size() >= kKeep);
      std::set<fs::path> expected_removed, expected_kept;
      for (std::size_t i = 0; i < listing.size(); ++i) {
        (i < kKeep ? expected_kept : expected_removed).insert(listing[i].info.path);
      }
      std::set<fs::path> removed;  // backups; orphan manifests a kill left go too
      for (const auto& path : cairn::prune_backups(rotation, kKeep)) {
        if (path.extension() == ".db") removed.insert(path);
      }
      CHECK(removed == expected_removed);
      CHECK(backup_files_in(rotation) == expected_kept);
    } else {
      const fs::path from = sources / (target_is_new ? "old.db" : "new.db");
      const std::set<std::string>& before_ids = target_is_new ? new_ids : old_ids;
      const bool keep_replaced = run % 4 == 1;
      std::vector<std::string> args{"restore", from.string(), "--to", target.string()};
      if (!keep_replaced) args.emplace_back("--discard-replaced");
      std::uniform_int_distribution<std::int64_t> delay_us(
          0, static_cast<std::int64_t>(restore_seconds * 1.1e6));
      const auto out = run_cli(args, log, std::chrono::microseconds(delay_us(rng)));
      if (out.killed) {
        ++kills;
        ++restore_kills;
      } else {
        CHECK_MESSAGE(out.exit_code == 0, log_text(log));
        ++completed_runs;
      }
      stale_temps += static_cast<long long>(temp_files_in(target_dir).size());

      // The target: wholly old or wholly new.
      const Content now = content_of(target);
      CHECK_MESSAGE(now.sound, now.problem);
      const std::string state = name_of(now.ids, old_ids, new_ids);
      if (now.ids == new_ids) {
        target_is_new = true;
      } else if (now.ids == old_ids) {
        target_is_new = false;
      } else {
        ++mixed_restores;
        MESSAGE("restore killed at run " << run << " left " << state);
      }
      const bool moved = (now.ids == new_ids) != (&before_ids == &new_ids);
      if (out.killed) ++(moved ? restore_new : restore_old);
      if (!out.killed) {
        CHECK_MESSAGE(moved, "a completed restore left the target " << state);
        CHECK(temp_files_in(target_dir).empty());
      }

      // A replaced database kept aside is wholly the content it replaced.
      for (const auto& entry : fs::directory_iterator(target_dir)) {
        const std::string name = entry.path().filename().string();
        if (!name.starts_with("t.db.before-restore-") || name.ends_with("-wal") ||
            name.ends_with("-shm")) {
          continue;
        }
        CHECK_MESSAGE(keep_replaced, "kept aside although told not to: " << name);
        const Content aside = content_of(entry.path());
        CHECK_MESSAGE(aside.sound, aside.problem);
        CHECK_MESSAGE(aside.ids == before_ids,
                      name << " is " << name_of(aside.ids, old_ids, new_ids));
      }
      for (const auto& entry : fs::directory_iterator(target_dir)) {
        if (entry.path().filename().string().starts_with("t.db.before-restore-")) {
          fs::remove(entry.path());
        }
      }
    }
  }
  CHECK(kills == kills_wanted);

  // ---- the next runs, uncrashed, clean up after the killed ones ----
  const auto last_backup =
      run_cli({"--db", live.string(), "backup", "create", next_backup_name().string()}, log);
  CHECK_MESSAGE(last_backup.exit_code == 0, log_text(log));
  CHECK(temp_files_in(rotation).empty());
  const auto last_restore = run_cli(
      {"restore", (sources / "new.db").string(), "--to", target.string(), "--discard-replaced"},
      log);
  CHECK_MESSAGE(last_restore.exit_code == 0, log_text(log));
  CHECK(temp_files_in(target_dir).empty());
  CHECK(content_of(target).ids == new_ids);
  cairn::prune_backups(rotation, kKeep);
  const auto final_listing = cairn::list_backups(rotation);
  CHECK(final_listing.size() == kKeep);
  for (const auto& l : final_listing) CHECK(l.verified);

  CHECK(partial_files == 0);
  CHECK(mixed_restores == 0);
  std::printf(
      "backup crash: %lld kills (%lld during backup, %lld during restore), %lld partial files, "
      "%lld mixed restores\n",
      kills, backup_kills, restore_kills, partial_files, mixed_restores);
  std::printf(
      "backup crash: backup kills: %lld left a temp file, %lld after the backup was in place; "
      "restore kills: %lld left the previous content, %lld the restored one; %lld runs "
      "completed before their kill; %lld stale temp files seen, all removed by later runs; "
      "%lld orphan manifests; seed %llu; %.1f s\n",
      killed_mid_copy, killed_after_backup, restore_old, restore_new, completed_runs, stale_temps,
      orphan_manifests, static_cast<unsigned long long>(seed), seconds_since(started));
  if (orphan_manifests > 0) {
    MESSAGE(orphan_manifests << " killed backups left a manifest without its backup file");
  }
}
