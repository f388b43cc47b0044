// The cairn tool's commands for torrents, the torrent session, KV entries and
// triggers, and `cairn export` / `cairn import`, run as child processes
// (CAIRN_CLI_PATH) the way a script runs them: what they print on stdout and
// stderr, their exit codes (3 not found, 4 conflict, 2 usage), and what they
// leave in the registry file.
//
// The properties a user relies on: KV values are bytes (all 256 byte values
// survive stdin -> put -> get --raw); export -> import into a fresh registry
// -> export gives the same bytes; a bad line of an import names its line and
// imports nothing; `export --output` replaces its file whole, 0600, with no
// temp file left behind. Nothing here is random, so there is no seed.

#include <doctest/doctest.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::contains;

// The exit codes of tools/cairn/main.cpp's table.
constexpr int kOk = 0;
constexpr int kFailed = 1;
constexpr int kUsage = 2;
constexpr int kNotFound = 3;
constexpr int kConflict = 4;

constexpr std::string_view kHashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
constexpr std::string_view kHashB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
constexpr std::string_view kHashV2 =
    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

using Result = test::ProcessResult;

// Runs the built cairn with `args` and `stdin_bytes` on its stdin. The child
// does not inherit CAIRN_DB.
Result run_cairn(std::vector<std::string> args, std::string_view stdin_bytes = {}) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args, {.stdin_bytes = std::string(stdin_bytes)});
}

// A registry created by `cairn init`, and the tool run against it.
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

  // Runs a command that must succeed, and returns its stdout.
  std::string ok(const std::vector<std::string>& args, std::string_view stdin_bytes = {}) const {
    const Result r = (*this)(args, stdin_bytes);
    REQUIRE_MESSAGE(r.exit_code == kOk, "cairn ", json(args).dump(), ": ", r.err);
    return r.out;
  }

  json document(const std::vector<std::string>& args, std::string_view stdin_bytes = {}) const {
    return json::parse(ok(args, stdin_bytes));
  }
};

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> values;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) values.push_back(json::parse(line));
  return values;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> field_of(const std::vector<json>& records, const std::string& name) {
  std::vector<std::string> values;
  for (const json& record : records) values.push_back(record.at(name).get<std::string>());
  return values;
}

