// The cairn command-line tool, run as a child process: its exit codes, what it
// prints on stdout and stderr, and what it leaves in the registry file.
//
// Every test works in its own temporary directory, and the child never
// inherits CAIRN_DB from the environment of the test run.

#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/registry.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The exit codes of main.cpp's table.
constexpr int kOk = 0;
constexpr int kUsage = 2;
constexpr int kNotFound = 3;
constexpr int kConflict = 4;
constexpr int kRefused = 5;
constexpr int kCorrupt = 6;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cairn-cli-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string file(std::string_view name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

using Result = test::ProcessResult;
using RunOptions = test::ProcessOptions;

// Runs the built cairn with `args`.
Result run_cairn(std::vector<std::string> args, const RunOptions& options = {}) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args, options);
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> values;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) values.push_back(json::parse(line));
  return values;
}

std::vector<std::string> keys_of(const std::vector<json>& records, const std::string& key_field) {
  std::vector<std::string> keys;
  for (const json& record : records) keys.push_back(record.at(key_field).get<std::string>());
  return keys;
}

// A new registry file in `dir`, created by `cairn init`.
std::string init_registry(const TempDir& dir) {
  const std::string db = dir.file("registry.db");
  const Result init = run_cairn({"--db", db, "init"});
  REQUIRE_MESSAGE(init.exit_code == kOk, init.err);
  return db;
}

// Puts `record` and returns it as the tool printed it back.
json put_record(const std::string& db, const std::string& kind, const json& record) {
  const Result put = run_cairn({"--db", db, "put", kind, record.dump()});
  REQUIRE_MESSAGE(put.exit_code == kOk, put.err);
  return json::parse(put.out);
}

// Every member of `given` comes back unchanged in `stored`.
void check_members_kept(const json& given, const json& stored) {
  for (const auto& [name, value] : given.items()) {
    CHECK_MESSAGE(stored.value(name, json()) == value, "member ", name, " of ", stored.dump());
  }
}

// put, get, ls (both forms) and rm, for two records of one kind given in key
// order. A `setup` record of another kind is put first when the kind needs one.
void check_round_trip(const std::string& kind, const std::string& key_field,
                      const std::vector<json>& records, const std::vector<json>& pools = {}) {
  TempDir dir;
  const std::string db = init_registry(dir);
  for (const json& pool : pools) put_record(db, "pool", pool);

  std::vector<json> stored;
  for (const json& record : records) {
    stored.push_back(put_record(db, kind, record));
    check_members_kept(record, stored.back());
    CHECK(stored.back().at("revision").get<std::int64_t>() > 0);
  }

  for (const json& expected : stored) {
    const std::string key = expected.at(key_field).get<std::string>();
    const Result get = run_cairn({"--db", db, "get", kind, key});
    REQUIRE_MESSAGE(get.exit_code == kOk, get.err);
    CHECK(json::parse(get.out) == expected);
    CHECK(get.err.empty());
  }

  const Result ls = run_cairn({"--db", db, "ls", kind});
  REQUIRE_MESSAGE(ls.exit_code == kOk, ls.err);
  CHECK(json_lines(ls.out) == stored);

  const Result ls_json = run_cairn({"--db", db, "ls", kind, "--json"});
  REQUIRE_MESSAGE(ls_json.exit_code == kOk, ls_json.err);
  CHECK(json::parse(ls_json.out) == json(stored));

  const std::string first = stored.front().at(key_field).get<std::string>();
  const Result rm = run_cairn({"--db", db, "rm", kind, first});
  CHECK_MESSAGE(rm.exit_code == kOk, rm.err);
  CHECK(contains(rm.out, "removed " + kind + " \"" + first + "\" (revision "));
  CHECK(run_cairn({"--db", db, "get", kind, first}).exit_code == kNotFound);
  CHECK(json_lines(run_cairn({"--db", db, "ls", kind}).out) ==
        std::vector<json>(stored.begin() + 1, stored.end()));

  const Result rm_again = run_cairn({"--db", db, "rm", kind, first});
  CHECK(rm_again.exit_code == kNotFound);
  CHECK(contains(rm_again.err, first));
}

}  // namespace

