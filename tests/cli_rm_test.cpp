// What `cairn rm` reports (issue 16): a line naming the record and the
// revision of its removal, the removed record itself with --json (read in
// the removal's own transaction), the memory blocks a pool's --cascade took
// with it, and nothing with --quiet. Run through the built tool
// (CAIRN_CLI_PATH).
#include <doctest/doctest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"

namespace {

using nlohmann::json;
using test::contains;
using Result = test::ProcessResult;

constexpr int kOk = 0;
constexpr int kNotFound = 3;

Result run_cairn(std::vector<std::string> args) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args);
}

// A registry created by `cairn init`, and the tool run against it.
struct Cli {
  test::TempDir dir;
  std::string db = (dir / "registry.db").string();

  Cli() {
    const Result init = run_cairn({"--db", db, "init"});
    REQUIRE_MESSAGE(init.exit_code == kOk, init.err);
  }

  Result operator()(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--db", db});
    return run_cairn(args);
  }

  std::string ok(const std::vector<std::string>& args) const {
    const Result r = (*this)(args);
    REQUIRE_MESSAGE(r.exit_code == kOk, "cairn ", json(args).dump(), ": ", r.err);
    return r.out;
  }

  // The registry's last revision, as `cairn init` prints it for an existing file.
  std::int64_t revision() const {
    return json::parse(ok({"--json", "init"})).at("revision").get<std::int64_t>();
  }
};

}  // namespace

TEST_CASE("cli rm: prints the record removed and the revision of its removal") {
  Cli cli;
  cli.ok({"put", "app", R"({"id":"render-1","meta":{"gpu":true}})"});
  cli.ok({"put", "config", R"({"key":"port","value":7000})"});
  const std::int64_t before = cli.revision();

  SUBCASE("text: one line, naming kind, key and revision") {
    const Result rm = cli({"rm", "app", "render-1"});
    CHECK_MESSAGE(rm.exit_code == kOk, rm.err);
    CHECK(rm.out == "removed app \"render-1\" (revision " + std::to_string(before + 1) + ")\n");
    CHECK(cli.revision() == before + 1);
  }
  SUBCASE("--json: kind, key, revision and the record as it was") {
    const json out = json::parse(cli.ok({"--json", "rm", "app", "render-1"}));
    CHECK(out.at("kind") == "app");
    CHECK(out.at("key") == "render-1");
    CHECK(out.at("revision") == before + 1);
    CHECK(out.at("record").at("id") == "render-1");
    CHECK(out.at("record").at("meta") == json{{"gpu", true}});
    CHECK_FALSE(out.contains("cascaded"));
  }
  SUBCASE("--json for a config entry keeps its value") {
    const json out = json::parse(cli.ok({"--json", "rm", "config", "port"}));
    CHECK(out.at("kind") == "config");
    CHECK(out.at("key") == "port");
    CHECK(out.at("record").at("value") == 7000);
  }
  SUBCASE("--quiet prints nothing, and still removes") {
    const Result rm = cli({"--quiet", "rm", "app", "render-1"});
    CHECK_MESSAGE(rm.exit_code == kOk, rm.err);
    CHECK(rm.out.empty());
    CHECK(rm.err.empty());
    CHECK(cli({"get", "app", "render-1"}).exit_code == kNotFound);
  }
  SUBCASE("an absent key still exits 3 and prints nothing on stdout") {
    const Result rm = cli({"rm", "app", "never-there"});
    CHECK(rm.exit_code == kNotFound);
    CHECK(rm.out.empty());
  }
}

TEST_CASE("cli rm: a pool's --cascade reports the blocks removed with it") {
  Cli cli;
  cli.ok({"put", "pool", R"({"name":"p"})"});
  cli.ok({"put", "pool", R"({"name":"other"})"});
  cli.ok({"put", "block", R"({"id":"b1","pool":"p","config":{"n":1}})"});
  cli.ok({"put", "block", R"({"id":"b2","pool":"p"})"});
  cli.ok({"put", "block", R"({"id":"kept","pool":"other"})"});
  const std::int64_t removal = cli.revision() + 1;

  SUBCASE("text: the pool, then each block") {
    const std::string out = cli.ok({"rm", "pool", "p", "--cascade"});
    const std::string rev = std::to_string(removal);
    CHECK(contains(out, "removed pool \"p\" (revision " + rev + ")\n"));
    CHECK(contains(out, "removed block \"b1\" (revision " + rev + ", with the pool)\n"));
    CHECK(contains(out, "removed block \"b2\" (revision " + rev + ", with the pool)\n"));
    CHECK_FALSE(contains(out, "kept"));
  }
  SUBCASE("--json: cascaded holds each block's kind, key, revision and record") {
    const json out = json::parse(cli.ok({"--json", "rm", "pool", "p", "--cascade"}));
    CHECK(out.at("kind") == "pool");
    CHECK(out.at("key") == "p");
    CHECK(out.at("revision") == removal);
    CHECK(out.at("record").at("name") == "p");
    const json& cascaded = out.at("cascaded");
    REQUIRE(cascaded.size() == 2);
    std::vector<std::string> keys;
    for (const json& block : cascaded) {
      CHECK(block.at("kind") == "memory_block");
      CHECK(block.at("revision") == removal);
      CHECK(block.at("record").at("pool") == "p");
      keys.push_back(block.at("key").get<std::string>());
    }
    CHECK(keys == std::vector<std::string>{"b1", "b2"});
  }
  SUBCASE("--json of a pool with no blocks: cascaded is empty") {
    cli.ok({"put", "pool", R"({"name":"empty"})"});
    const json out = json::parse(cli.ok({"--json", "rm", "pool", "empty", "--cascade"}));
    CHECK(out.at("cascaded") == json::array());
  }
  // Blocks of other pools are left alone.
  CHECK(cli({"get", "block", "kept"}).exit_code == kOk);
}

TEST_CASE("cli rm: kv entries and triggers report their removal too") {
  Cli cli;
  cli.ok({"put", "kv", "ns", "k", "bytes"});
  const std::int64_t removal = cli.revision() + 1;
  SUBCASE("kv: the entry and its revision") {
    CHECK(cli.ok({"rm", "kv", "ns", "k"}) ==
          "removed kv \"ns/k\" (revision " + std::to_string(removal) + ")\n");
  }
  SUBCASE("kv --json: the entry as it was") {
    const json out = json::parse(cli.ok({"--json", "rm", "kv", "ns", "k"}));
    CHECK(out.at("kind") == "kv");
    CHECK(out.at("key") == "ns/k");
    CHECK(out.at("revision") == removal);
    CHECK(out.at("record").at("key") == "k");
  }
}
