// I/O faults: a write, remove, multi-record transaction, migration step or
// backup that hits a failing read, write, fsync or truncate either fails with
// a typed cairn::Error and changes nothing, or (when the fault was harmless)
// succeeds -- never a half-applied change, a damaged file, an event for a
// write that did not happen, or a registry that cannot write afterwards.
//
// How: the fault-injecting VFS of fault_vfs.h sits under every connection of
// this process. For each operation and each fault (write: EIO, disk full,
// short write; fsync: EIO; read: EIO; truncate: EIO) the test runs the
// operation on a fresh copy of one base registry with the fault armed at the
// Nth such call, for N = 1, 2, 3... until the operation ends before its Nth
// call (the fault no longer fires inside it). After each run, with the faults
// off, it checks:
//   - the error: a cairn::Error with io_error / disk_full (migration_failed /
//     backup_failed wrapping the SQLite code for those two operations);
//   - the content, through the API and as a full dump of every table (change
//     log included), is exactly the base's or exactly the reference run's (the
//     same operation without faults; the test clock makes runs identical);
//   - no event reached a subscriber for a failed call (a marker write after it
//     is waited for, so delivery has caught up), and a successful call's
//     events did;
//   - a next write succeeds, PRAGMA integrity_check is ok, and the content is
//     still the same after the registry is closed and the file reopened.
// Faults are limited to the calling thread and to the registry's main file
// and -wal (the whole run directory for backup, whose temp file is written
// too), so a run's call counts do not depend on background threads.
//
// The separate cases at the end check that the writer connection is reopened
// after a failed fsync (observed through the shim's xOpen count).
//
// CAIRN_FAULT_RECORDS: records of each kind in the base (default 20);
// CAIRN_FAULT_TX: records per kind in the multi-record transaction (default
// 5). The 'slow' suite runs larger values. No randomness: every run is the
// same, so there is no seed.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "fault_vfs.h"
#include "test_util.h"

using cairn::errc;
using faultvfs::How;
using faultvfs::Op;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

int env_int(const char* name, int fallback) {
  if (const char* s = std::getenv(name); s != nullptr && *s != '\0') return std::max(1, std::atoi(s));
  return fallback;
}

int base_records() { return env_int("CAIRN_FAULT_RECORDS", 20); }
int tx_records() { return env_int("CAIRN_FAULT_TX", 5); }

constexpr cairn::Timestamp kNow = 1'700'000'000'000;
constexpr const char* kMarker = "fault-marker";

cairn::Options options() {
  cairn::Options o;
  o.actor = "io-fault-test";
  o.clock = [] { return kNow; };
  o.backup_before_migrate = false;  // the migration under test is the step itself
  return o;
}

std::string num(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d", n);
  return buf;
}

// An app whose fields and size vary with `n`: test::make_app, plus triggers
// and a protocol version, so faults land in records of many shapes.
cairn::App varied_app(const std::string& id, int n) {
  cairn::App a = test::make_app(
      id, {"pool-" + num(n % 7), "pool-" + num((n + 3) % 7)},
      {{"n", n}, {"text", std::string(static_cast<std::size_t>(40 + n % 200), 'm')}});
  a.triggers = {"on-start", "trigger-" + num(n)};
  a.protocol_version = "1." + std::to_string(n % 5);
  return a;
}

cairn::Pool make_pool(const std::string& name, int n) {
  cairn::Pool p;
  p.name = name;
  p.type = n % 3 == 0 ? cairn::PoolType::global : cairn::PoolType::local;
  p.owners = {"app-" + num(n)};
  p.policies.read = {"*"};
  p.description = "pool number " + std::to_string(n);
  p.config = json{{"n", n}};
  return p;
}

cairn::MemoryBlock make_block(const std::string& id, const std::string& pool, int n) {
  cairn::MemoryBlock b;
  b.id = id;
  b.name = "block " + std::to_string(n);
  b.pool = pool;
  b.size = n * 4096;
  b.type = n % 2 == 0 ? cairn::BlockType::binary : cairn::BlockType::json;
  b.permissions = json{{"app-" + num(n), "rw"}};
  b.config = json{{"n", n}, {"pad", std::string(static_cast<std::size_t>(n % 300), 'b')}};
  return b;
}

