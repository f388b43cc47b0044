// What the cairn tool accepts as a record (issue 16), through the built tool
// (CAIRN_CLI_PATH): a config entry needs a value; JSON that names one key
// twice in an object, at any depth, is refused naming the key (put, and
// import); and a record typed at a terminal ends at one Ctrl-D, whether
// typed at the start of a line or after the closing brace.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "pty_util.h"
#include "test_util.h"

namespace {

using nlohmann::json;
using test::contains;
using Result = test::ProcessResult;

constexpr int kOk = 0;
constexpr int kUsage = 2;
constexpr int kNotFound = 3;

Result run_cairn(std::vector<std::string> args, std::string_view stdin_bytes = {}) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args, {.stdin_bytes = std::string(stdin_bytes)});
}

struct Cli {
  test::TempDir dir;
  std::string db = (dir / "registry.db").string();

  Cli() {
    const Result init = run_cairn({"--db", db, "init"});
    REQUIRE_MESSAGE(init.exit_code == kOk, init.err);
  }

  Result operator()(std::vector<std::string> args, std::string_view stdin_bytes = {}) const {
    args.insert(args.begin(), {"--db", db});
    return run_cairn(args, stdin_bytes);
  }

  std::string ok(const std::vector<std::string>& args, std::string_view stdin_bytes = {}) const {
    const Result r = (*this)(args, stdin_bytes);
    REQUIRE_MESSAGE(r.exit_code == kOk, "cairn ", json(args).dump(), ": ", r.err);
    return r.out;
  }
};

constexpr std::string_view kHeader = R"({"format":"cairn-export","version":1})";

}  // namespace

// Regression: `cairn put config '{"key":"k"}'` stored the entry with a null
// value, so a typo in "value" went unnoticed. Found by review of issue 16.
TEST_CASE("cli input: put config without a value exits 2, naming the record and the field") {
  Cli cli;
  SUBCASE("absent value: refused, nothing stored") {
    const Result put = cli({"put", "config", R"({"key":"k"})"});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "config \"k\""));
    CHECK(contains(put.err, "value"));
    CHECK(put.out.empty());
    CHECK(cli({"get", "config", "k"}).exit_code == kNotFound);
  }
  SUBCASE("a misspelt value is refused too (as an unknown field)") {
    CHECK(cli({"put", "config", R"({"key":"k","valeu":1})"}).exit_code == kUsage);
    CHECK(cli({"get", "config", "k"}).exit_code == kNotFound);
  }
  SUBCASE("an explicit null is a value, and is stored") {
    const json stored = json::parse(cli.ok({"put", "config", R"({"key":"k","value":null})"}));
    CHECK(stored.at("value").is_null());
    CHECK(json::parse(cli.ok({"get", "config", "k"})).at("value").is_null());
  }
  SUBCASE("import refuses a config line without a value") {
    const std::string text =
        std::string(kHeader) + "\n" + R"({"kind":"config","record":{"key":"k"}})" + "\n";
    const Result import = cli({"import"}, text);
    CHECK(import.exit_code == kUsage);
    CHECK(contains(import.err, "line 2:"));
    CHECK(contains(import.err, "config \"k\""));
    CHECK(contains(import.err, "value"));
    CHECK(cli({"get", "config", "k"}).exit_code == kNotFound);
  }
}

TEST_CASE("cli input: put of JSON naming a key twice exits 2 with duplicate key \"...\"") {
  Cli cli;
  struct Case {
    const char* what;
    std::string kind;
    std::string input;
    std::string key;
  };
  const std::vector<Case> cases = {
      {"top level", "app", R"({"id":"a","id":"b"})", "id"},
      {"top level, apart", "app", R"({"id":"a","pools":[],"id":"a"})", "id"},
      {"nested object", "app", R"({"id":"a","meta":{"x":{"y":1,"y":2}}})", "y"},
      {"object in an array", "app", R"({"id":"a","meta":{"list":[{"k":1},{"k":1,"k":2}]}})", "k"},
      {"config value", "config", R"({"key":"c","value":{"port":1,"port":2}})", "port"},
      {"trigger", "trigger", R"({"id":"t","origin_app_id":"a","destination":"b","id":"u"})", "id"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const Result put = cli({"put", c.kind, c.input});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "duplicate key \"" + c.key + "\""));
    CHECK(put.out.empty());
    const Result piped = cli({"put", c.kind}, c.input);  // from stdin as well
    CHECK(piped.exit_code == kUsage);
    CHECK(contains(piped.err, "duplicate key \"" + c.key + "\""));
  }
  CHECK(cli({"get", "app", "a"}).exit_code == kNotFound);
  CHECK(cli({"get", "config", "c"}).exit_code == kNotFound);
}

