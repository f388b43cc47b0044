// Opening a registry: durable files and in-memory registries, private file
// modes, what open refuses (with nothing written), the file as other SQLite
// clients see it, stats(), and close().
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <latch>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "db/connection.h"
#include "migrate/migration.h"
#include "migrate/migrator.h"
#include "test_util.h"

using cairn::App;
using cairn::errc;
using cairn::MemoryBlock;
using cairn::Pool;
using cairn::Registry;
using nlohmann::json;
using test::error_code_of;
using test::make_app;

namespace {

// Sets the process umask for one test and restores it afterwards.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;
  ~UmaskGuard() { ::umask(old_); }

 private:
  mode_t old_;
};

Pool make_pool(std::string name) {
  Pool p;
  p.name = std::move(name);
  p.description = "pool";
  return p;
}

MemoryBlock make_block(std::string id) {
  MemoryBlock b;
  b.id = std::move(id);
  b.pool = "p";
  b.size = 100;
  return b;
}

// Writes one record of each kind.
void fill(Registry& reg) {
  reg.pools().put(make_pool("p"));
  reg.apps().put(make_app("a", {"p"}, {{"k", "v"}}));
  reg.blocks().put(make_block("b"));
  reg.config().save("c", json{{"answer", 42}});
}

// A registry file with some data in it, closed.
void make_registry(const test::fs::path& path) {
  auto reg = Registry::open(path);
  fill(reg);
  reg.close();
}

// Checks that opening `path` fails with one of `codes` and leaves the file's
// bytes as they were.
void check_refused_untouched(const test::fs::path& path, std::vector<errc> codes,
                             const cairn::Options& options = {}) {
  const std::string before = test::read_bytes(path);
  auto e = test::error_of([&] { Registry::open(path, options); });
  REQUIRE_MESSAGE(e.has_value(), "open accepted the file");
  INFO("message: ", e->what());
  INFO("code: ", cairn::to_string(e->code_value()));
  CHECK(std::find(codes.begin(), codes.end(), e->code_value()) != codes.end());
  CHECK(test::read_bytes(path) == before);
}

}  // namespace

