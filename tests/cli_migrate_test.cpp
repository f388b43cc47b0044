// `cairn migrate up|plan --to N` through the built tool (issue 16): a target
// below the current schema version or past the newest known migration is a
// usage error naming N, the current version and the newest; the current
// version itself is "up to date".
//
// Regression: `migrate up --to 1` on a registry at version 3 printed "up to
// date at version 3" and exited 0, as did `--to 99`. Found by review.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

namespace {

using test::contains;
using Result = test::ProcessResult;

constexpr int kOk = 0;
constexpr int kUsage = 2;

Result run_cairn(std::vector<std::string> args) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args);
}

}  // namespace

TEST_CASE("cli migrate: --to below the current version or past the newest exits 2") {
  test::TempDir dir;
  const std::string db = (dir / "registry.db").string();
  REQUIRE(run_cairn({"--db", db, "init"}).exit_code == kOk);
  const int latest = cairn::latest_schema_version();
  REQUIRE(latest >= 2);  // a registry made by init is at the newest version
  const std::string current = std::to_string(latest);
  const std::string before_file = test::read_bytes(db);

  for (const std::string verb : {"up", "plan"}) {
    CAPTURE(verb);
    for (const int to : {0, 1, latest - 1, latest + 1, 99}) {
      CAPTURE(to);
      const Result r = run_cairn({"--db", db, "migrate", verb, "--to", std::to_string(to)});
      CHECK(r.exit_code == kUsage);
      CHECK(r.out.empty());
      CHECK(contains(r.err, "--to " + std::to_string(to) + ":"));
      CHECK(contains(r.err, "version " + current));
      CHECK(contains(r.err, "newest known migration is " + current));
      CHECK_FALSE(contains(r.err, "up to date"));
    }
  }
  CHECK(test::read_bytes(db) == before_file);  // nothing written

  SUBCASE("--to the current version is up to date") {
    const Result up = run_cairn({"--db", db, "migrate", "up", "--to", current, "--no-backup"});
    CHECK_MESSAGE(up.exit_code == kOk, up.err);
    CHECK(contains(up.out, "up to date at version " + current));
    const Result plan = run_cairn({"--db", db, "migrate", "plan", "--to", current});
    CHECK_MESSAGE(plan.exit_code == kOk, plan.err);
    CHECK(plan.out.empty());
    CHECK(contains(plan.err, "up to date"));
  }
}