TEST_CASE("cli: init creates the registry file and prints its path and schema version") {
  TempDir dir;
  const std::string db = dir.file("nested/dir/registry.db");

  SUBCASE("text") {
    const Result init = run_cairn({"--db", db, "init"});
    CHECK_MESSAGE(init.exit_code == kOk, init.err);
    CHECK(fs::is_regular_file(db));
    CHECK(contains(init.out, "registry.db"));
    CHECK(contains(init.out,
                   "schema_version: " + std::to_string(cairn::latest_schema_version()) + "\n"));
    CHECK(init.err.empty());
  }
  SUBCASE("json") {
    const Result init = run_cairn({"--json", "--db", db, "init"});
    CHECK_MESSAGE(init.exit_code == kOk, init.err);
    const json summary = json::parse(init.out);
    CHECK(summary.at("schema_version") == cairn::latest_schema_version());
    CHECK(contains(summary.at("path").get<std::string>(), "registry.db"));
  }
  SUBCASE("quiet prints nothing") {
    const Result init = run_cairn({"--quiet", "--db", db, "init"});
    CHECK_MESSAGE(init.exit_code == kOk, init.err);
    CHECK(fs::is_regular_file(db));
    CHECK(init.out.empty());
  }
  SUBCASE("a second init opens the same registry") {
    REQUIRE(run_cairn({"--db", db, "init"}).exit_code == kOk);
    put_record(db, "app", {{"id", "kept"}});
    CHECK(run_cairn({"--db", db, "init"}).exit_code == kOk);
    CHECK(run_cairn({"--db", db, "get", "app", "kept"}).exit_code == kOk);
  }
}

TEST_CASE("cli: demo runs twice on the same file and prints each step") {
  TempDir dir;
  const std::string db = dir.file("demo.db");

  for (int run = 1; run <= 2; ++run) {
    CAPTURE(run);
    const Result demo = run_cairn({"--db", db, "demo"});
    REQUIRE_MESSAGE(demo.exit_code == kOk, demo.err);
    for (int step = 1; step <= 19; ++step) {
      CHECK(contains(demo.out, "[" + std::to_string(step) + "/19] "));
    }
    CHECK_FALSE(contains(demo.out, "[20/"));
    CHECK(contains(demo.out, run == 1 ? "] registered app" : "] re-registered app"));
    CHECK(contains(demo.out, "one transaction updated app"));
    // The subscriber's events print under the step that made them.
    CHECK(contains(demo.out, " app.updated \"latzero-demo\""));
    CHECK(contains(demo.out, " memory_block.updated \"demo-greeting\""));
    CHECK(contains(demo.out, "was refused (conflict"));
    CHECK(contains(demo.out, "rolled back: revision still"));
    CHECK(contains(demo.out, " kv.put \"demo-sessions/from-another-process\""));
    CHECK(contains(demo.out, " backup.created "));
    CHECK(contains(demo.out, "export exactly as the original's"));
    CHECK(contains(demo.out, "its export is byte-identical"));
    CHECK(contains(demo.out, "schema_version:"));
    CHECK(demo.err.empty());
  }
  // The rolled-back transaction left nothing; the other process's write is there.
  CHECK(run_cairn({"--db", db, "get", "config", "demo.rolled-back"}).exit_code == 3);
  const Result other = run_cairn({"--db", db, "get", "kv", "demo-sessions", "from-another-process"});
  CHECK_MESSAGE(other.exit_code == kOk, other.err);
  // The backup and the restored copy went to a temporary directory, now gone:
  // beside the registry there are only its own files.
  std::set<std::string> beside;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    beside.insert(entry.path().filename().string());
  }
  CHECK(beside == std::set<std::string>{"demo.db", "demo.db-shm", "demo.db-wal"});

  // What the demo wrote is in the file: each run's transaction added a heartbeat.
  const Result app = run_cairn({"--db", db, "get", "app", "latzero-demo"});
  REQUIRE_MESSAGE(app.exit_code == kOk, app.err);
  CHECK(json::parse(app.out).at("meta").at("heartbeats") == 2);
  CHECK(json::parse(app.out).at("rehydrated") == true);
  const Result block = run_cairn({"--db", db, "get", "block", "demo-greeting"});
  REQUIRE_MESSAGE(block.exit_code == kOk, block.err);
  CHECK(json::parse(block.out).at("size") == 512);
  CHECK(json::parse(block.out).at("revision") == json::parse(app.out).at("revision"));
  const Result config = run_cairn({"--db", db, "get", "config", "server"});
  REQUIRE_MESSAGE(config.exit_code == kOk, config.err);
  CHECK(json::parse(config.out).at("value").at("port") == 1337);
}

