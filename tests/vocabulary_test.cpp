// One vocabulary everywhere: the kinds' names (the library's and the CLI's)
// in the library, every CLI command and import; the topics the registry
// publishes, as known_topics() lists them; CLI messages that name CLI flags.
#include "test_util.h"

namespace {

using nlohmann::json;

test::ProcessResult cairn_cli(std::vector<std::string> args) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args);
}

bool known(std::string_view topic) {
  const auto topics = cairn::known_topics();
  return std::find(topics.begin(), topics.end(), topic) != topics.end();
}

}  // namespace

TEST_CASE("vocabulary: kind_from_string takes the library's and the CLI's names") {
  using cairn::Kind;
  CHECK(cairn::kind_from_string("memory_block") == Kind::memory_block);
  CHECK(cairn::kind_from_string("block") == Kind::memory_block);
  CHECK(cairn::kind_from_string("memory-block") == Kind::memory_block);
  CHECK(cairn::kind_from_string("torrent_session") == Kind::torrent_session);
  CHECK(cairn::kind_from_string("torrent-session") == Kind::torrent_session);
  CHECK(test::error_code_of([] { cairn::kind_from_string("blocks"); }) ==
        cairn::errc::invalid_argument);
  // to_string stays the library's name: exports and events do not change.
  CHECK(std::string(cairn::to_string(Kind::memory_block)) == "memory_block");
}

TEST_CASE("vocabulary: every topic the registry publishes is in known_topics()") {
  test::TempDir dir;
  test::TestClock clock;
  cairn::Options options;
  options.clock = clock.fn();
  auto reg = cairn::Registry::open(dir / "r.db", options);
  test::Recorder recorder;
  auto sub = reg.subscribe({}, recorder.handler());

  reg.apps().put(test::make_app("a"));
  reg.apps().put(test::make_app("a"));
  reg.apps().remove("a");
  reg.pools().put(cairn::Pool{.name = "p"});
  reg.pools().put(cairn::Pool{.name = "p", .description = "again"});
  reg.blocks().put(cairn::MemoryBlock{.id = "b", .pool = "p"});
  reg.blocks().put(cairn::MemoryBlock{.id = "b", .pool = "p", .size = 1});
  reg.blocks().remove("b");
  reg.pools().remove("p");
  reg.config().save("k", 1);
  reg.config().remove("k");
  const std::string hash(40, 'a');
  for (auto state : {cairn::TorrentState::added, cairn::TorrentState::started,
                     cairn::TorrentState::completed, cairn::TorrentState::stopped,
                     cairn::TorrentState::stopped, cairn::TorrentState::removed}) {
    reg.torrents().put(cairn::Torrent{.info_hash = hash, .state = state});
  }
  reg.torrent_session().save(cairn::TorrentSession{});
  auto kv = reg.kv("ns");
  kv.put("k", "v");
  kv.erase("k");
  kv.put("t", "v", cairn::KvWriteOptions{.ttl_ms = 10});
  clock.advance(1000);
  reg.backup(dir / "b.db");
  reg.restore_from(dir / "b.db");
  REQUIRE(reg.wait_for(reg.revision()));

  std::set<std::string> seen;
  for (const auto& e : reg.changes(0)) seen.insert(e.topic);
  for (const auto& e : recorder.events()) seen.insert(e.topic);
  CAPTURE(seen.size());
  CHECK(seen.size() >= 20);
  for (const auto& topic : seen) {
    CAPTURE(topic);
    CHECK(known(topic));
  }
}