TEST_CASE("registry: data persists across close and reopen of a file") {
  test::TempDir dir;
  test::TestClock clock;
  const auto path = dir / "registry.db";
  cairn::Options options;
  options.clock = clock.fn();

  nlohmann::json app, pool, block, config;
  cairn::Revision revision = 0;
  {
    auto reg = Registry::open(path, options);
    CHECK(reg.path() == path);
    fill(reg);
    app = test::image(reg.apps().get("a"));
    pool = test::image(reg.pools().get("p"));
    block = test::image(reg.blocks().get("b"));
    config = test::image(reg.config().get("c"));
    revision = reg.revision();

    SUBCASE("closed with close()") { reg.close(); }
    SUBCASE("closed by the destructor") {}
  }

  clock.advance(10'000);
  auto reg = Registry::open(path, options);
  CHECK(test::image(reg.apps().get("a")) == app);
  CHECK(test::image(reg.pools().get("p")) == pool);
  CHECK(test::image(reg.blocks().get("b")) == block);
  CHECK(test::image(reg.config().get("c")) == config);
  CHECK(reg.apps().in_pool("p").size() == 1);
  CHECK(reg.revision() == revision);

  auto events = reg.changes(1);
  REQUIRE(events.size() == 4);
  CHECK(events[0].topic == "pool.created");
  CHECK(events[1].topic == "app.registered");
  CHECK(events[2].topic == "memory_block.created");
  CHECK(events[3].topic == "config.changed");

  // The revision sequence goes on where it stopped.
  CHECK(reg.apps().put(make_app("a2", {"p"})).revision == revision + 1);
}

TEST_CASE("registry: an in-memory registry has the same verbs, and each is independent") {
  test::TestClock clock;
  cairn::Options options;
  options.clock = clock.fn();
  auto one = Registry::open_in_memory(options);
  auto two = Registry::open_in_memory(options);

  fill(one);
  CHECK(one.apps().get("a").meta == json{{"k", "v"}});
  CHECK(one.pools().count() == 1);
  CHECK(one.blocks().list().size() == 1);
  CHECK(one.config().load("c") == json{{"answer", 42}});
  CHECK(one.revision() == 4);
  CHECK(one.changes(1).size() == 4);
  CHECK(one.transact([](cairn::Tx& tx) { return tx.apps().count(); }) == 1);

  CHECK_FALSE(two.apps().find("a").has_value());
  CHECK(two.pools().count() == 0);
  CHECK(two.revision() == 0);
  CHECK(two.changes(1).empty());

  two.apps().put(make_app("only-in-two", {"p"}));
  CHECK_FALSE(one.apps().find("only-in-two").has_value());
  CHECK(two.revision() == 1);

  CHECK(one.stats().path == ":memory:");
  CHECK(one.integrity_check() == std::vector<std::string>{"ok"});

  SUBCASE("and closing one leaves the other open") {
    one.close();
    CHECK(two.apps().find("only-in-two").has_value());
  }
}

TEST_CASE("registry: directories are created 0700 and files 0600, whatever the umask") {
  UmaskGuard umask(0);
  test::TempDir dir;
  const auto nested = dir / "a" / "b" / "c";
  const auto path = nested / "registry.db";

  auto reg = Registry::open(path);
  reg.apps().put(make_app("x", {"p"}));  // makes sure the WAL is in use

  CHECK(test::file_mode(dir / "a") == 0700u);
  CHECK(test::file_mode(dir / "a" / "b") == 0700u);
  CHECK(test::file_mode(nested) == 0700u);
  CHECK(test::file_mode(path) == 0600u);
  REQUIRE(test::fs::exists(path.string() + "-wal"));
  REQUIRE(test::fs::exists(path.string() + "-shm"));
  CHECK(test::file_mode(path.string() + "-wal") == 0600u);
  CHECK(test::file_mode(path.string() + "-shm") == 0600u);

  SUBCASE("and after reopening") {
    reg.close();
    auto again = Registry::open(path);
    again.apps().put(make_app("y", {"p"}));
    CHECK(test::file_mode(path) == 0600u);
    CHECK(test::file_mode(path.string() + "-wal") == 0600u);
    CHECK(test::file_mode(path.string() + "-shm") == 0600u);
  }
}

TEST_CASE("registry: open refuses what is not a registry, and writes nothing") {
  test::TempDir dir;
  const auto path = dir / "file.db";

  SUBCASE("a text file") {
    test::write_bytes(path, "name,size\napp,12\nthis is not a database\n");
    check_refused_untouched(path, {errc::not_a_registry});
  }

  SUBCASE("random bytes") {
    std::mt19937 rng(12345);
    std::string bytes(8192, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    test::write_bytes(path, bytes);
    check_refused_untouched(path, {errc::not_a_registry, errc::corrupt});
  }

  SUBCASE("a SQLite header followed by random bytes") {
    std::mt19937 rng(777);
    std::string bytes("SQLite format 3", 16);
    bytes.resize(8192);
    for (std::size_t i = 16; i < bytes.size(); ++i) bytes[i] = static_cast<char>(rng());
    test::write_bytes(path, bytes);
    check_refused_untouched(path, {errc::not_a_registry, errc::corrupt});
  }

  SUBCASE("a SQLite file of another application, with tables") {
    test::exec_sql(path,
                   "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
                   "INSERT INTO users (name) VALUES ('alice'), ('bob');");
    check_refused_untouched(path, {errc::not_a_registry});
    CHECK(test::query_value(path, "PRAGMA journal_mode") == "delete");
  }

  SUBCASE("a SQLite file with another application_id") {
    test::exec_sql(path,
                   "PRAGMA application_id = 305419896;"
                   "CREATE TABLE settings (k TEXT, v TEXT);");
    check_refused_untouched(path, {errc::not_a_registry});
  }

  SUBCASE("another application's file that even has a table named like ours") {
    test::exec_sql(path,
                   "CREATE TABLE apps (id TEXT PRIMARY KEY, owner TEXT);"
                   "INSERT INTO apps VALUES ('a', 'someone');");
    check_refused_untouched(path, {errc::not_a_registry});
  }

  // No -wal, -shm or -journal left behind either.
  CHECK(test::dir_entries(dir.path()) == std::set<std::string>{"file.db"});
}

TEST_CASE("registry: open refuses a directory") {
  test::TempDir dir;
  test::fs::create_directory(dir / "registry.db");
  CHECK(error_code_of([&] { Registry::open(dir / "registry.db"); }) == errc::not_a_registry);
}

TEST_CASE("registry: a registry with a newer schema is refused with schema_too_new") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  make_registry(path);

  SUBCASE("user_version and history both newer") {
    test::exec_sql(path,
                   "PRAGMA user_version = 999;"
                   "INSERT INTO schema_migrations (version, name, checksum, applied_at, "
                   "duration_ms) VALUES (999, 'from_the_future', 'abc', 0, 0);");
  }
  SUBCASE("only user_version newer") { test::exec_sql(path, "PRAGMA user_version = 999;"); }

  check_refused_untouched(path, {errc::schema_too_new});
  CHECK(test::query_value(path, "PRAGMA user_version") == "999");
  CHECK(test::query_value(path, "SELECT count(*) FROM apps") == "1");
}

TEST_CASE("registry: an applied migration whose checksum differs is refused") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  make_registry(path);
  test::exec_sql(path, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1;");

  check_refused_untouched(path, {errc::migration_checksum});
  CHECK(test::query_value(path, "SELECT checksum FROM schema_migrations WHERE version = 1") ==
        "edited");
}

TEST_CASE("registry: migrate_on_open = false refuses a registry that is behind") {
  // A registry behind this library needs a second migration to exist: build
  // one at version latest - 1 with the engine itself (white-box: the
  // migrator takes its chain as data).
  const int latest = cairn::latest_schema_version();
  if (latest < 2) {
    MESSAGE("only one migration exists: no registry can be behind yet");
    return;
  }
  test::TempDir dir;
  const auto path = dir / "registry.db";
  {
    test::exec_sql(path, "PRAGMA journal_mode = WAL;");
    cairn::db::Connection conn(path.string(), cairn::db::Connection::Mode::read_write, 5000);
    const auto& embedded = cairn::detail::embedded_migrations();
    std::vector<cairn::detail::Migration> older(embedded.begin(), embedded.end() - 1);
    cairn::detail::Migrator migrator(conn, older, [] { return cairn::Timestamp{0}; });
    REQUIRE(migrator.up().version == latest - 1);
  }

  cairn::Options no_migrate;
  no_migrate.migrate_on_open = false;
  check_refused_untouched(path, {errc::migration_failed}, no_migrate);

  auto reg = Registry::open(path);
  CHECK(reg.schema_version() == latest);
}

TEST_CASE(
    "registry: a new file is created at the latest schema even with migrate_on_open = false") {
  // The library's reading of Options::migrate_on_open: an empty database is
  // not a registry that is behind, so it is initialized.
  test::TempDir dir;
  cairn::Options no_migrate;
  no_migrate.migrate_on_open = false;

  SUBCASE("a missing file") {
    auto reg = Registry::open(dir / "new.db", no_migrate);
    CHECK(reg.schema_version() == cairn::latest_schema_version());
  }
  SUBCASE("an empty SQLite file") {
    test::exec_sql(dir / "new.db", "CREATE TABLE t (x); DROP TABLE t;");
    auto reg = Registry::open(dir / "new.db", no_migrate);
    CHECK(reg.schema_version() == cairn::latest_schema_version());
  }
}

TEST_CASE("registry: two openers of a new file at the same time both succeed") {
  // Two processes starting together (a server and `cairn init`) race to
  // create and migrate the same file. Both must end with the same registry,
  // each migration applied once. A race is not hit every time: try often.
  for (int round = 0; round < 25; ++round) {
    CAPTURE(round);
    test::TempDir dir;
    const auto path = dir / "sub" / "registry.db";
    std::latch start(2);
    std::string failures[2];
    std::thread openers[2];
    for (int t = 0; t < 2; ++t) {
      openers[t] = std::thread([&, t] {
        start.arrive_and_wait();
        try {
          auto reg = Registry::open(path);
          reg.config().save("opener-" + std::to_string(t), t);
        } catch (const std::exception& e) {
          failures[t] = e.what();
        }
      });
    }
    for (auto& th : openers) th.join();
    CHECK(failures[0] == "");
    CHECK(failures[1] == "");
    if (!failures[0].empty() || !failures[1].empty()) break;
    CHECK(test::query_value(path, "SELECT count(*) FROM schema_migrations") ==
          std::to_string(cairn::latest_schema_version()));
    CHECK(test::query_value(path, "SELECT count(*) FROM server_config") == "2");
  }
}

TEST_CASE("registry: the sqlite3 shell reads a registry file") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  {
    auto reg = Registry::open(path);
    fill(reg);
    reg.apps().put(make_app("a2", {"p"}));
  }
  REQUIRE(test::run_command("command -v sqlite3 >/dev/null").exit_code == 0);
  const auto db = test::shell_quote(path.string());

  auto integrity = test::run_command("sqlite3 -readonly " + db + " 'PRAGMA integrity_check;'");
  CHECK(integrity.exit_code == 0);
  CHECK(integrity.output == "ok\n");

  auto journal = test::run_command("sqlite3 -readonly " + db + " 'PRAGMA journal_mode;'");
  CHECK(journal.exit_code == 0);
  CHECK(journal.output == "wal\n");

  auto counts = test::run_command(
      "sqlite3 -readonly " + db +
      " 'SELECT count(*) FROM apps; SELECT count(*) FROM pools; PRAGMA application_id;'");
  CHECK(counts.exit_code == 0);
  CHECK(counts.output.rfind("2\n1\n", 0) == 0);
  CHECK(counts.output.find("\n0\n") == std::string::npos);  // application_id is set
}