// The base registry: `records` of each kind, some removed (so the change log
// has removals too), closed: everything is in the main file, no -wal.
void build_base(const fs::path& path, int records) {
  auto reg = cairn::Registry::open(path, options());
  const int pools = std::max(7, records / 4);
  reg.transact([&](cairn::Tx& tx) {
    for (int i = 0; i < pools; ++i) tx.pools().put(make_pool("pool-" + num(i), i));
  });
  reg.transact([&](cairn::Tx& tx) {
    for (int i = 0; i < records; ++i) {
      tx.apps().put(varied_app("app-" + num(i), i));
      tx.blocks().put(make_block("block-" + num(i), "pool-" + num(i % pools), i));
      tx.config().save("config-" + num(i), json{{"n", i}, {"list", {1, 2, i}}});
    }
  });
  for (int i = 0; i < records; i += 5) {
    reg.config().remove("config-" + num(i));
    reg.apps().update("app-" + num(i + 1), [](cairn::App& a) { a.meta["updated"] = true; });
  }
}

// A registry one schema version behind, with the same data: a new file
// migrated to the version before the latest, with every row of the base that
// the older schema has a table for, so that opening it applies exactly the
// last step. (The tables the last step rebuilt keep their columns in order.)
void downgrade_one_step(const fs::path& path) {
  const int older = cairn::latest_schema_version() - 1;
  const fs::path copy = fs::path(path) += ".older";
  cairn::migrate(copy, {.to = older, .backup_first = false});
  std::string quoted = "'";
  for (char c : path.string()) quoted += c == '\'' ? std::string("''") : std::string(1, c);
  std::string sql = "ATTACH " + quoted + "' AS base; BEGIN;";
  for (const auto& table : test::query(copy, "SELECT name FROM sqlite_schema WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite%'")) {
    const std::string& name = table.front();
    sql += "DELETE FROM main." + name + "; INSERT INTO main." + name + " SELECT * FROM base." +
           name + (name == "schema_migrations" ? " WHERE version <= " + std::to_string(older)
                                                : std::string()) + ";";
  }
  // Before 0004 the last revision lived in registry_state alone.
  sql += "UPDATE main.registry_state SET revision = max(revision, "
         "coalesce((SELECT max(revision) FROM main.change_log), 0)); COMMIT; DETACH base;";
  test::exec_sql(copy, sql);
  fs::rename(copy, path);
}

// ---- what the test compares -------------------------------------------------

using Dump = std::vector<std::string>;