TEST_CASE("vocabulary: the CLI takes every kind name in ls, watch, export and import") {
  test::TempDir dir;
  const std::string db = (dir / "r.db").string();
  {
    auto reg = cairn::Registry::open(db);
    reg.pools().put(cairn::Pool{.name = "p"});
    reg.blocks().put(cairn::MemoryBlock{.id = "b", .pool = "p"});
  }
  const auto by_cli_name = cairn_cli({"--db", db, "ls", "block"});
  const auto by_library_name = cairn_cli({"--db", db, "ls", "memory_block"});
  REQUIRE_MESSAGE(by_cli_name.exit_code == 0, by_cli_name.err);
  REQUIRE_MESSAGE(by_library_name.exit_code == 0, by_library_name.err);
  CHECK(test::contains(by_cli_name.out, "\"id\":\"b\""));
  CHECK(by_cli_name.out == by_library_name.out);

  const auto bad = cairn_cli({"--db", db, "ls", "blocks"});
  CHECK(bad.exit_code == 2);
  CHECK(test::contains(bad.err, "unknown kind \"blocks\""));

  for (const char* name : {"block", "memory_block", "memory-block"}) {
    CAPTURE(name);
    const auto out = cairn_cli({"--db", db, "export", "--kind", name});
    REQUIRE_MESSAGE(out.exit_code == 0, out.err);
    CHECK(test::contains(out.out, "\"kind\":\"memory_block\""));
  }

  // import reads "kind" with the same words.
  const std::string lines =
      R"({"format":"cairn-export","version":1})"
      "\n"
      R"({"kind":"pool","record":{"name":"q"}})"
      "\n"
      R"({"kind":"block","record":{"id":"c","pool":"q"}})"
      "\n";
  test::write_bytes(dir / "in.jsonl", lines);
  const auto imported = cairn_cli({"--db", db, "import", (dir / "in.jsonl").string()});
  CHECK_MESSAGE(imported.exit_code == 0, imported.err);
  CHECK(cairn_cli({"--db", db, "get", "block", "c"}).exit_code == 0);

  // watch: the same names, and refusals like the other commands'.
  const auto unknown_kind = cairn_cli({"--db", db, "watch", "--kind", "blocks"});
  CHECK(unknown_kind.exit_code == 2);
  const auto unknown_topic = cairn_cli({"--db", db, "watch", "--topic", "app.registred"});
  CHECK(unknown_topic.exit_code == 2);
  CHECK(test::contains(unknown_topic.err, "unknown topic \"app.registred\""));
  const auto negative = cairn_cli({"--db", db, "watch", "--from", "-1"});
  CHECK(negative.exit_code == 2);
  const auto watched = test::run_command("timeout --preserve-status -s INT 3 " + test::shell_quote(CAIRN_CLI_PATH) +
                                         " --quiet --db " + test::shell_quote(db) +
                                         " watch --from 1 --kind block");
  CHECK(watched.exit_code == 0);  // ran until the SIGINT, then stopped cleanly
  CHECK(test::contains(watched.output, "\"kind\":\"memory_block\""));
}

TEST_CASE("vocabulary: CLI messages name CLI flags and commands") {
  test::TempDir dir;
  const std::string db = (dir / "r.db").string();
  {
    auto reg = cairn::Registry::open(db);
    reg.pools().put(cairn::Pool{.name = "p"});
    reg.blocks().put(cairn::MemoryBlock{.id = "b", .pool = "p"});
  }
  const auto rm = cairn_cli({"--db", db, "rm", "pool", "p"});
  CHECK(rm.exit_code == 4);
  CHECK(test::contains(rm.err, "--cascade"));
  CHECK_FALSE(test::contains(rm.err, "Cascade::"));

  test::write_bytes(dir / "not-sqlite.db", "just some bytes");
  const auto made = cairn_cli({"--db", db, "backup", "create", (dir / "b.db").string()});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  const auto restore =
      cairn_cli({"--db", (dir / "not-sqlite.db").string(), "restore", (dir / "b.db").string()});
  CHECK(restore.exit_code == 5);
  CHECK(test::contains(restore.err, "(--force replaces it)"));
  CHECK(test::read_bytes(dir / "not-sqlite.db") == "just some bytes");

  const auto unknown = cairn_cli({"frobnicate"});
  CHECK(unknown.exit_code == 2);
  CHECK(test::contains(unknown.err, "unknown command \"frobnicate\""));
}