TEST_CASE("registry: journal_mode is wal and integrity_check is ok") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  auto reg = Registry::open(path);
  fill(reg);
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  CHECK(test::query_value(path, "PRAGMA journal_mode") == "wal");
}

TEST_CASE("registry: stats() reports the registry") {
  test::TempDir dir;
  const auto path = dir / "registry.db";
  auto reg = Registry::open(path);

  auto empty = reg.stats();
  CHECK(empty.path == path.string());
  CHECK(empty.schema_version == cairn::latest_schema_version());
  CHECK(reg.schema_version() == cairn::latest_schema_version());
  CHECK(empty.last_revision == 0);
  CHECK(empty.oldest_revision == 0);
  CHECK(empty.apps == 0);

  fill(reg);
  reg.apps().put(make_app("a2", {"p"}));
  reg.pools().put(make_pool("p2"));
  reg.config().save("c2", 1);
  reg.config().save("c3", 1);

  auto s = reg.stats();
  CHECK(s.schema_version == cairn::latest_schema_version());
  CHECK(s.apps == 2);
  CHECK(s.pools == 2);
  CHECK(s.memory_blocks == 1);
  CHECK(s.config_entries == 3);
  CHECK(s.last_revision == reg.revision());
  CHECK(s.last_revision == 8);
  CHECK(s.oldest_revision == 1);
  CHECK(s.page_size > 0);
  CHECK(s.page_count > 0);
  CHECK(s.freelist_pages >= 0);
  CHECK(s.freelist_pages <= s.page_count);
  CHECK(s.database_bytes + s.wal_bytes > 0);
  CHECK(s.database_bytes >= 0);
  CHECK(s.wal_bytes >= 0);

  json j = s;
  CHECK(j.at("schema_version") == cairn::latest_schema_version());
  CHECK(test::contains(j.dump(), "\"memory_blocks\":1"));

  SUBCASE("in memory") {
    auto mem = Registry::open_in_memory();
    fill(mem);
    auto m = mem.stats();
    CHECK(m.path == ":memory:");
    CHECK(m.schema_version == cairn::latest_schema_version());
    CHECK(m.apps == 1);
    CHECK(m.memory_blocks == 1);
    CHECK(m.last_revision == 4);
  }
}

