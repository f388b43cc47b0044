// --format table|json|jsonl of ls, stats, backup list and migrate status,
// run through the built tool. Piped output (the tests' stdout is a file) and
// --json stay what they were before --format; the table has a header,
// aligned columns, UTC times and cut long values; an unknown format is a
// usage error. A terminal gets the table by default (through script(1)).

#include <doctest/doctest.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Result = test::ProcessResult;

constexpr int kUsage = 2;

Result run_cairn(std::vector<std::string> args) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args);
}

std::string ok(const std::vector<std::string>& args) {
  const Result r = run_cairn(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return r.out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string utc(long long ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%SZ", &tm);
  return text;
}

// The header holds `headers` in order, and the columns line up: in every
// row a left-aligned column starts where its header starts, after a
// two-space gap, and a right-aligned one (">SIZE") ends where its header ends.
void check_table(const std::string& out, const std::vector<std::string>& headers,
                 std::size_t rows) {
  const std::vector<std::string> lines = lines_of(out);
  REQUIRE(lines.size() == rows + 1);
  std::size_t at = 0;
  for (std::string header : headers) {
    const bool right = header.starts_with(">");
    if (right) header.erase(0, 1);
    CAPTURE(header);
    const std::size_t start = lines[0].find(header, at);
    REQUIRE(start != std::string::npos);
    at = start + header.size();
    for (std::size_t r = 1; r < lines.size(); ++r) {
      // Byte offsets: the text before the last column is ASCII in these tests.
      const std::string& line = lines[r];
      CAPTURE(line);
      if (right) {
        REQUIRE(line.size() >= at);
        CHECK(line[at - 1] != ' ');
        CHECK((line.size() == at || line[at] == ' '));
      } else {
        REQUIRE(line.size() > start);
        CHECK(line[start] != ' ');
        if (start > 0) CHECK(line.substr(start - 2, 2) == "  ");
      }
    }
  }
}

struct Registry {
  test::TempDir dir;
  std::string db = (dir / "r.db").string();
  Registry() {
    ok({"--db", db, "init"});
    ok({"--db", db, "put", "app", R"({"id":"alpha","pools":["p1","p2"],"protocol_version":"2"})"});
    ok({"--db", db, "put", "app", R"({"id":"beta-with-a-longer-id"})"});
    ok({"--db", db, "put", "pool",
        R"({"name":"p1","description":"a description that is much longer than forty characters, so cut"})"});
    ok({"--db", db, "put", "pool",
        "{\"name\":\"p2\",\"description\":\"bell\\u0007 and\\nnewline\"}"});
    ok({"--db", db, "put", "block", R"({"id":"b1","pool":"p1","size":512,"type":"json"})"});
    ok({"--db", db, "put", "config", R"({"key":"server","value":{"port":8080}})"});
    ok({"--db", db, "put", "torrent",
        R"({"info_hash":"c9e15763f722f23e98a29decdfae341b98d53056","name":"x.iso","state":"started"})"});
    ok({"--db", db, "put", "kv", "ns", "k1", "value"});
  }
};

}  // namespace

TEST_CASE("formats: ls piped and with --json prints what it printed before --format") {
  const Registry reg;
  for (const std::vector<std::string>& ls : {std::vector<std::string>{"ls", "app"},
                                             {"ls", "pool"},
                                             {"ls", "block"},
                                             {"ls", "config"},
                                             {"ls", "torrent"},
                                             {"ls", "kv", "ns"}}) {
    std::vector<std::string> args = {"--db", reg.db};
    args.insert(args.end(), ls.begin(), ls.end());
    CAPTURE(args[3]);
    const std::string piped = ok(args);
    std::vector<std::string> as_json = args, as_format_json = args, as_jsonl = args;
    as_json.push_back("--json");
    as_format_json.insert(as_format_json.end(), {"--format", "json"});
    as_jsonl.insert(as_jsonl.end(), {"--format", "jsonl"});
    // JSON Lines: each record as one compact line, which is how get's record dumps.
    const json array = json::parse(ok(as_json));
    REQUIRE(array.is_array());
    REQUIRE(!array.empty());
    std::string expected_lines;
    for (const json& record : array) expected_lines += record.dump() + "\n";
    CHECK(piped == expected_lines);
    CHECK(ok(as_jsonl) == piped);
    CHECK(ok(as_json) == array.dump(2) + "\n");
    CHECK(ok(as_format_json) == ok(as_json));
  }
}

TEST_CASE("formats: ls --format table shows the columns of each kind") {
  const Registry reg;
  const auto table = [&](std::vector<std::string> ls) {
    std::vector<std::string> args = {"--db", reg.db};
    args.insert(args.end(), ls.begin(), ls.end());
    args.insert(args.end(), {"--format", "table"});
    return ok(args);
  };
  SUBCASE("app: key, pools, readable times") {
    const std::string out = table({"ls", "app"});
    check_table(out, {"ID", "POOLS", "PROTOCOL", "LAST SEEN", ">REVISION", "UPDATED"}, 2);
    const json alpha = json::parse(ok({"--db", reg.db, "get", "app", "alpha"}));
    const std::string alpha_line = lines_of(out)[1];
    CHECK(alpha_line.starts_with("alpha "));
    CHECK(test::contains(alpha_line, "p1,p2"));
    CHECK(test::contains(alpha_line, utc(alpha.at("updated_at").get<long long>())));
    CHECK(lines_of(out)[2].starts_with("beta-with-a-longer-id  "));
  }
  SUBCASE("pool: long values end in an ellipsis; control characters print escaped") {
    const std::string out = table({"ls", "pool"});
    // Up to the cut cell: past its 3-byte ellipsis, byte offsets are not columns.
    check_table(out, {"NAME", "TYPE", "OWNERS", "DESCRIPTION"}, 2);
    CHECK(lines_of(out)[0].ends_with("REVISION  UPDATED"));
    CHECK(test::contains(out, "a description that is much longer than\u2026"));
    CHECK(!test::contains(out, "so cut"));
    CHECK(test::contains(out, "bell\\u0007 and\\nnewline"));
  }
  SUBCASE("block, config, torrent, kv") {
    check_table(table({"ls", "block"}),
                {"ID", "NAME", "POOL", "TYPE", ">SIZE", ">VERSION", ">REVISION", "UPDATED"}, 1);
    const std::string config = table({"ls", "config"});
    check_table(config, {"KEY", "VALUE", ">REVISION", "UPDATED"}, 1);
    CHECK(test::contains(config, R"({"port":8080})"));
    const std::string torrent = table({"ls", "torrent"});
    check_table(torrent,
                {"INFO HASH", "NAME", "STATE", ">SIZE", ">DOWNLOADED", ">REVISION", "UPDATED"}, 1);
    CHECK(test::contains(torrent, "c9e15763f722f23e98a29decdfae341b98d53056  x.iso"));
    check_table(table({"ls", "kv", "ns"}), {"KEY", ">VERSION", "EXPIRES", ">REVISION", "UPDATED"},
                1);
  }
  SUBCASE("an empty list prints the header only") {
    const std::string out = table({"ls", "trigger"});
    check_table(
        out, {"ID", "DESTINATION", "ORIGIN APP", "POOL", "DISPATCHED TO", "COMPLETED", "EXPIRES"},
        0);
  }
}

TEST_CASE("formats: stats, backup list and migrate status in each format") {
  const Registry reg;
  ok({"--db", reg.db, "-q", "backup", "create"});
  SUBCASE("stats: the table is the field lines it always printed; json as --json") {
    const std::string table = ok({"--db", reg.db, "stats", "--format", "table"});
    CHECK(ok({"--db", reg.db, "stats"}) == table);
    CHECK(lines_of(table)[0].starts_with("path:"));
    CHECK(test::contains(table, "schema_version:"));
    const std::string as_json = ok({"--db", reg.db, "--json", "stats"});
    CHECK(ok({"--db", reg.db, "stats", "--format", "json"}) == as_json);
    const std::string line = ok({"--db", reg.db, "stats", "--format", "jsonl"});
    CHECK(lines_of(line).size() == 1);
    CHECK(json::parse(line) == json::parse(as_json));
  }
  SUBCASE("backup list") {
    const std::string as_json = ok({"--db", reg.db, "--json", "backup", "list"});
    const json backups = json::parse(as_json);
    REQUIRE(backups.size() == 1);
    CHECK(ok({"--db", reg.db, "backup", "list", "--format", "json"}) == as_json);
    CHECK(ok({"--db", reg.db, "backup", "list", "--format", "jsonl"}) == backups[0].dump() + "\n");
    const std::string table = ok({"--db", reg.db, "backup", "list"});
    CHECK(ok({"--db", reg.db, "backup", "list", "--format", "table"}) == table);
    check_table(table, {"PATH", ">SIZE", ">REVISION", ">SCHEMA", "CREATED", "STATUS"}, 1);
    CHECK(test::contains(table, utc(backups[0].at("created_at").get<long long>())));
    CHECK(lines_of(table)[1].ends_with("  verified"));
  }
  SUBCASE("migrate status") {
    const std::string as_json = ok({"--db", reg.db, "--json", "migrate", "status"});
    const json status = json::parse(as_json);
    CHECK(ok({"--db", reg.db, "migrate", "status", "--format", "json"}) == as_json);
    CHECK(ok({"--db", reg.db, "migrate", "status", "--format", "jsonl"}) == status.dump() + "\n");
    const std::string out = ok({"--db", reg.db, "migrate", "status"});
    const std::string first = lines_of(out)[0];
    CHECK(first.starts_with("schema version "));
    const std::string table = out.substr(first.size() + 1);
    check_table(table, {">VERSION", "NAME", "STATE", "APPLIED", ">MS", "CHECKSUM"},
                status.at("migrations").size());
    const json& step = status.at("migrations").at(0);
    CHECK(test::contains(table, utc(step.at("applied_at").get<long long>())));
    CHECK(test::contains(lines_of(table)[1], "  initial  "));
  }
}

TEST_CASE("formats: an unknown --format, or --json with another, is a usage error") {
  const Registry reg;
  for (const std::vector<std::string>& command : {std::vector<std::string>{"ls", "app"},
                                                  {"stats"},
                                                  {"backup", "list"},
                                                  {"migrate", "status"}}) {
    std::vector<std::string> args = {"--db", reg.db};
    args.insert(args.end(), command.begin(), command.end());
    CAPTURE(command.front());
    std::vector<std::string> bad = args;
    bad.insert(bad.end(), {"--format", "yaml"});
    const Result r = run_cairn(bad);
    CHECK(r.exit_code == kUsage);
    CHECK(r.out.empty());
    CHECK(test::contains(r.err, "\"yaml\""));
    CHECK(test::contains(r.err, "table, json or jsonl"));
    std::vector<std::string> both = args;
    both.insert(both.end(), {"--json", "--format", "table"});
    const Result conflict = run_cairn(both);
    CHECK(conflict.exit_code == kUsage);
    CHECK(test::contains(conflict.err, "--json"));
  }
}

TEST_CASE("formats: on a terminal, ls prints the table by default") {
  if (::access("/usr/bin/script", X_OK) != 0) {
    MESSAGE("script(1) is not installed: the terminal default is not checked");
    return;
  }
  const Registry reg;
  // script(1) runs the command on a pseudo-terminal; its output holds CR LF.
  const std::string command = std::string(CAIRN_CLI_PATH) + " --db " + reg.db + " ls app";
  const Result r = test::run_process({"/usr/bin/script", "-qec", command, "/dev/null"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(test::contains(r.out, "ID"));
  CHECK(test::contains(r.out, "REVISION"));
  CHECK(!test::contains(r.out, "{\"id\""));
}