// Standard base64 with padding: an encoder of the test's own, so the
// library's is checked rather than trusted.
std::string base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                   (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) | std::uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i + 1 == bytes.size()) {
    const auto n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const auto n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                   (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8);
    out += std::string{kAlphabet[(n >> 18) & 63], kAlphabet[(n >> 12) & 63],
                       kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

// Every byte value, twice, starting and ending with the bytes a text-mode
// reader would mangle.
std::string all_byte_values() {
  std::string bytes = "\n\r";
  for (int round = 0; round < 2; ++round) {
    for (int b = 0; b < 256; ++b) bytes += static_cast<char>(b);
  }
  return bytes + "\r\n" + std::string(1, '\0');
}

json torrent_json(std::string_view hash, std::string_view state, std::string_view name) {
  return {{"info_hash", hash},
          {"name", name},
          {"state", state},
          {"save_path", "/srv/downloads"},
          {"total_size", 1 << 20},
          {"downloaded", 4096},
          {"pieces_base64", base64(std::string("\xff\x0f\x00", 3))},
          {"trackers", {{"udp://a.example:6969/announce"}, {"http://b.example/announce"}}},
          {"file_priorities", {1, 7, 0}},
          {"metainfo_base64", base64(std::string("d4:infod4:name3:abcee\0\xfe", 24))},
          {"extra", {{"client", "go-i2p-bt"}}}};
}

// Members of `given` come back unchanged in `stored`.
void check_members_kept(const json& given, const json& stored) {
  for (const auto& [name, value] : given.items()) {
    CHECK_MESSAGE(stored.value(name, json()) == value, "member ", name, " of ", stored.dump());
  }
}

void check_usage_error(const Result& r) {
  CHECK(r.exit_code == kUsage);
  CHECK(contains(r.err, "cairn: error: "));
  CHECK(r.out.empty());
}

// Puts records of every durable kind, some values binary, through the tool.
void put_every_kind(const Cli& cli) {
  cli.ok({"put", "pool", R"({"name":"p1","type":"global","owners":["a1"]})"});
  cli.ok({"put", "app", R"({"id":"a1","pools":["p1","not-yet"],"meta":{"k":[1,2]}})"});
  cli.ok({"put", "block", R"({"id":"b1","pool":"p1","size":10,"type":"json"})"});
  cli.ok({"put", "config", R"({"key":"server","value":{"port":7000}})"});
  cli.ok({"put", "torrent", torrent_json(kHashA, "started", "first").dump()});
  cli.ok({"put", "torrent", torrent_json(kHashV2, "completed", "second").dump()});
  cli.ok({"put", "torrent-session", R"({"peer_port":6881,"unknown_setting":[1]})"});
  cli.ok({"put", "kv", "ns1", "bin", "-"}, all_byte_values());
  cli.ok({"put", "kv", "ns1", "text", "hello"});
  cli.ok({"put", "kv", "ns2", "ttl", "later", "--ttl-ms", "86400000"});
}

// The export of a registry filled by put_every_kind, made once per test run:
// the tests that only need such a registry import it (one run, not ten).
const std::string& every_kind_export() {
  static const std::string exported = [] {
    const Cli source;
    put_every_kind(source);
    return source.ok({"export"});
  }();
  return exported;
}

void fill_every_kind(const Cli& cli) { cli.ok({"--quiet", "import", "-"}, every_kind_export()); }

}  // namespace

TEST_CASE("cli torrent: put, get, ls and rm round-trip a torrent with binary fields") {
  const Cli cli;
  const json given = torrent_json(kHashA, "started", "first");
  const json stored = cli.document({"put", "torrent", given.dump()});
  check_members_kept(given, stored);
  CHECK(stored.at("revision").get<std::int64_t>() > 0);
  CHECK(stored.at("added_at").get<std::int64_t>() > 0);  // set when created

  CHECK(cli.document({"get", "torrent", std::string(kHashA)}) == stored);
  SUBCASE("an info hash in uppercase names the same torrent") {
    std::string upper(kHashA);
    for (char& c : upper) c = static_cast<char>(std::toupper(c));
    CHECK(cli.document({"get", "torrent", upper}) == stored);
  }
  SUBCASE("what get prints, put accepts back from stdin") {
    const std::string printed = cli.ok({"get", "torrent", std::string(kHashA)});
    const json again = cli.document({"put", "torrent", "-"}, printed);
    CHECK(again.at("revision").get<std::int64_t>() > stored.at("revision").get<std::int64_t>());
    CHECK(again.at("metainfo_base64") == given.at("metainfo_base64"));
  }
  SUBCASE("rm removes it; get and rm of it then exit 3") {
    CHECK(contains(cli.ok({"rm", "torrent", std::string(kHashA)}),
                   "removed torrent \"" + std::string(kHashA) + "\" (revision "));
    for (const char* verb : {"get", "rm"}) {
      const Result r = cli({verb, "torrent", std::string(kHashA)});
      CHECK(r.exit_code == kNotFound);
      CHECK(r.out.empty());
      CHECK(contains(r.err, std::string(kHashA)));
    }
  }
}

TEST_CASE("cli torrent: JSON input past 16 MiB (a torrent with 12.5 MiB of metainfo) is read") {
  // The tool refused JSON input over 16 MiB, which left torrents with large
  // metainfo (up to 16 MiB, about 22 MiB as base64 JSON) out of its reach.
  const Cli cli;
  std::string metainfo((25u << 20) / 2, '\0');
  for (std::size_t i = 0; i < metainfo.size(); ++i) {
    metainfo[i] = static_cast<char>((i * 2654435761u) >> 13);
  }
  json torrent = torrent_json(kHashB, "added", "big");
  torrent["metainfo_base64"] = base64(metainfo);
  const std::string text = torrent.dump();
  REQUIRE(text.size() > (16u << 20));  // past the tool's old 16 MiB input limit

  cli.ok({"--quiet", "put", "torrent", "-"}, text);
  CHECK(cli.document({"get", "torrent", std::string(kHashB)}).at("metainfo_base64") ==
        torrent.at("metainfo_base64"));
}

TEST_CASE("cli torrent: ls filters by --state and pages with --after and --limit") {
  const Cli cli;
  cli.ok({"put", "torrent", torrent_json(kHashV2, "stopped", "v2").dump()});
  cli.ok({"put", "torrent", torrent_json(kHashB, "started", "b").dump()});
  cli.ok({"put", "torrent", torrent_json(kHashA, "started", "a").dump()});

  const std::vector<json> all = json_lines(cli.ok({"ls", "torrent"}));
  CHECK(field_of(all, "info_hash") ==
        std::vector<std::string>{std::string(kHashA), std::string(kHashB), std::string(kHashV2)});
  CHECK(field_of(json_lines(cli.ok({"ls", "torrent", "--state", "started"})), "info_hash") ==
        std::vector<std::string>{std::string(kHashA), std::string(kHashB)});
  CHECK(json_lines(cli.ok({"ls", "torrent", "--state", "completed"})).empty());
  CHECK(field_of(
            json_lines(cli.ok({"ls", "torrent", "--after", std::string(kHashA), "--limit", "1"})),
            "info_hash") == std::vector<std::string>{std::string(kHashB)});
  const json array = cli.document({"ls", "torrent", "--json"});
  REQUIRE(array.is_array());
  CHECK(std::vector<json>(array.begin(), array.end()) == all);

  check_usage_error(cli({"ls", "torrent", "--state", "seeding"}));
}

TEST_CASE("cli torrent: refused writes exit 2 or 4 and change nothing") {
  const Cli cli;
  const json stored = cli.document({"put", "torrent", torrent_json(kHashA, "started", "a").dump()});
  const std::string revision = std::to_string(stored.at("revision").get<std::int64_t>());

  SUBCASE("a stale --expect-revision exits 4") {
    const Result put = cli({"put", "torrent", torrent_json(kHashA, "stopped", "x").dump(),
                            "--expect-revision", "1000"});
    CHECK(put.exit_code == kConflict);
    const Result rm = cli({"rm", "torrent", std::string(kHashA), "--expect-revision", "1000"});
    CHECK(rm.exit_code == kConflict);
  }
  SUBCASE("--expect-revision 0 on a present torrent exits 4") {
    CHECK(cli({"put", "torrent", torrent_json(kHashA, "started", "x").dump(), "--expect-revision",
               "0"})
              .exit_code == kConflict);
  }
  SUBCASE("a state change the life cycle forbids exits 2 naming both states") {
    cli.ok({"put", "torrent", torrent_json(kHashB, "started", "b").dump()});
    cli.ok({"put", "torrent", torrent_json(kHashB, "removed", "gone").dump()});
    const Result r = cli({"put", "torrent", torrent_json(kHashB, "started", "back").dump()});
    check_usage_error(r);
    CHECK(contains(r.err, "removed"));
    CHECK(contains(r.err, "started"));
  }
  SUBCASE("a malformed info hash exits 2") {
    check_usage_error(cli({"put", "torrent", torrent_json("abc", "added", "x").dump()}));
  }
  SUBCASE("metainfo that is not base64 exits 2") {
    json bad = torrent_json(kHashB, "added", "x");
    bad["metainfo_base64"] = "not base64!";
    check_usage_error(cli({"put", "torrent", bad.dump()}));
  }
  CHECK(cli.document({"get", "torrent", std::string(kHashA)}) == stored);
  CHECK(cli({"rm", "torrent", std::string(kHashA), "--expect-revision", revision}).exit_code ==
        kOk);
}

TEST_CASE("cli torrent-session: get prints the defaults until put saves settings") {
  const Cli cli;
  const json defaults = cli.document({"get", "torrent-session"});
  CHECK(defaults.at("revision") == 0);
  CHECK(defaults.at("peer_port") == 51413);

  const json saved = cli.document(
      {"put", "torrent-session", R"({"peer_port":7000,"ratio_limit":1.5,"my_setting":"kept"})"});
  CHECK(saved.at("peer_port") == 7000);
  CHECK(saved.at("ratio_limit") == 1.5);
  CHECK(saved.at("my_setting") == "kept");
  CHECK(saved.at("revision").get<std::int64_t>() > 0);
  CHECK(cli.document({"get", "torrent-session"}) == saved);

  SUBCASE("a stale --expect-revision exits 4 and keeps the settings") {
    const Result r =
        cli({"put", "torrent-session", R"({"peer_port":7001})", "--expect-revision", "1000"});
    CHECK(r.exit_code == kConflict);
  }
  SUBCASE("a setting out of range exits 2 naming it") {
    const Result r = cli({"put", "torrent-session", R"({"peer_port":70000})"});
    check_usage_error(r);
    CHECK(contains(r.err, "peer_port"));
  }
  SUBCASE("it cannot be removed or listed") {
    check_usage_error(cli({"rm", "torrent-session"}));
    check_usage_error(cli({"ls", "torrent-session"}));
    check_usage_error(cli({"get", "torrent-session", "extra-key"}));
  }
  CHECK(cli.document({"get", "torrent-session"}) == saved);
}

TEST_CASE("cli kv: every byte value round-trips through stdin and get --raw") {
  const Cli cli;
  const std::string bytes = all_byte_values();
  const json stored = cli.document({"put", "kv", "bytes", "all", "-"}, bytes);
  CHECK(stored.at("value_base64") == base64(bytes));
  CHECK(stored.at("version") == 1);

  CHECK(cli.ok({"get", "kv", "bytes", "all", "--raw"}) == bytes);
  const json got = cli.document({"get", "kv", "bytes", "all"});
  CHECK(got == stored);
  SUBCASE("without - the value is read from stdin too") {
    cli.ok({"--quiet", "put", "kv", "bytes", "again"}, bytes);
    CHECK(cli.ok({"get", "kv", "bytes", "again", "--raw"}) == bytes);
  }
  SUBCASE("a value given as an argument is stored as it is, without a newline") {
    cli.ok({"put", "kv", "bytes", "arg", "héllo wörld"});
    CHECK(cli.ok({"get", "kv", "bytes", "arg", "--raw"}) == "héllo wörld");
    cli.ok({"put", "kv", "bytes", "empty", ""});
    CHECK(cli.ok({"get", "kv", "bytes", "empty", "--raw"}).empty());
    CHECK(cli.document({"get", "kv", "bytes", "empty"}).at("value_base64") == "");
  }
  SUBCASE("a value starting with - goes after --") {
    cli.ok({"put", "kv", "bytes", "dash", "--", "-x"});
    CHECK(cli.ok({"get", "kv", "bytes", "dash", "--raw"}) == "-x");
    cli.ok({"put", "kv", "--", "bytes", "dash", "--y"});
    CHECK(cli.ok({"get", "kv", "bytes", "dash", "--raw"}) == "--y");
  }
  // CLI11 splits an argument "[a,b]" of a many-valued option into items: the
  // tool's operands are single-valued so that values like these stay whole.
  SUBCASE("a value that looks like a list is kept as it is") {
    cli.ok({"put", "kv", "bytes", "list", "[a,b]"});
    CHECK(cli.ok({"get", "kv", "bytes", "list", "--raw"}) == "[a,b]");
    cli.ok({"put", "kv", "bytes", "json", R"([1, {"x": [2,3]}])"});
    CHECK(cli.ok({"get", "kv", "bytes", "json", "--raw"}) == R"([1, {"x": [2,3]}])");
  }
}

TEST_CASE("cli kv: versions count writes and --expect-version is compare-and-swap") {
  const Cli cli;
  CHECK(cli.document({"put", "kv", "ns", "k", "v1"}).at("version") == 1);
  CHECK(cli.document({"put", "kv", "ns", "k", "v2"}).at("version") == 2);

  const Result stale = cli({"put", "kv", "ns", "k", "v3", "--expect-version", "1"});
  CHECK(stale.exit_code == kConflict);
  CHECK(stale.out.empty());
  CHECK(cli({"put", "kv", "ns", "k", "v3", "--expect-version", "0"}).exit_code == kConflict);
  CHECK(cli.ok({"get", "kv", "ns", "k", "--raw"}) == "v2");

  CHECK(cli.document({"put", "kv", "ns", "k", "v3", "--expect-version", "2"}).at("version") == 3);
  CHECK(cli.document({"put", "kv", "ns", "new", "x", "--expect-version", "0"}).at("version") == 1);

  CHECK(cli({"rm", "kv", "ns", "k", "--expect-version", "2"}).exit_code == kConflict);
  CHECK(cli.ok({"get", "kv", "ns", "k", "--raw"}) == "v3");
  CHECK(contains(cli.ok({"rm", "kv", "ns", "k", "--expect-version", "3"}),
                 "removed kv \"ns/k\" (revision "));
  for (const char* verb : {"get", "rm"}) {
    const Result absent = cli({verb, "kv", "ns", "k"});
    CHECK(absent.exit_code == kNotFound);
    CHECK(absent.out.empty());
    CHECK(contains(absent.err, "ns/k"));
  }
}

TEST_CASE("cli kv: an entry with --ttl-ms expires and is then absent") {
  const Cli cli;
  const json hour = cli.document({"put", "kv", "ns", "hour", "v", "--ttl-ms", "3600000"});
  CHECK(hour.at("expires_at").get<std::int64_t>() ==
        hour.at("updated_at").get<std::int64_t>() + 3'600'000);
  CHECK_FALSE(cli.document({"put", "kv", "ns", "forever", "v"}).contains("expires_at"));

  cli.ok({"put", "kv", "ns", "brief", "v", "--ttl-ms", "1"});
  // 1 ms after its write the entry is expired; waiting longer only makes sure.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(cli({"get", "kv", "ns", "brief"}).exit_code == kNotFound);
  CHECK(field_of(json_lines(cli.ok({"ls", "kv", "ns"})), "key") ==
        std::vector<std::string>{"forever", "hour"});

  check_usage_error(cli({"put", "kv", "ns", "k", "v", "--ttl-ms", "0"}));
  check_usage_error(cli({"put", "kv", "ns", "k", "v", "--ttl-ms", "-5"}));
  CHECK(cli({"get", "kv", "ns", "k"}).exit_code == kNotFound);
}

// Found by this file: KvStore::put adds ttl_ms to the clock unchecked
// (lib/stores/kv.cpp), so a huge TTL overflowed (UBSan: signed integer
// overflow) into a negative expires_at: put exited 0 and the entry was gone.
// Fixed: the library refuses a TTL above 100 years.
TEST_CASE("cli kv: a TTL too large for the clock is refused, not stored already expired") {
  const Cli cli;
  const Result put = cli({"put", "kv", "ns", "k", "v", "--ttl-ms", "9223372036854775807"});
  if (put.exit_code == kUsage) {  // refused, like a trigger's TTL over one year
    CHECK(cli({"get", "kv", "ns", "k"}).exit_code == kNotFound);
  } else {  // or kept, effectively for ever
    REQUIRE_MESSAGE(put.exit_code == kOk, put.err);
    CHECK(cli({"get", "kv", "ns", "k"}).exit_code == kOk);
  }
}

TEST_CASE("cli kv: ls lists one namespace by key, with --prefix, --after and --limit") {
  const Cli cli;
  for (const char* key : {"user:bob", "token:1", "user:alice", "user:carol"}) {
    cli.ok({"--quiet", "put", "kv", "sessions", key, key});
  }
  cli.ok({"--quiet", "put", "kv", "other", "user:zed", "z"});

  const std::vector<json> all = json_lines(cli.ok({"ls", "kv", "sessions"}));
  CHECK(field_of(all, "key") ==
        std::vector<std::string>{"token:1", "user:alice", "user:bob", "user:carol"});
  CHECK(field_of(all, "namespace") == std::vector<std::string>(4, "sessions"));
  CHECK(field_of(json_lines(cli.ok({"ls", "kv", "sessions", "--prefix", "user:"})), "key") ==
        std::vector<std::string>{"user:alice", "user:bob", "user:carol"});
  CHECK(field_of(json_lines(cli.ok({"ls", "kv", "sessions", "--prefix", "user:", "--after",
                                    "user:alice", "--limit", "1"})),
                 "key") == std::vector<std::string>{"user:bob"});
  const json array = cli.document({"--json", "ls", "kv", "sessions"});
  CHECK(std::vector<json>(array.begin(), array.end()) == all);
  CHECK(json_lines(cli.ok({"ls", "kv", "empty-namespace"})).empty());
}

TEST_CASE("cli kv: refused values and names exit 2 and write nothing") {
  const Cli cli;
  SUBCASE("a value over the 1 MiB default limit") {
    check_usage_error(cli({"put", "kv", "ns", "big", "-"}, std::string((1u << 20) + 1, 'x')));
  }
  SUBCASE("a namespace that breaks the key rules") {
    check_usage_error(cli({"put", "kv", "/bad", "k", "v"}));
  }
  SUBCASE("a key with a control character") {
    check_usage_error(cli({"put", "kv", "ns", "a\tb", "v"}));
  }
  CHECK(json_lines(cli.ok({"ls", "kv", "ns"})).empty());
}

TEST_CASE("cli trigger: a command sees only the triggers it creates, and says so") {
  const Cli cli;
  const Result put = cli(
      {"put", "trigger", R"({"id":"t1","origin_app_id":"a1","destination":"b","ttl_ms":5000})"});
  REQUIRE_MESSAGE(put.exit_code == kOk, put.err);
  const json created = json::parse(put.out);
  CHECK(created.at("id") == "t1");
  CHECK(created.at("destination") == "b");
  CHECK(created.at("expires_at").get<std::int64_t>() ==
        created.at("created_at").get<std::int64_t>() + 5000);
  CHECK(contains(put.err, "triggers live in the memory of one process"));

  // A new process: the trigger ended with the one that created it.
  const Result ls = cli({"ls", "trigger"});
  CHECK(ls.exit_code == kOk);
  CHECK(ls.out.empty());
  CHECK(contains(ls.err, "note: triggers live in the memory of one process"));
  CHECK(cli({"get", "trigger", "t1"}).exit_code == kNotFound);
  CHECK(cli({"rm", "trigger", "t1"}).exit_code == kNotFound);

  SUBCASE("--quiet drops the note") {
    const Result quiet = cli({"--quiet", "ls", "trigger"});
    CHECK(quiet.exit_code == kOk);
    CHECK(quiet.err.empty());
    CHECK(cli({"--json", "-q", "ls", "trigger"}).out == "[]\n");
  }
  SUBCASE("a bad trigger exits 2") {
    check_usage_error(cli({"put", "trigger", R"({"id":".bad"})"}));
    check_usage_error(cli({"put", "trigger", R"({"id":"t2","ttl_ms":"soon"})"}));
    check_usage_error(cli({"put", "trigger", "[1]"}));
  }
  SUBCASE("triggers are not in the registry file: export leaves them out") {
    const std::string exported = cli.ok({"export"});
    CHECK_FALSE(contains(exported, "\"t1\""));
    check_usage_error(cli({"export", "--kind", "trigger"}));
  }
}

TEST_CASE("cli usage: wrong arguments or options for the kind exit 2") {
  const Cli cli;
  const std::vector<std::vector<std::string>> cases = {
      {"get", "kv", "ns"},
      {"get", "kv", "ns", "k", "extra"},
      {"get", "torrent"},
      {"get", "app", "a", "b"},
      {"get", "app", "a", "--raw"},
      {"put", "kv", "ns"},
      {"put", "kv", "ns", "k", "v", "extra"},
      {"put", "kv", "ns", "k", "v", "--expect-revision", "1"},
      {"put", "kv", "ns", "k", "v", "--expect-version", "-1"},
      {"put", "app", R"({"id":"a"})", "--ttl-ms", "5"},
      {"put", "app", R"({"id":"a"})", "--expect-version", "1"},
      {"put", "app", R"({"id":"a"})", "extra"},
      {"put", "trigger", R"({"id":"t"})", "--expect-revision", "0"},
      {"rm", "kv", "ns"},
      {"rm", "kv", "ns", "k", "--expect-revision", "1"},
      {"rm", "torrent", "--cascade", std::string(kHashA)},
      {"ls", "kv"},
      {"ls", "kv", "a", "b"},
      {"ls", "app", "extra"},
      {"ls", "torrent", "--prefix", "a"},
      {"ls", "kv", "ns", "--state", "started"},
      {"ls", "config", "--pool", "p"},
      {"export", "--kind", "widget"},
      {"import", "no-such-file.jsonl"},
      {"import", cli.dir.path().string()},
      {"import", "a", "b"},
  };
  for (const auto& args : cases) {
    CAPTURE(json(args).dump());
    check_usage_error(cli(args));
  }
  // None of them wrote anything.
  CHECK(cli.document({"--json", "stats"}).at("last_revision") == 0);
}

TEST_CASE("cli export: export, import into a fresh registry, export again: the same bytes") {
  const Cli source;
  put_every_kind(source);
  const Result exported = source({"export"});
  REQUIRE_MESSAGE(exported.exit_code == kOk, exported.err);
  const std::vector<std::string> lines = lines_of(exported.out);
  REQUIRE(lines.size() == 11);  // the header and 10 records
  CHECK(json::parse(lines.front()).at("format") == "cairn-export");
  CHECK(contains(exported.err, "exported 10 records"));
  CHECK(source({"export", "--quiet"}).err.empty());

  const Cli target;
  SUBCASE("from a file") {
    const fs::path file = target.dir / "export.jsonl";
    test::write_bytes(file, exported.out);
    const Result imported = target({"import", file.string()});
    REQUIRE_MESSAGE(imported.exit_code == kOk, imported.err);
    CHECK(contains(imported.out, "records:"));
    CHECK(contains(imported.out, "10"));
  }
  SUBCASE("from stdin, with --json") {
    const json summary = target.document({"--json", "import", "-"}, exported.out);
    CHECK(summary.at("records") == 10);
    CHECK(summary.at("lines") == 11);
    CHECK(summary.at("revision").get<std::int64_t>() > 0);
  }
  const Result again = target({"export"});
  REQUIRE_MESSAGE(again.exit_code == kOk, again.err);
  CHECK(again.out == exported.out);

  // The records read back through the tool are the ones written.
  CHECK(target.ok({"get", "kv", "ns1", "bin", "--raw"}) == all_byte_values());
  CHECK(target.document({"get", "torrent", std::string(kHashA)}).at("metainfo_base64") ==
        torrent_json(kHashA, "started", "first").at("metainfo_base64"));
  CHECK(target.document({"get", "torrent-session"}).at("unknown_setting") == json::array({1}));
}

TEST_CASE("cli export: --kind picks kinds by the tool's names or the library's") {
  const Cli cli;
  fill_every_kind(cli);
  const auto kinds_in = [&](const std::vector<std::string>& args) {
    std::vector<std::string> kinds;
    const std::vector<json> lines = json_lines(cli.ok(args));
    for (std::size_t i = 1; i < lines.size(); ++i) kinds.push_back(lines[i].at("kind"));
    return kinds;
  };
  CHECK(kinds_in({"export", "--kind", "kv"}) == std::vector<std::string>{"kv", "kv", "kv"});
  CHECK(kinds_in({"export", "--kind", "block,torrent-session"}) ==
        std::vector<std::string>{"memory_block", "torrent_session"});
  CHECK(kinds_in({"export", "--kind", "memory_block", "--kind", "config"}) ==
        std::vector<std::string>{"config", "memory_block"});
}

TEST_CASE("cli export: --output replaces the file whole, 0600, and leaves no temp file") {
  const Cli cli;
  fill_every_kind(cli);
  const fs::path out_dir = cli.dir / "exports";
  fs::create_directory(out_dir);
  const fs::path file = out_dir / "registry.jsonl";
  test::write_bytes(file, "an older export\n");

  const Result r = cli({"export", "--output", file.string()});
  REQUIRE_MESSAGE(r.exit_code == kOk, r.err);
  CHECK(r.out.empty());  // the data went to the file
  CHECK(test::read_bytes(file) == cli.ok({"export"}));
  CHECK(test::file_mode(file) == 0600);
  CHECK(test::dir_entries(out_dir) == std::set<std::string>{"registry.jsonl"});

  SUBCASE("a destination that cannot be replaced: exit 1, the temp file removed") {
    const fs::path in_the_way = out_dir / "a-directory";
    fs::create_directory(in_the_way);
    const Result failed = cli({"export", "--output", in_the_way.string()});
    CHECK(failed.exit_code == kFailed);
    CHECK(contains(failed.err, "cairn: error: "));
    CHECK(test::dir_entries(out_dir) == std::set<std::string>{"a-directory", "registry.jsonl"});
    CHECK(fs::is_empty(in_the_way));
  }
  SUBCASE("a directory that does not exist: exit 1, nothing created") {
    const fs::path missing = cli.dir / "missing" / "x.jsonl";
    const Result failed = cli({"export", "-o", missing.string()});
    CHECK(failed.exit_code == kFailed);
    CHECK(contains(failed.err, "cairn: error: "));
    CHECK_FALSE(fs::exists(missing.parent_path()));
  }
}

TEST_CASE("cli import: a bad line exits 2 naming its number, and nothing is imported") {
  std::vector<std::string> lines = lines_of(every_kind_export());
  REQUIRE(lines.size() == 11);

  const Cli target;
  target.ok({"put", "config", R"({"key":"server","value":"before the import"})"});
  const std::string before = target.ok({"export"});

  std::size_t bad_line = 0;  // 1-based, as the message counts
  int exit_code = kUsage;
  SUBCASE("truncated JSON") {
    bad_line = 7;
    lines[bad_line - 1].resize(lines[bad_line - 1].size() / 2);
  }
  SUBCASE("an unknown kind") {
    bad_line = 4;
    lines[bad_line - 1] = R"({"kind":"widget","record":{}})";
  }
  SUBCASE("a record the registry refuses, after good ones") {
    bad_line = 11;
    lines[bad_line - 1] =
        R"({"kind":"kv","record":{"namespace":"ns","key":"k","value_base64":"@@"}})";
  }
  SUBCASE("a block whose pool is not there (exit 4, still naming the line)") {
    bad_line = 2;
    exit_code = kConflict;
    lines.insert(lines.begin() + 1,
                 R"({"kind":"memory_block","record":{"id":"orphan","pool":"nowhere"}})");
  }
  SUBCASE("no header") {
    bad_line = 1;
    lines.erase(lines.begin());
  }
  std::string text;
  for (const std::string& line : lines) text += line + '\n';

  const Result r = target({"import", "-"}, text);
  CAPTURE(r.err);
  CHECK(r.exit_code == exit_code);
  CHECK(contains(r.err, "cairn: error: line " + std::to_string(bad_line) + ":"));
  CHECK(r.out.empty());
  CHECK(target.ok({"export"}) == before);
}

TEST_CASE("cli demo: shows every durable kind") {
  test::TempDir dir;
  const std::string db = (dir / "demo.db").string();
  const Result demo = run_cairn({"--db", db, "demo"});
  REQUIRE_MESSAGE(demo.exit_code == kOk, demo.err);
  CHECK(contains(demo.out, "torrent"));
  CHECK(contains(demo.out, "records.kv_entries:"));

  const json stats = json::parse(run_cairn({"--db", db, "--json", "stats"}).out);
  for (const char* kind : {"apps", "pools", "memory_blocks", "config_entries", "torrents"}) {
    CAPTURE(kind);
    CHECK(stats.at("records").at(kind).get<std::int64_t>() >= 1);
  }
  const Result kv = run_cairn({"--db", db, "ls", "kv", "demo-sessions"});
  REQUIRE_MESSAGE(kv.exit_code == kOk, kv.err);
  const std::vector<json> entries = json_lines(kv.out);
  CHECK(entries.size() >= 3);
  bool one_expires = false;
  for (const json& entry : entries) one_expires = one_expires || entry.contains("expires_at");
  CHECK(one_expires);
  const Result session = run_cairn({"--db", db, "get", "torrent-session"});
  CHECK(json::parse(session.out).at("revision").get<std::int64_t>() > 0);
}