TEST_CASE("cli: demo with --json prints one JSON object per step and per event") {
  TempDir dir;
  const Result demo = run_cairn({"--json", "--db", dir.file("demo.db"), "demo"});
  REQUIRE_MESSAGE(demo.exit_code == kOk, demo.err);
  std::vector<json> steps;
  std::vector<json> events;
  for (const json& line : json_lines(demo.out)) {
    (line.contains("event") ? events : steps).push_back(line);
  }
  REQUIRE(steps.size() == 19);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    CHECK(steps[i].at("step") == i + 1);
    CHECK(steps[i].at("of") == 19);
    CHECK(steps[i].at("message").is_string());
  }
  auto named = [&](std::string_view name) {
    for (const json& step : steps) {
      if (step.at("name") == name) return step;
    }
    FAIL("no step " << name);
    return json();
  };
  CHECK(named("register_app").at("record").at("id") == "latzero-demo");
  const json tx = named("transaction");
  CHECK(tx.at("app").at("revision") == tx.at("block").at("revision"));
  CHECK(named("rollback").at("revision_before") == named("rollback").at("revision_after"));
  CHECK(named("restore").at("revision") == named("backup").at("backup").at("last_revision"));
  CHECK(named("stats").at("stats").at(json::json_pointer("/records/apps")) == 1);
  // Events arrive in revision order, and the one transaction's two share one.
  REQUIRE(!events.empty());
  for (std::size_t i = 1; i < events.size(); ++i) {
    CHECK(events[i - 1].at("event").at("revision") <= events[i].at("event").at("revision"));
  }
  std::size_t at_tx = 0;
  for (const json& e : events) at_tx += e.at("event").at("revision") == tx.at("app").at("revision");
  CHECK(at_tx == 2);
}

TEST_CASE("cli: demo without --db or CAIRN_DB uses ./cairn-demo.db") {
  TempDir dir;
  const Result demo = run_cairn({"--quiet", "demo"}, {.cwd = dir.path()});
  CHECK_MESSAGE(demo.exit_code == kOk, demo.err);
  CHECK(demo.out.empty());
  CHECK(fs::is_regular_file(dir.path() / "cairn-demo.db"));
}

TEST_CASE("cli: put then get prints the same app") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const json app = {{"id", "my-app"},
                    {"pools", {"p1", "p2"}},
                    {"triggers", {"on-save"}},
                    {"meta", {{"color", "blue"}, {"nested", {{"n", 1}}}}},
                    {"protocol_version", "2.1"}};
  const json stored = put_record(db, "app", app);
  check_members_kept(app, stored);

  const Result get = run_cairn({"--db", db, "get", "app", "my-app"});
  REQUIRE_MESSAGE(get.exit_code == kOk, get.err);
  CHECK(json::parse(get.out) == stored);
}

TEST_CASE("cli: apps round-trip through put, get, ls and rm") {
  check_round_trip("app", "id",
                   {{{"id", "app-a"}, {"pools", {"p1"}}, {"meta", {{"k", "v"}}}},
                    {{"id", "app-b"}, {"triggers", {"t1", "t2"}}, {"protocol_version", "1"}}});
}

TEST_CASE("cli: pools round-trip through put, get, ls and rm") {
  check_round_trip("pool", "name",
                   {{{"name", "pool-a"}, {"type", "local"}, {"owners", {"app-a"}}},
                    {{"name", "pool-b"},
                     {"type", "global"},
                     {"description", "shared"},
                     {"config", {{"ttl", 5}}}}});
}

TEST_CASE("cli: memory blocks round-trip through put, get, ls and rm") {
  check_round_trip("block", "id",
                   {{{"id", "block-a"}, {"pool", "p1"}, {"name", "a"}, {"size", 128}},
                    {{"id", "block-b"},
                     {"pool", "p1"},
                     {"type", "json"},
                     {"persistent", true},
                     {"permissions", {{"app-a", "rw"}}}}},
                   {{{"name", "p1"}}});
}