TEST_CASE("registry: after close(), calls fail with errc::closed") {
  test::TempDir dir;
  auto reg = Registry::open(dir / "registry.db");
  fill(reg);
  auto apps = reg.apps();  // a store handle taken before close
  reg.close();

  CHECK(error_code_of([&] { reg.apps().get("a"); }) == errc::closed);
  CHECK(error_code_of([&] { reg.apps().find("a"); }) == errc::closed);
  CHECK(error_code_of([&] { reg.apps().put(make_app("z", {"p"})); }) == errc::closed);
  CHECK(error_code_of([&] { reg.pools().list(); }) == errc::closed);
  CHECK(error_code_of([&] { reg.blocks().count(); }) == errc::closed);
  CHECK(error_code_of([&] { reg.config().load("c"); }) == errc::closed);
  CHECK(error_code_of([&] { apps.find("a"); }) == errc::closed);
  CHECK(error_code_of([&] { reg.begin(); }) == errc::closed);
  CHECK(error_code_of([&] { reg.transact([](cairn::Tx&) {}); }) == errc::closed);
  CHECK(error_code_of([&] { reg.revision(); }) == errc::closed);
  CHECK(error_code_of([&] { reg.stats(); }) == errc::closed);
  CHECK(error_code_of([&] { reg.changes(1); }) == errc::closed);
  CHECK(error_code_of([&] { reg.integrity_check(); }) == errc::closed);

  reg.close();  // idempotent
  CHECK(error_code_of([&] { reg.apps().count(); }) == errc::closed);

  SUBCASE("in memory too") {
    auto mem = Registry::open_in_memory();
    fill(mem);
    mem.close();
    CHECK(error_code_of([&] { mem.apps().get("a"); }) == errc::closed);
    CHECK(error_code_of([&] { mem.revision(); }) == errc::closed);
  }
}

TEST_CASE("registry: a registry can be moved") {
  auto reg = Registry::open_in_memory();
  fill(reg);
  Registry moved = std::move(reg);
  CHECK(moved.apps().find("a").has_value());
  CHECK(moved.revision() == 4);

  auto other = Registry::open_in_memory();
  other = std::move(moved);
  CHECK(other.apps().find("a").has_value());
}

TEST_CASE("registry: errors carry their code, name and SQLite code") {
  cairn::Error e(errc::conflict, "app \"a\": revision 3 expected, 4 found");
  CHECK(e.code() == errc::conflict);
  CHECK(e.code_value() == errc::conflict);
  CHECK(e.sqlite_code() == 0);
  CHECK(test::contains(e.what(), "revision 3 expected"));
  CHECK(std::string(cairn::to_string(errc::schema_too_new)) == "schema_too_new");
  CHECK(std::string(cairn::to_string(errc::not_found)) == "not_found");
  CHECK(std::string(e.code().category().name()).size() > 0);

  cairn::Error with_sqlite(errc::busy, "locked", 5);
  CHECK(with_sqlite.sqlite_code() == 5);
  const std::system_error& base = with_sqlite;
  CHECK(base.code() == errc::busy);
}