TEST_CASE("cli input: equal keys in different objects are fine; the depth limit still holds") {
  Cli cli;
  SUBCASE("the same key in sibling objects, or in objects of one array, is fine") {
    cli.ok({"put", "app", R"({"id":"a","meta":{"x":{"y":1},"z":{"y":2},"l":[{"k":1},{"k":2}]}})"});
    const json stored = json::parse(cli.ok({"get", "app", "a"}));
    CHECK(stored.at("meta").at("z").at("y") == 2);
  }
  SUBCASE("the depth limit still holds") {
    const std::string deep = std::string(65, '[') + std::string(65, ']');
    const Result put = cli({"put", "config", R"({"key":"d","value":)" + deep + "}"});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "nested deeper than 64 levels"));
  }
}

TEST_CASE("cli input: import refuses a line naming a key twice, naming the line and the key") {
  Cli cli;
  cli.ok({"put", "config", R"({"key":"before","value":1})"});
  struct Case {
    const char* what;
    std::string line;
    std::string key;
  };
  const std::vector<Case> cases = {
      {"the line's own members", R"({"kind":"app","kind":"config","record":{"key":"k","value":1}})",
       "kind"},
      {"the record", R"({"kind":"config","record":{"key":"k","key":"j","value":1}})", "key"},
      {"deep in a value", R"({"kind":"config","record":{"key":"k","value":{"a":{"b":1,"b":2}}}})",
       "b"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const std::string text = std::string(kHeader) + "\n" +
                             R"({"kind":"config","record":{"key":"fine","value":2}})" + "\n" +
                             c.line + "\n";
    const Result import = cli({"import"}, text);
    CHECK(import.exit_code == kUsage);
    CHECK(contains(import.err, "line 3: duplicate key \"" + c.key + "\""));
    CHECK(cli({"get", "config", "fine"}).exit_code == kNotFound);  // all or nothing
  }
  SUBCASE("a header naming a key twice") {
    const std::string text = R"({"format":"cairn-export","format":"cairn-export","version":1})"
                             "\n";
    const Result import = cli({"import"}, text);
    CHECK(import.exit_code == kUsage);
    CHECK(contains(import.err, "line 1: duplicate key \"format\""));
  }
}

// Regression: `cairn put app` reading from a terminal needed two Ctrl-Ds
// after `{...}` on a line of its own making: stdio kept reading after the
// first, which only hands the partial line over. Found by use (issue 16).
TEST_CASE("cli input: a record typed at a terminal ends at one Ctrl-D") {
  Cli cli;
  struct Case {
    const char* what;
    std::string typed;
  };
  const std::vector<Case> cases = {
      {"Ctrl-D right after the closing brace", "{\"id\":\"typed\",\"meta\":{\"n\":1}}\x04"},
      {"Ctrl-D at the start of the next line", "{\"id\":\"typed\",\n\"meta\":{\"n\":1}}\n\x04"},
      {"a record over several lines, Ctrl-D after it", "{\n\"id\": \"typed\",\n\"meta\": {\"n\": 1}}\x04"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    // A Ctrl-D that the tool did not need stays unread in the terminal.
    const test::PtyResult put = test::run_in_pty({CAIRN_CLI_PATH, "--db", cli.db, "put", "app"},
                                                 {.tty_stdin = true, .typed = c.typed});
    REQUIRE_FALSE_MESSAGE(put.timed_out, "still waiting for input; terminal: ", put.terminal);
    CHECK_MESSAGE(put.exit_code == kOk, put.err);
    CHECK(contains(put.err, "end with Ctrl-D"));
    const json stored = json::parse(cli.ok({"get", "app", "typed"}));
    CHECK(stored.at("meta") == json{{"n", 1}});
    cli.ok({"rm", "app", "typed"});
  }
}

TEST_CASE("cli input: a Ctrl-D at a terminal before the record is whole ends the input") {
  Cli cli;
  {
    const test::PtyResult put = test::run_in_pty({CAIRN_CLI_PATH, "--db", cli.db, "put", "app"},
                                                 {.tty_stdin = true, .typed = "{\"id\":\n\x04"});
    REQUIRE_FALSE(put.timed_out);
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "invalid JSON input"));
  }
}