TEST_CASE("cli: config entries round-trip through put, get, ls and rm") {
  check_round_trip("config", "key",
                   {{{"key", "backup"}, {"value", {{"interval", 3600}, {"max", 5}}}},
                    {{"key", "port"}, {"value", 1337}}});
}

TEST_CASE("cli: put reads the record from stdin") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const json app = {{"id", "from-stdin"}, {"meta", {{"via", "pipe"}}}};

  SUBCASE("when the JSON argument is absent") {
    const Result put = run_cairn({"--db", db, "put", "app"}, {.stdin_bytes = app.dump()});
    CHECK_MESSAGE(put.exit_code == kOk, put.err);
  }
  SUBCASE("when the JSON argument is -") {
    const Result put = run_cairn({"--db", db, "put", "app", "-"}, {.stdin_bytes = app.dump()});
    CHECK_MESSAGE(put.exit_code == kOk, put.err);
  }

  const Result get = run_cairn({"--db", db, "get", "app", "from-stdin"});
  REQUIRE_MESSAGE(get.exit_code == kOk, get.err);
  CHECK(json::parse(get.out).at("meta") == app.at("meta"));
}

TEST_CASE("cli: what get prints, put accepts back") {
  TempDir dir;
  const std::string db = init_registry(dir);
  put_record(db, "pool", {{"name", "p"}, {"type", "global"}, {"policies", {{"read", {"*"}}}}});
  const Result get = run_cairn({"--db", db, "get", "pool", "p"});
  REQUIRE_MESSAGE(get.exit_code == kOk, get.err);

  const Result put = run_cairn({"--db", db, "put", "pool"}, {.stdin_bytes = get.out});
  REQUIRE_MESSAGE(put.exit_code == kOk, put.err);
  json before = json::parse(get.out), after = json::parse(put.out);
  CHECK(after.at("revision") > before.at("revision"));
  for (const char* stamp : {"revision", "created_at", "updated_at"}) {
    before.erase(stamp);
    after.erase(stamp);
  }
  CHECK(after == before);
}

TEST_CASE("cli: put with --quiet stores the record and prints nothing") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const Result put = run_cairn({"--quiet", "--db", db, "put", "app", R"({"id":"q"})"});
  CHECK_MESSAGE(put.exit_code == kOk, put.err);
  CHECK(put.out.empty());
  CHECK(run_cairn({"--db", db, "get", "app", "q"}).exit_code == kOk);
}

TEST_CASE("cli: bad JSON input exits 2 and names the problem") {
  TempDir dir;
  const std::string db = init_registry(dir);

  SUBCASE("invalid JSON") {
    const Result put = run_cairn({"--db", db, "put", "app", R"({"id": )"});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "cairn: error: invalid JSON input"));
    CHECK(put.out.empty());
  }
  SUBCASE("empty stdin") {
    const Result put = run_cairn({"--db", db, "put", "app"});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "invalid JSON input"));
  }
  SUBCASE("not an object") {
    const Result put = run_cairn({"--db", db, "put", "app", "[1, 2]"});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "expected a JSON object"));
  }
  SUBCASE("a field of the wrong type") {
    const Result put = run_cairn({"--db", db, "put", "app", R"({"id": "x", "pools": 5})"});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "pools"));
  }
  SUBCASE("a record the store refuses") {
    const Result put = run_cairn({"--db", db, "put", "app", R"({"id": "no spaces allowed"})"});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "cairn: error: "));
  }
  // Nothing of it reached the registry.
  CHECK(run_cairn({"--db", db, "ls", "app"}).out.empty());
}

TEST_CASE("cli: JSON nested 100,000 deep exits 2 without crashing") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const std::string open_only(100000, '[');
  const std::string balanced = open_only + std::string(100000, ']');
  const std::string deep_object = R"({"id":"deep","meta":)" + std::string(100000, '[');

  SUBCASE("on stdin") {
    for (const std::string* input : {&open_only, &balanced, &deep_object}) {
      const Result put = run_cairn({"--db", db, "put", "app"}, {.stdin_bytes = *input});
      CHECK(put.exit_code == kUsage);
      CHECK(contains(put.err, "nested deeper than 64 levels"));
      CHECK(put.out.empty());
    }
  }
  SUBCASE("as the argument") {
    const Result put = run_cairn({"--db", db, "put", "app", open_only});
    CHECK(put.exit_code == kUsage);
    CHECK(contains(put.err, "nested deeper than 64 levels"));
  }
}

