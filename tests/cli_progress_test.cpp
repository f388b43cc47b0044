// Progress of the tool's long commands (issue 16): import, export, restore,
// migrate up and dry-run, backup verify and prune draw a line on stderr,
// rewritten with '\r' and cleared at the end, when stderr is a terminal; and
// nothing when stderr is not a terminal, or with --quiet. Through the built
// tool (CAIRN_CLI_PATH) under a pseudo-terminal. What is drawn between the
// first and the last drawing depends on time, so only those are checked.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "pty_util.h"
#include "test_util.h"

namespace {

using test::contains;
using Result = test::ProcessResult;

constexpr int kOk = 0;
constexpr std::string_view kClearLine = "\r\033[K";

Result run_cairn(std::vector<std::string> args, std::string_view stdin_bytes = {}) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args, {.stdin_bytes = std::string(stdin_bytes)});
}

// A registry with `apps` apps, a backup of it in `dir`/backups, and an
// export of it.
struct Fixture {
  test::TempDir dir;
  std::string db = (dir / "registry.db").string();
  std::string backups = (dir / "backups").string();
  std::string backup = (dir / "backups" / "one.db").string();
  std::string exported = (dir / "export.jsonl").string();

  explicit Fixture(int apps) {
    REQUIRE(run_cairn({"--db", db, "init"}).exit_code == kOk);
    std::string text = "{\"format\":\"cairn-export\",\"version\":1}\n";
    for (int i = 0; i < apps; ++i) {
      text += R"({"kind":"app","record":{"id":"app-)" + std::to_string(i) + "\"}}\n";
    }
    test::write_bytes(exported, text);
    const Result import = run_cairn({"--db", db, "import", exported});
    REQUIRE_MESSAGE(import.exit_code == kOk, import.err);
    const Result backup_made = run_cairn({"--db", db, "--quiet", "backup", "create", backup});
    REQUIRE_MESSAGE(backup_made.exit_code == kOk, backup_made.err);
  }
};

struct Command {
  std::vector<std::string> args;  // after --db DB
  std::string label;              // what its progress line starts with
};

std::vector<Command> long_commands(const Fixture& f) {
  return {
      {{"import", f.exported}, "importing"},
      {{"export", "--output", (f.dir / "again.jsonl").string()}, "exporting"},
      {{"restore", f.backup}, "restoring " + f.db},
      {{"migrate", "up", "--no-backup"}, "migrating " + f.db},
      {{"migrate", "dry-run"}, "dry run: migrating an in-memory copy of " + f.db},
      {{"backup", "verify", f.backup}, "verifying " + f.backup},
      {{"backup", "prune", "--keep", "1", f.backups}, "pruning " + f.backups},
  };
}

std::vector<std::string> with_db(const Fixture& f, std::vector<std::string> args) {
  args.insert(args.begin(), {CAIRN_CLI_PATH, "--db", f.db});
  return args;
}

}  // namespace

TEST_CASE("cli progress: long commands draw a progress line on a terminal, cleared at the end") {
  Fixture f(3000);
  for (const Command& command : long_commands(f)) {
    CAPTURE(command.label);
    const test::PtyResult run =
        test::run_in_pty(with_db(f, command.args), {.tty_stderr = true});
    REQUIRE_FALSE(run.timed_out);
    CHECK_MESSAGE(run.exit_code == kOk, run.terminal);
    CHECK(contains(run.terminal, "\r" + command.label + "..."));
    // The last progress drawn is cleared: what follows (a summary) starts
    // on a clean line.
    const std::string& t = run.terminal;
    const std::size_t last_clear = t.rfind(kClearLine);
    REQUIRE(last_clear != std::string::npos);
    CHECK(last_clear > t.find(command.label));
    CHECK(t.find(command.label, last_clear) == std::string::npos);
  }
}

TEST_CASE("cli progress: import counts the records it writes, with a percentage") {
  Fixture f(3000);
  const test::PtyResult run =
      test::run_in_pty(with_db(f, {"import", f.exported}), {.tty_stderr = true});
  REQUIRE_FALSE(run.timed_out);
  CHECK_MESSAGE(run.exit_code == kOk, run.terminal);
  // The last count is always drawn.
  CHECK(contains(run.terminal, "importing: 3000 of 3000 records written (100%)"));
  // The summary is data: stdout, after the line was cleared.
  CHECK(contains(run.out, "records:"));
  CHECK_FALSE(contains(run.out, "importing"));
}

TEST_CASE("cli progress: none when stderr is not a terminal") {
  Fixture f(3000);
  for (const Command& command : long_commands(f)) {
    CAPTURE(command.label);
    std::vector<std::string> args = command.args;
    args.insert(args.begin(), {"--db", f.db});
    const Result run = run_cairn(args);
    CHECK_MESSAGE(run.exit_code == kOk, run.err);
    CHECK_FALSE(contains(run.err, "\r"));
    CHECK_FALSE(contains(run.err, command.label));
    // Not even when stdin is the terminal: it is stderr that counts.
    const test::PtyResult in_tty = test::run_in_pty(with_db(f, command.args), {.tty_stdin = true});
    REQUIRE_FALSE(in_tty.timed_out);
    CHECK_FALSE(contains(in_tty.err, "\r"));
    CHECK_FALSE(contains(in_tty.err, command.label));
  }
}

TEST_CASE("cli progress: none with --quiet, even on a terminal") {
  Fixture f(3000);
  for (const Command& command : long_commands(f)) {
    CAPTURE(command.label);
    std::vector<std::string> args = command.args;
    args.insert(args.begin(), "--quiet");
    const test::PtyResult run = test::run_in_pty(with_db(f, args), {.tty_stderr = true});
    REQUIRE_FALSE(run.timed_out);
    CHECK_MESSAGE(run.exit_code == kOk, run.terminal);
    CHECK_FALSE(contains(run.terminal, "\r"));
    CHECK_FALSE(contains(run.terminal, command.label));
  }
}