// Every row of every table, the schema and the header fields SQLite keeps,
// one line each, sorted. schema_migrations leaves out duration_ms, the one
// column a clock outside the test's control writes.
Dump dump_database(const fs::path& db) {
  Dump out;
  for (const auto& r : test::query(db, "SELECT type, name, coalesce(sql, '') FROM sqlite_master")) {
    out.push_back("schema|" + r[0] + "|" + r[1] + "|" + r[2]);
  }
  out.push_back("user_version|" + test::query_value(db, "PRAGMA user_version"));
  out.push_back("application_id|" + test::query_value(db, "PRAGMA application_id"));
  for (const auto& t : test::query(
           db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) {
    const std::string sql = t[0] == "schema_migrations"
                                ? "SELECT version, name, checksum, applied_at FROM schema_migrations"
                                : "SELECT * FROM \"" + t[0] + "\"";
    for (const auto& row : test::query(db, sql)) {
      std::string line = t[0];
      for (const auto& v : row) line += "|" + v;
      out.push_back(std::move(line));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The run's content: the database, and for a backup what its directory holds.
Dump dump_run(const fs::path& run) {
  Dump out = dump_database(run / "registry.db");
  const fs::path backups = run / "backups";
  if (fs::exists(backups)) {
    for (const auto& name : test::dir_entries(backups)) {
      if (name == "b.db") {
        auto e = test::error_of([&] { cairn::verify_backup(backups / name); });
        out.push_back(e ? "backup|fails verify: " + std::string(e->what()) : "backup|verified");
      } else if (name != "b.db.manifest.json") {
        out.push_back("backup dir|stray file " + name);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Without what the marker write after each run adds.
Dump without_marker(const Dump& d) {
  Dump out;
  for (const auto& line : d) {
    if (test::contains(line, kMarker) || line.rfind("registry_state|", 0) == 0) continue;
    out.push_back(line);
  }
  return out;
}

// The registry as a user sees it: every record of every kind, and the revision.
std::string api_view(cairn::Registry& reg) {
  json j;
  for (const auto& r : reg.apps().list()) j["apps"].push_back(test::image(r));
  for (const auto& r : reg.pools().list()) j["pools"].push_back(test::image(r));
  for (const auto& r : reg.blocks().list()) j["blocks"].push_back(test::image(r));
  for (const auto& r : reg.config().list()) {
    if (r.key != kMarker) j["config"].push_back(test::image(r));
  }
  return j.dump();
}

// The first line where two dumps differ, for the failure message.
std::string first_difference(const Dump& got, const Dump& want) {
  std::vector<std::string> only_got, only_want;
  std::set_difference(got.begin(), got.end(), want.begin(), want.end(),
                      std::back_inserter(only_got));
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(),
                      std::back_inserter(only_want));
  std::string s;
  if (!only_got.empty()) s += "unexpected: " + only_got.front().substr(0, 300) + "; ";
  if (!only_want.empty()) s += "missing: " + only_want.front().substr(0, 300);
  return s;
}

enum class Seen { before, after, neither };
const char* to_string(Seen s) {
  return s == Seen::before ? "before" : s == Seen::after ? "after" : "NEITHER";
}

template <class T>
Seen classify(const T& got, const T& before, const T& after) {
  if (got == before) return Seen::before;
  if (got == after) return Seen::after;
  return Seen::neither;
}

// The events `recorder` was handed, as "topic id", but for the marker's.
std::vector<std::string> without_marker(const test::Recorder& recorder) {
  std::vector<std::string> out;
  for (const auto& e : recorder.events()) {
    std::string event = e.topic + " " + e.id;
    if (!test::contains(event, kMarker)) out.push_back(std::move(event));
  }
  return out;
}

// ---- operations and faults ------------------------------------------------------

struct Operation {
  std::string name;
  fs::path base;
  bool is_open = false;  // the call is Registry::open itself (a migration on open)
  errc wrapper = errc::ok;  // the code that wraps SQLite's failure (migration_failed...)
  bool whole_dir = false;   // faults in every file of the run, not only the registry's
  std::function<void(cairn::Registry&, const fs::path& run)> call{};
};

struct Combo {
  Op op;
  How how;
};

const std::vector<Combo> kCombos = {
    {Op::write, How::eio},  {Op::write, How::disk_full}, {Op::write, How::short_write},
    {Op::sync, How::eio},   {Op::read, How::eio},        {Op::truncate, How::eio},
};

std::string combo_name(const Combo& c) {
  return std::string(faultvfs::to_string(c.op)) + "/" + faultvfs::to_string(c.how);
}

errc expected_errc(const Combo& c) { return c.how == How::eio ? errc::io_error : errc::disk_full; }
int expected_primary(const Combo& c) { return c.how == How::eio ? SQLITE_IOERR : SQLITE_FULL; }

// What the same operation does without faults.
struct Reference {
  Dump before, after;
  std::string api_before, api_after;
  std::vector<std::string> events;  // delivered for the call
};

struct Tally {
  int runs = 0, fired = 0, failed = 0, tolerated = 0;  // tolerated: fired, yet succeeded
  int content_before = 0, content_after = 0, content_neither = 0;
  int writer_reopened = 0, writer_kept = 0;  // after a failed call with a fired fault
  int code_mismatch = 0;                     // errc or SQLite code not the fault's kind
  std::map<std::string, int> codes;
  std::vector<std::string> problems;

  void problem(const std::string& p) {
    if (problems.size() < 3) problems.push_back(p);
  }
};

fs::path fresh_run(const fs::path& root, const Operation& op) {
  const fs::path run = root / "run";
  fs::remove_all(run);
  fs::create_directories(run);
  fs::copy_file(op.base, run / "registry.db");
  return run;
}

faultvfs::Fault fault_for(const Combo& c, int n, const fs::path& run, bool whole_dir) {
  faultvfs::Fault f;
  f.op = c.op;
  f.how = c.how;
  f.nth = n;
  if (whole_dir) {
    f.prefix = fs::weakly_canonical(run).string() + "/";
  } else {
    f.files = faultvfs::registry_files(run / "registry.db");
  }
  return f;
}

cairn::Revision write_marker(cairn::Registry& reg, int n) {
  return reg.config().save(kMarker, json{{"n", n}}).revision;
}

Reference reference_run(const fs::path& root, const Operation& op) {
  Reference ref;
  fs::path run = fresh_run(root, op);
  ref.before = dump_run(run);
  if (op.is_open) {
    // The base is at an old version: what a user sees is after the migration.
    ref.api_before = "(not opened)";
    auto reg = cairn::Registry::open(run / "registry.db", options());
    ref.api_after = api_view(reg);
    reg.close();
    ref.after = dump_run(run);
    return ref;
  }
  auto reg = cairn::Registry::open(run / "registry.db", options());
  test::Recorder recorder;
  auto sub = reg.subscribe({}, recorder.handler());
  ref.api_before = api_view(reg);
  op.call(reg, run);
  ref.api_after = api_view(reg);
  REQUIRE(reg.wait_for(reg.revision()));
  ref.events = without_marker(recorder);
  sub.reset();
  reg.close();
  ref.after = dump_run(run);
  return ref;
}

// One run: `op` with `combo` armed at its nth call. Returns whether the fault
// fired (false: the operation ended before its nth call).
bool run_once(const fs::path& root, const Operation& op, const Reference& ref, const Combo& combo,
              int n, Tally& tally) {
  const fs::path run = fresh_run(root, op);
  const fs::path db = run / "registry.db";
  const std::string main_file = faultvfs::registry_files(db).front();
  const std::string where = op.name + " " + combo_name(combo) + " N=" + std::to_string(n);

  std::optional<cairn::Registry> reg;
  test::Recorder recorder;
  cairn::Subscription sub;
  if (!op.is_open) {
    reg.emplace(cairn::Registry::open(db, options()));
    sub = reg->subscribe({}, recorder.handler());
  }
  const int opens_before = faultvfs::opens(main_file, true);

  std::optional<cairn::Error> error;
  std::string other_exception;
  faultvfs::arm(fault_for(combo, n, run, op.whole_dir));
  try {
    if (op.is_open) {
      reg.emplace(cairn::Registry::open(db, options()));
    } else {
      op.call(*reg, run);
    }
  } catch (const cairn::Error& e) {
    error = e;
  } catch (const std::exception& e) {
    other_exception = e.what();
  }
  faultvfs::disarm();
  const faultvfs::Report report = faultvfs::report();
  const bool fired = report.fired > 0;

  ++tally.runs;
  INFO(where);
  CHECK_MESSAGE(other_exception.empty(), "not a cairn::Error: ", other_exception);
  if (!fired) {
    CHECK_MESSAGE(!error, "failed without a fault: ", (error ? error->what() : ""));
  } else {
    ++tally.fired;
    if (error) {
      ++tally.failed;
      const errc code = error->code_value();
      const std::string name = cairn::to_string(code);
      ++tally.codes[name + "/sqlite " + std::to_string(error->sqlite_code())];
      const bool typed = code == expected_errc(combo) ||
                         (op.wrapper != errc::ok && code == op.wrapper);
      CHECK_MESSAGE(typed, "error code ", name, ": ", error->what());
      if ((error->sqlite_code() & 0xff) != expected_primary(combo) ||
          (code != expected_errc(combo) && code != op.wrapper)) {
        ++tally.code_mismatch;
        tally.problem(where + ": " + name + " (sqlite " + std::to_string(error->sqlite_code()) +
                      "): " + error->what());
      }
    } else {
      ++tally.tolerated;
    }
  }
  const bool failed = error.has_value() || !other_exception.empty();

  // The content now, in the file and as the registry's own readers see it:
  // the same state in both.
  const Dump now = dump_run(run);
  const Seen seen = classify(now, ref.before, ref.after);
  CHECK_MESSAGE(seen != Seen::neither, "content is neither before nor after: ",
                first_difference(now, failed ? ref.before : ref.after));
  if (!failed) CHECK_MESSAGE(seen == Seen::after, "succeeded, yet the content is the old one");
  if (seen == Seen::before) ++tally.content_before;
  if (seen == Seen::after) ++tally.content_after;
  if (seen == Seen::neither) ++tally.content_neither;
  if (failed && seen == Seen::after) tally.problem(where + ": failed, yet the change is in the file");
  if (reg && !op.is_open) {
    const std::string& want = seen == Seen::before ? ref.api_before : ref.api_after;
    CHECK_MESSAGE(api_view(*reg) == want, "the API disagrees with the file, which shows the state ",
                  std::string(to_string(seen)));
  } else if (reg) {
    CHECK_MESSAGE(api_view(*reg) == ref.api_after, "after the migration the API shows other records");
  }

  if (!reg) {
    // A failed open: the next open, without faults, must work and migrate.
    auto e = test::error_of([&] { reg.emplace(cairn::Registry::open(db, options())); });
    REQUIRE_MESSAGE(!e, "the registry does not open after the fault: ", (e ? e->what() : ""));
    sub = reg->subscribe({}, recorder.handler());
  }

  // The next write works, and once it is delivered, nothing else was.
  cairn::Revision marker = 0;
  auto e = test::error_of([&] { marker = write_marker(*reg, n); });
  CHECK_MESSAGE(!e, "the write after the fault failed: ", (e ? e->what() : ""));
  if (marker > 0) CHECK(reg->wait_for(marker, std::chrono::seconds(30)));
  const auto delivered = without_marker(recorder);
  if (!op.is_open) {
    if (failed) {
      CHECK_MESSAGE(delivered.empty(), "events delivered for a failed call: ", delivered.front());
    } else {
      CHECK(delivered == ref.events);
    }
    if (failed && fired) {
      if (faultvfs::opens(main_file, true) > opens_before) {
        ++tally.writer_reopened;
      } else {
        ++tally.writer_kept;
      }
    }
  }
  sub.reset();
  reg->close();
  reg.reset();

  // Sound, and the same content once reopened.
  const auto integrity = test::query(db, "PRAGMA integrity_check");
  CHECK_MESSAGE(integrity == std::vector<test::Row>{{"ok"}}, "integrity_check: ",
                integrity.empty() ? "" : integrity.front().front());
  const Dump reopened = without_marker(dump_run(run));
  if (op.is_open) {
    // The open after a failed one migrated: only the after state is right.
    CHECK_MESSAGE(reopened == without_marker(ref.after), "after reopening: ",
                  first_difference(reopened, without_marker(ref.after)));
  } else {
    CHECK_MESSAGE(reopened == without_marker(now),
                  "the content changed when the file was reopened: ",
                  first_difference(reopened, without_marker(now)));
  }
  return fired;
}

void run_operation(const Operation& op, const fs::path& root) {
  faultvfs::install();
  const Reference ref = reference_run(root, op);
  // The test clock makes runs identical: a second reference run must agree,
  // or comparing with it would mean nothing.
  const Reference again = reference_run(root, op);
  REQUIRE_MESSAGE(again.after == ref.after, "two runs without faults differ: ",
                  first_difference(again.after, ref.after));
  REQUIRE(ref.before != ref.after);

  const auto started = std::chrono::steady_clock::now();
  int total_runs = 0, total_fired = 0;
  for (const Combo& combo : kCombos) {
    Tally tally;
    int n = 1;
    while (run_once(root, op, ref, combo, n, tally)) {
      ++n;
      REQUIRE_MESSAGE(n < 5000, "the fault still fires at N=5000");
    }
    total_runs += tally.runs;
    total_fired += tally.fired;
    std::string codes;
    for (const auto& [code, count] : tally.codes) {
      codes += (codes.empty() ? "" : ", ") + code + " x" + std::to_string(count);
    }
    std::printf(
        "io faults: %-12s %-17s N=1..%-3d %3d injected: %3d failed (%s), %d tolerated; content "
        "before %d / after %d / NEITHER %d; writer reopened %d, kept %d; %d code mismatches\n",
        op.name.c_str(), combo_name(combo).c_str(), n, tally.fired, tally.failed,
        codes.empty() ? "-" : codes.c_str(), tally.tolerated, tally.content_before,
        tally.content_after, tally.content_neither, tally.writer_reopened, tally.writer_kept, tally.code_mismatch);
    for (const auto& p : tally.problems) std::printf("io faults:   note: %s\n", p.c_str());
    std::fflush(stdout);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  std::printf("io faults: %s: %d runs, %d faults injected (%lld ms)\n", op.name.c_str(), total_runs,
              total_fired, static_cast<long long>(ms));
  std::fflush(stdout);
}

// A base registry per test case, built once.
struct Bases {
  test::RamTempDir dir;  // every commit fsyncs: on a RAM file system that costs nothing
  fs::path current = dir / "base.db";
  fs::path v1 = dir / "base-v1.db";

  Bases() {
    faultvfs::install();
    build_base(current, base_records());
    fs::copy_file(current, v1);
    downgrade_one_step(v1);
  }
};

}  // namespace

TEST_CASE("io faults: a put that hits an I/O fault fails typed and changes nothing") {
  Bases bases;
  Operation op{.name = "put", .base = bases.current};
  op.call = [](cairn::Registry& reg, const fs::path&) {
    reg.apps().put(varied_app("app-new", 4242));
  };
  run_operation(op, bases.dir.path());
}

TEST_CASE("io faults: a remove that hits an I/O fault fails typed and changes nothing") {
  Bases bases;
  Operation op{.name = "remove", .base = bases.current};
  op.call = [](cairn::Registry& reg, const fs::path&) {
    reg.apps().remove("app-" + num(3));
  };
  run_operation(op, bases.dir.path());
}

TEST_CASE("io faults: a multi-record transaction is applied whole or not at all") {
  Bases bases;
  Operation op{.name = "transaction", .base = bases.current};
  op.call = [](cairn::Registry& reg, const fs::path&) {
    const int k = tx_records();
    reg.transact([&](cairn::Tx& tx) {
      for (int i = 0; i < k; ++i) {
        tx.apps().put(varied_app("tx-app-" + num(i), 1000 + i));
        tx.pools().put(make_pool("tx-pool-" + num(i), 1000 + i));
        tx.blocks().put(make_block("tx-block-" + num(i), "tx-pool-" + num(i), 1000 + i));
        tx.config().save("tx-config-" + num(i), json{{"i", i}});
      }
      tx.apps().update("app-" + num(2), [](cairn::App& a) { a.meta["in-tx"] = true; });
      tx.config().remove("config-" + num(1));
    });
  };
  run_operation(op, bases.dir.path());
}

// Regression: a fault in the schema.migrated change-log write, after the step
// committed, left the registry migrated without its event (found by this
// loop). The event row now commits in the last step's transaction.
TEST_CASE("io faults: a migration step on open is applied whole or not at all") {
  Bases bases;
  Operation op{.name = "migration", .base = bases.v1, .is_open = true,
               .wrapper = errc::migration_failed};
  run_operation(op, bases.dir.path());
}

// Regression: a fault in the backup.created change-log write, after the
// backup was renamed into place, failed the call with io_error but left the
// backup and no event (found by this loop). Now the backup is removed and
// the call fails with backup_failed.
TEST_CASE("io faults: a backup that hits an I/O fault leaves no file and no event") {
  Bases bases;
  Operation op{.name = "backup", .base = bases.current, .wrapper = errc::backup_failed,
               .whole_dir = true};
  op.call = [](cairn::Registry& reg, const fs::path& run) { reg.backup(run / "backups" / "b.db"); };
  run_operation(op, bases.dir.path());
}

// ---- the writer connection after a failed fsync --------------------------------

namespace {

// Arms an fsync failure at the first fsync of the registry's files, runs
// `call` (which must fail with io_error), and tells whether the next write
// opened the database file for writing again.
bool writer_reopened_after_failed_sync(const std::function<void(cairn::Registry&)>& call) {
  Bases bases;
  const fs::path db = bases.dir / "registry.db";
  fs::copy_file(bases.current, db);
  const std::string main_file = faultvfs::registry_files(db).front();
  auto reg = cairn::Registry::open(db, options());
  const int opens_before = faultvfs::opens(main_file, true);

  faultvfs::Fault fault;
  fault.op = Op::sync;
  fault.files = faultvfs::registry_files(db);
  faultvfs::arm(fault);
  const auto code = test::error_code_of([&] { call(reg); });
  faultvfs::disarm();
  CHECK(faultvfs::report().fired == 1);
  CHECK(code == errc::io_error);

  CHECK(test::error_code_of([&] { reg.config().save("after-the-fault", json{{"x", 1}}); }) ==
        errc::ok);
  const int opens_after = faultvfs::opens(main_file, true);
  MESSAGE("writer opens of the database file: before the fault ", opens_before,
          ", after the next write ", opens_after);
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  return opens_after > opens_before;
}

}  // namespace

TEST_CASE("io faults: after a failed fsync on put, the writer is reopened before the next write") {
  CHECK(writer_reopened_after_failed_sync(
      [](cairn::Registry& reg) { reg.apps().put(varied_app("app-new", 7)); }));
}

TEST_CASE(
    "io faults: after a failed fsync on a transaction commit, the writer is reopened before the "
    "next write") {
  CHECK(writer_reopened_after_failed_sync([](cairn::Registry& reg) {
    reg.transact([](cairn::Tx& tx) {
      tx.apps().put(varied_app("tx-a", 1));
      tx.config().save("tx-c", json{{"v", 1}});
    });
  }));
}

// Reopening the writer replaced its connection while other threads read the
// pointer to it without the writer mutex: a read lease's release compared its
// connection with it, and stats() counted the writer's cached statements
// through it (it could reach the connection being freed). Found by the TSan build
// (.ci/tsan), which runs this case.
TEST_CASE(
    "io faults: reads and stats() on another thread go on while the writer is reopened after a "
    "failed fsync") {
  Bases bases;
  const fs::path db = bases.dir / "registry.db";
  fs::copy_file(bases.current, db);
  auto reg = cairn::Registry::open(db, options());

  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, read_failures{0};
  std::thread reader([&] {
    while (!stop.load()) {
      try {
        if (reg.apps().get("app-0001").id != "app-0001") read_failures.fetch_add(1);
        if (reg.stats().apps == 0) read_failures.fetch_add(1);
        reads.fetch_add(1);
      } catch (const std::exception&) {
        read_failures.fetch_add(1);
      }
    }
  });

  constexpr int kRounds = 20;
  int failed_writes = 0;
  for (int round = 0; round < kRounds; ++round) {
    faultvfs::Fault fault;
    fault.op = Op::sync;
    fault.files = faultvfs::registry_files(db);
    faultvfs::arm(fault);
    const auto code =
        test::error_code_of([&] { reg.apps().put(varied_app("app-new-" + num(round), round)); });
    faultvfs::disarm();
    if (code == errc::io_error) ++failed_writes;
    CHECK(test::error_code_of([&] {
            reg.config().save("after-" + num(round), json{{"round", round}});
          }) == errc::ok);
  }
  stop = true;
  reader.join();

  CHECK(failed_writes == kRounds);
  CHECK(reads.load() > 0);
  CHECK(read_failures.load() == 0);
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
}