TEST_CASE("cli: the input depth limit is 64 levels") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const auto nested_arrays = [](int depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  // 64 levels parse, and fail later for not being an object; 65 do not parse.
  const Result at_limit = run_cairn({"--db", db, "put", "app", nested_arrays(64)});
  CHECK(at_limit.exit_code == kUsage);
  CHECK(contains(at_limit.err, "expected a JSON object"));
  const Result past_limit = run_cairn({"--db", db, "put", "app", nested_arrays(65)});
  CHECK(past_limit.exit_code == kUsage);
  CHECK(contains(past_limit.err, "nested deeper than 64 levels"));
}

TEST_CASE("cli: get of an absent key exits 3 with a message on stderr and nothing on stdout") {
  TempDir dir;
  const std::string db = init_registry(dir);
  for (const char* kind : {"app", "pool", "block", "config"}) {
    CAPTURE(kind);
    const Result get = run_cairn({"--db", db, "get", kind, "absent-key"});
    CHECK(get.exit_code == kNotFound);
    CHECK(get.out.empty());
    CHECK(contains(get.err, "cairn: error: "));
    CHECK(contains(get.err, "absent-key"));
  }
  // A key spelled like a command is still a key.
  CHECK(run_cairn({"--db", db, "get", "app", "init"}).exit_code == kNotFound);
}

TEST_CASE("cli: rm of an absent key exits 3") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const Result rm = run_cairn({"--db", db, "rm", "app", "never-there"});
  CHECK(rm.exit_code == kNotFound);
  CHECK(rm.out.empty());
  CHECK(contains(rm.err, "app \"never-there\" not found"));
}

TEST_CASE("cli: a memory block in a missing pool exits 4 and is not stored") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const Result put =
      run_cairn({"--db", db, "put", "block", R"({"id": "orphan", "pool": "no-such-pool"})"});
  CHECK(put.exit_code == kConflict);
  CHECK(put.out.empty());
  CHECK(contains(put.err, "cairn: error: "));
  CHECK(run_cairn({"--db", db, "get", "block", "orphan"}).exit_code == kNotFound);
}

TEST_CASE("cli: removing a pool that blocks name exits 4 unless --cascade") {
  TempDir dir;
  const std::string db = init_registry(dir);
  put_record(db, "pool", {{"name", "p"}});
  put_record(db, "block", {{"id", "b"}, {"pool", "p"}});

  CHECK(run_cairn({"--db", db, "rm", "pool", "p"}).exit_code == kConflict);
  CHECK(run_cairn({"--db", db, "get", "block", "b"}).exit_code == kOk);

  const Result cascade = run_cairn({"--db", db, "rm", "pool", "p", "--cascade"});
  CHECK_MESSAGE(cascade.exit_code == kOk, cascade.err);
  CHECK(run_cairn({"--db", db, "get", "pool", "p"}).exit_code == kNotFound);
  CHECK(run_cairn({"--db", db, "get", "block", "b"}).exit_code == kNotFound);

  CHECK(run_cairn({"--db", db, "rm", "app", "x", "--cascade"}).exit_code == kUsage);
}

TEST_CASE("cli: put with a stale --expect-revision exits 4 and changes nothing") {
  TempDir dir;
  const std::string db = init_registry(dir);
  const json first = put_record(db, "app", {{"id", "cas"}, {"protocol_version", "1"}});
  const std::string revision = std::to_string(first.at("revision").get<std::int64_t>());
  put_record(db, "app", {{"id", "cas"}, {"protocol_version", "2"}});

  const Result stale =
      run_cairn({"--db", db, "put", "app", R"({"id":"cas","protocol_version":"3"})",
                 "--expect-revision", revision});
  CHECK(stale.exit_code == kConflict);
  CHECK(stale.out.empty());
  const Result get = run_cairn({"--db", db, "get", "app", "cas"});
  CHECK(json::parse(get.out).at("protocol_version") == "2");

  const Result absent_only =
      run_cairn({"--db", db, "put", "app", R"({"id":"cas"})", "--expect-revision", "0"});
  CHECK(absent_only.exit_code == kConflict);
}

TEST_CASE("cli: ls filters by pool and type and pages with --after and --limit") {
  TempDir dir;
  const std::string db = init_registry(dir);
  put_record(db, "pool", {{"name", "p1"}, {"type", "local"}});
  put_record(db, "pool", {{"name", "p2"}, {"type", "global"}});
  put_record(db, "block", {{"id", "b1"}, {"pool", "p1"}, {"type", "json"}});
  put_record(db, "block", {{"id", "b2"}, {"pool", "p1"}, {"type", "binary"}});
  put_record(db, "block", {{"id", "b3"}, {"pool", "p2"}, {"type", "json"}});
  put_record(db, "app", {{"id", "a1"}, {"pools", {"p1"}}});
  put_record(db, "app", {{"id", "a2"}, {"pools", {"p2"}}});

  const auto ls_keys = [&](std::vector<std::string> args, const std::string& key_field) {
    args.insert(args.begin(), {"--db", db, "ls"});
    const Result ls = run_cairn(args);
    REQUIRE_MESSAGE(ls.exit_code == kOk, ls.err);
    return keys_of(json_lines(ls.out), key_field);
  };
  using Keys = std::vector<std::string>;
  CHECK(ls_keys({"block"}, "id") == Keys{"b1", "b2", "b3"});
  CHECK(ls_keys({"block", "--pool", "p1"}, "id") == Keys{"b1", "b2"});
  CHECK(ls_keys({"block", "--type", "json"}, "id") == Keys{"b1", "b3"});
  CHECK(ls_keys({"block", "--pool", "p1", "--type", "json"}, "id") == Keys{"b1"});
  CHECK(ls_keys({"block", "--after", "b1", "--limit", "1"}, "id") == Keys{"b2"});
  CHECK(ls_keys({"pool", "--type", "global"}, "name") == Keys{"p2"});
  CHECK(ls_keys({"app", "--pool", "p2"}, "id") == Keys{"a2"});
  CHECK(ls_keys({"app", "--pool", "nobody"}, "id").empty());

  SUBCASE("options that do not apply are usage errors") {
    CHECK(run_cairn({"--db", db, "ls", "config", "--pool", "p1"}).exit_code == kUsage);
    CHECK(run_cairn({"--db", db, "ls", "app", "--type", "json"}).exit_code == kUsage);
    CHECK(run_cairn({"--db", db, "ls", "pool", "--type", "bogus"}).exit_code == kUsage);
    CHECK(run_cairn({"--db", db, "ls", "block", "--limit", "-1"}).exit_code == kUsage);
  }
}

TEST_CASE("cli: stats --json parses as JSON and has schema_version") {
  TempDir dir;
  const std::string db = init_registry(dir);
  put_record(db, "app", {{"id", "counted"}});

  const Result stats = run_cairn({"--db", db, "--json", "stats"});
  REQUIRE_MESSAGE(stats.exit_code == kOk, stats.err);
  const json parsed = json::parse(stats.out);
  CHECK(parsed.at("schema_version") == cairn::latest_schema_version());
  CHECK(parsed.at(json::json_pointer("/records/apps")) == 1);

  SUBCASE("without --json: aligned key: value lines") {
    const Result text = run_cairn({"--db", db, "stats"});
    REQUIRE_MESSAGE(text.exit_code == kOk, text.err);
    std::istringstream lines(text.out);
    std::size_t value_column = 0;
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
      const std::size_t colon = line.find(':');
      REQUIRE(colon != std::string::npos);
      const std::size_t column = line.find_first_not_of(' ', colon + 1);
      if (value_column == 0) value_column = column;
      CHECK(column == value_column);
    }
    CHECK(count >= 2);
    CHECK(contains(text.out, "schema_version:"));
  }
}

TEST_CASE("cli: CAIRN_DB names the registry when --db is absent") {
  TempDir dir;
  const std::string env_db = dir.file("from-env.db");
  const RunOptions env{.cairn_db = env_db};

  const Result init = run_cairn({"init"}, env);
  CHECK_MESSAGE(init.exit_code == kOk, init.err);
  CHECK(fs::is_regular_file(env_db));
  CHECK(run_cairn({"put", "app", R"({"id":"via-env"})"}, env).exit_code == kOk);
  CHECK(run_cairn({"get", "app", "via-env"}, env).exit_code == kOk);

  // --db wins over CAIRN_DB.
  const std::string flag_db = dir.file("from-flag.db");
  REQUIRE(run_cairn({"--db", flag_db, "init"}, env).exit_code == kOk);
  CHECK(run_cairn({"--db", flag_db, "get", "app", "via-env"}, env).exit_code == kNotFound);
}

TEST_CASE("cli: a command that needs a registry exits 2 without --db or CAIRN_DB") {
  TempDir dir;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"init"}, {"stats"}, {"check"}, {"get", "app", "x"}, {"ls", "app"}}) {
    CAPTURE(args.front());
    const Result result = run_cairn(args, {.cwd = dir.path()});
    CHECK(result.exit_code == kUsage);
    CHECK(contains(result.err, "CAIRN_DB"));
    CHECK(result.out.empty());
  }
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("cli: a registry file that does not exist is not created by reads") {
  TempDir dir;
  const std::string db = dir.file("typo.db");
  const Result get = run_cairn({"--db", db, "get", "app", "x"});
  CHECK(get.exit_code == kUsage);
  CHECK(contains(get.err, "init"));
  CHECK_FALSE(fs::exists(db));
}

TEST_CASE("cli: check on a good registry prints ok and exits 0") {
  TempDir dir;
  const std::string db = init_registry(dir);
  put_record(db, "app", {{"id", "a"}});
  const Result check = run_cairn({"--db", db, "check"});
  CHECK_MESSAGE(check.exit_code == kOk, check.err);
  CHECK(check.out == "ok\n");

  const Result check_json = run_cairn({"--db", db, "--json", "check"});
  CHECK(check_json.exit_code == kOk);
  CHECK(json::parse(check_json.out) == json{{"ok", true}, {"problems", json::array()}});
}

TEST_CASE("cli: check on a damaged registry exits 6 and does not print ok") {
  TempDir dir;
  const std::string db = dir.file("damaged.db");
  {
    // Enough apps to spread over many pages; the library writes them faster than 200 runs.
    cairn::Registry reg = cairn::Registry::open(db);
    reg.transact([](cairn::Tx& tx) {
      for (int i = 0; i < 200; ++i) {
        cairn::App app;
        app.id = "app-" + std::to_string(i);
        app.meta = {{"padding", std::string(300, 'x')}};
        tx.apps().put(app);
      }
    });
  }
  // A freshly written registry has no free pages, so every page past the
  // first belongs to a table or an index: zeroing one in the middle damages it.
  const auto size = fs::file_size(db);
  REQUIRE(size >= 8 * 4096);
  {
    std::fstream file(db, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(static_cast<std::streamoff>(size / 4096 / 2 * 4096));
    const std::string zeros(4096, '\0');
    file.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }

  const Result check = run_cairn({"--db", db, "check"});
  CHECK(check.exit_code == kCorrupt);
  CHECK(check.out != "ok\n");
  CHECK(contains(check.err, "cairn: error: "));
}

TEST_CASE("cli: get on a plain text file exits 5 (not_a_registry) and leaves it alone") {
  TempDir dir;
  const std::string path = dir.file("notes.txt");
  const std::string text = "These are my notes, not a database.\n";
  write_file(path, text);

  const Result get = run_cairn({"--db", path, "get", "app", "x"});
  CHECK(get.exit_code == kRefused);
  CHECK(get.out.empty());
  CHECK(contains(get.err, "cairn: error: "));
  CHECK(read_file(path) == text);
  CHECK_FALSE(fs::exists(path + "-wal"));
}

TEST_CASE("cli: bad arguments exit 2 with a message on stderr") {
  TempDir dir;
  const std::string db = init_registry(dir);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"--db", db, "get", "widget", "x"},
                                             {"--db", db, "get", "app"},
                                             {"--db", db, "ls", "app", "--no-such-flag"},
                                             {"--db", db, "ls", "app", "--limit", "many"}}) {
    CAPTURE(args.size());
    const Result result = run_cairn(args);
    CHECK(result.exit_code == kUsage);
    CHECK(contains(result.err, "cairn: error: "));
    CHECK(result.out.empty());
  }
}

TEST_CASE("cli: --help prints usage on stdout and exits 0") {
  const Result help = run_cairn({"--help"});
  CHECK(help.exit_code == kOk);
  CHECK(contains(help.out, "--db"));
  CHECK(contains(help.out, "demo"));
  CHECK(help.err.empty());
}
