// Fuzz target: backups whose schema an attacker altered and whose manifest
// the attacker then rewrote to match (size and SHA-256 are anyone's to
// compute), so only the check of the schema itself stands in the way.
//
// Proves:
//   - when the edits changed sqlite_master (the type, name, table or SQL of
//     any table, index, trigger or view; SQLite's own sqlite_* objects
//     aside, they follow from the others), verify_backup throws a
//     cairn::Error restore_refused or not_a_registry, and restore() onto an
//     existing registry throws one too and leaves that registry's file, its
//     -wal (not checkpointed) and its -shm byte for byte as they were, with
//     nothing new beside them;
//   - when the edits left sqlite_master as it was (a TEMP object, an index
//     dropped and created again with its own SQL, an object created and
//     dropped), verify_backup accepts the file and restore() to a new file
//     succeeds: the refusals above are the schema's doing.
// Inputs whose edits all fail (SQL errors) are skipped. Any other outcome,
// anything else escaping the library, or a crash is a finding.
//
// Input: up to four edits, run one by one with sqlite3_exec on a copy of a
// good backup (a registry with a pool, an app and a config entry) opened
// with the plain sqlite3 API: no URI, no hardening, the attacker's own
// connection. An edit is one byte for its kind (b % 11, see edit_sql) and
// one byte for each part of it, each picking from a small fixed vocabulary
// (cairn's tables and columns, its indexes, new names quoted, qualified and
// reserved-looking, column types, trigger and view bodies), so that the SQL
// usually parses. Built once per process, in a scratch directory
// (fuzz_files.h): the good backup, kept in memory, and the target registry.
#include <sqlite3.h>

#include <array>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/sha256.h"
#include "fuzz_common.h"
#include "fuzz_files.h"

namespace {

using cairn::errc;
namespace fs = std::filesystem;

constexpr int kMaxEdits = 4;

// ---- The vocabulary ----

constexpr std::array kTables = {
    "schema_migrations", "registry_state", "change_log",      "apps",
    "app_pools",         "pools",          "memory_blocks",   "server_config",
    "subscriptions",     "torrents",       "torrent_session", "kv_entries",
};

struct Column {
  const char* table;
  const char* columns;  // one, or an index's list
};
constexpr std::array kColumns = {
    Column{"apps", "id"},
    Column{"apps", "meta"},
    Column{"apps", "last_seen"},
    Column{"app_pools", "app_id"},
    Column{"pools", "type, name"},  // with "pools_by_type", that index's own SQL
    Column{"pools", "description"},
    Column{"memory_blocks", "pool, id"},
    Column{"memory_blocks", "size"},
    Column{"server_config", "value"},
    Column{"change_log", "at"},
    Column{"change_log", "record_id"},
    Column{"registry_state", "revision"},
    Column{"subscriptions", "acked_revision"},
    Column{"torrents", "state"},
    Column{"kv_entries", "expires_at"},
    Column{"schema_migrations", "checksum"},
};

constexpr std::array kIndexes = {
    "sqlite_autoindex_server_config_1", "pools_by_type",     "memory_blocks_by_pool",
    "memory_blocks_by_type",            "torrents_by_state", "kv_entries_by_expiry",
    "sqlite_autoindex_pools_1",
};

// New names: plain, looking like SQLite's reserved "sqlite_" prefix without
// it, quoted in each of SQLite's ways, schema-qualified (temp objects are not
// part of the file), reserved (refused by SQLite), and cairn's own.
constexpr std::array kNames = {
    "extra",
    "x",
    "apps_audit",
    "sqlitex",
    "sqlite1",
    "SQLiteQ",
    "\"odd name\"",
    "\"a\"\"b\"",
    "[br]",
    "`bt`",
    "\"\"",
    "sqlite_x",
    "main.extra2",
    "temp.ghost",
    "apps",
    "pools_by_type",
    "change_log_by_at",
};

constexpr std::array kTypes = {
    "TEXT",
    "INTEGER",
    "BLOB",
    "",
    "TEXT NOT NULL",
    "TEXT NOT NULL DEFAULT ''",
    "INTEGER REFERENCES apps (id)",
    "INTEGER PRIMARY KEY AUTOINCREMENT",
    "TEXT UNIQUE",
    "INTEGER GENERATED ALWAYS AS (1) VIRTUAL",
    "TEXT CHECK (length(x) < 3)",
};

constexpr std::array kTriggerTimes = {"BEFORE", "AFTER", "INSTEAD OF", ""};
constexpr std::array kTriggerEvents = {"INSERT", "UPDATE", "DELETE", "UPDATE OF id"};
constexpr std::array kTriggerBodies = {
    "SELECT 1;",
    "DELETE FROM apps;",
    "UPDATE registry_state SET revision = revision + 1;",
    "INSERT INTO server_config VALUES ('k', '1', 0, 0, 0);",
    "SELECT RAISE(ABORT, 'refused');",
    "DELETE FROM change_log; DELETE FROM schema_migrations;",
};
constexpr std::array kViewBodies = {
    "SELECT 1",
    "SELECT * FROM apps",
    "SELECT id FROM apps WHERE meta LIKE '%x%'",
    "SELECT * FROM nosuch",
    "SELECT name FROM sqlite_master",
};
constexpr std::array kIndexKinds = {"INDEX", "UNIQUE INDEX", "INDEX IF NOT EXISTS"};
constexpr std::array kIndexWhere = {"", " WHERE 0", " WHERE rowid > 0"};
constexpr std::array kDropKinds = {"TABLE", "VIEW", "TRIGGER", "INDEX"};

// The input, read a byte at a time; 0 once it is used up.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  std::uint8_t byte() { return done() ? 0 : data_[at_++]; }

  template <std::size_t N>
  auto pick(const std::array<const char*, N>& words) {
    return words[byte() % N];
  }
  Column pick(const std::array<Column, kColumns.size()>& columns) {
    return columns[byte() % columns.size()];
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

std::string edit_sql(Reader& in) {
  const std::string s = " ";
  switch (in.byte() % 11) {
    case 0: {
      const std::string name = in.pick(kNames), when = in.pick(kTriggerTimes),
                        event = in.pick(kTriggerEvents), table = in.pick(kTables),
                        body = in.pick(kTriggerBodies);
      return "CREATE TRIGGER " + name + s + when + s + event + " ON " + table + " BEGIN " + body +
             " END";
    }
    case 1: {
      const std::string name = in.pick(kNames);
      return "CREATE VIEW " + name + " AS " + in.pick(kViewBodies);
    }
    case 2: {
      const std::string kind = in.pick(kIndexKinds), name = in.pick(kNames);
      const Column column = in.pick(kColumns);
      return "CREATE " + kind + s + name + " ON " + column.table + " (" + column.columns + ")" +
             in.pick(kIndexWhere);
    }
    case 3: {
      // An index cairn created, or one named like it.
      const std::string kind = in.pick(kIndexKinds), name = in.pick(kIndexes);
      const Column column = in.pick(kColumns);
      return "CREATE " + kind + s + name + " ON " + column.table + " (" + column.columns + ")";
    }
    case 4:
      return std::string("DROP INDEX ") + in.pick(kIndexes);
    case 5: {
      const std::string table = in.pick(kTables), name = in.pick(kNames);
      return "ALTER TABLE " + table + " ADD COLUMN " + name + s + in.pick(kTypes);
    }
    case 6: {
      const std::string name = in.pick(kNames), column = in.pick(kNames);
      return "CREATE TABLE " + name + " (" + column + s + in.pick(kTypes) + ")";
    }
    case 7: {
      const std::string kind = in.pick(kDropKinds);
      const std::uint8_t from = in.byte();
      const char* name = from % 3 == 0   ? kNames[from / 3 % kNames.size()]
                         : from % 3 == 1 ? kTables[from / 3 % kTables.size()]
                                         : kIndexes[from / 3 % kIndexes.size()];
      return "DROP " + kind + s + name;
    }
    case 8: {
      const Column column = in.pick(kColumns);
      return std::string("ALTER TABLE ") + column.table + " RENAME COLUMN " + column.columns +
             " TO " + in.pick(kNames);
    }
    case 9: {
      const std::string table = in.pick(kTables);
      return "ALTER TABLE " + table + " RENAME TO " + in.pick(kNames);
    }
    default: {
      const Column column = in.pick(kColumns);
      return std::string("ALTER TABLE ") + column.table + " DROP COLUMN " + column.columns;
    }
  }
}

// ---- Files ----

struct Fixture {
  fuzz::ScratchDir dir{"backup-schema"};
  fs::path edited = dir / "edited.db";
  fs::path target = dir / "target.db";          // a registry restore must leave alone
  fs::path new_target = dir / "new-target.db";  // for backups that should restore
  std::string good_bytes;
  cairn::BackupInfo good;                           // the good backup's manifest
  std::vector<std::string> good_schema;             // its sqlite_master, as schema_of gives it
  std::map<std::string, std::string> target_files;  // target.db*, name -> bytes
  std::set<std::string> entries;                    // of dir, with edited.db and its manifest
};

// The files of the target registry (target.db, -wal, -shm), name -> bytes.
std::map<std::string, std::string> target_files(const Fixture& f) {
  std::map<std::string, std::string> out;
  const std::string prefix = f.target.filename().string();
  for (const auto& name : fuzz::entry_names(f.dir.path())) {
    if (name.starts_with(prefix)) out[name] = fuzz::read_bytes(f.dir / name);
  }
  return out;
}

// sqlite_master of `db`, one line per object with its type, name, table and
// SQL, without SQLite's own objects (a name starting "sqlite_" in any case:
// SQLite refuses such names for anything else).
std::vector<std::string> schema_of(sqlite3* db) {
  std::vector<std::string> rows;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT type, name, tbl_name, sql FROM sqlite_master "
                         "ORDER BY type, name",
                         -1, &stmt, nullptr) != SQLITE_OK) {
    fuzz::harness_failure(std::string("read sqlite_master: ") + sqlite3_errmsg(db));
  }
  auto text = [&](int column) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, column));
    return p == nullptr ? std::string("NULL") : std::string(p);
  };
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    std::string name = text(1), lowered = name.substr(0, 7);
    for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lowered == "sqlite_") continue;
    rows.push_back(text(0) + " " + name + " ON " + text(2) + ": " + text(3));
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) {
    fuzz::harness_failure(std::string("read sqlite_master: ") + sqlite3_errmsg(db));
  }
  return rows;
}

sqlite3* open_raw(const fs::path& path, int flags) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    fuzz::harness_failure("sqlite3_open_v2 " + path.string() + ": " + sqlite3_errmsg(db));
  }
  return db;
}

void close_raw(sqlite3* db) {
  if (sqlite3_close(db) != SQLITE_OK) fuzz::harness_failure("sqlite3_close failed");
}

// The attacker's move after an edit: a manifest that matches the new bytes.
void write_matching_manifest(const Fixture& f) {
  cairn::BackupInfo info = f.good;
  info.path = f.edited;
  info.manifest = cairn::manifest_path(f.edited);
  info.size = static_cast<std::int64_t>(fs::file_size(f.edited));
  info.sha256 = cairn::detail::sha256_file(f.edited);
  fuzz::write_bytes(info.manifest, nlohmann::json(info).dump(2) + "\n");
}

cairn::Options registry_options() {
  cairn::Options options = fuzz::fuzz_options();
  options.synchronous = cairn::Synchronous::normal;
  options.read_connections = 1;
  return options;
}

void make_good_backup(Fixture& f) {
  const fs::path source = f.dir / "source.db", backup = f.dir / "good.db";
  {
    cairn::Registry reg = cairn::Registry::open(source, registry_options());
    reg.pools().put(cairn::Pool{.name = "p"});
    reg.apps().put(cairn::App{.id = "app-1", .pools = {"p"}, .meta = {{"port", 8080}}});
    reg.config().save("backupInterval", 60000);
    f.good = reg.backup(backup);
  }
  f.good_bytes = fuzz::read_bytes(backup);
  for (const fs::path& p : {source, backup, cairn::manifest_path(backup)}) fs::remove(p);
  fuzz::write_bytes(f.edited, f.good_bytes);
  sqlite3* db = open_raw(f.edited, SQLITE_OPEN_READONLY);
  f.good_schema = schema_of(db);
  close_raw(db);
  // Without this the property would hold for nothing: the good bytes, with
  // the manifest the harness writes, verify.
  write_matching_manifest(f);
  cairn::verify_backup(f.edited);
}

// A registry with a -wal that was never checkpointed (one more write through
// a connection that does not checkpoint on close), as a live server leaves
// it. (An UPDATE that stores the same bytes writes no page: SQLite compares.)
void make_target(Fixture& f) {
  {
    cairn::Registry reg = cairn::Registry::open(f.target, registry_options());
    reg.apps().put(cairn::App{.id = "target-app"});
  }
  sqlite3* db = open_raw(f.target, SQLITE_OPEN_READWRITE);
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  if (sqlite3_exec(db, "UPDATE apps SET last_seen = last_seen + 1", nullptr, nullptr, nullptr) !=
      SQLITE_OK) {
    fuzz::harness_failure(std::string("write to the target: ") + sqlite3_errmsg(db));
  }
  close_raw(db);
  f.target_files = target_files(f);
  const auto wal = f.target_files.find(f.target.filename().string() + "-wal");
  if (wal == f.target_files.end() || wal->second.empty()) {
    fuzz::harness_failure("the target registry has no -wal to check");
  }
}

void make_fixture(Fixture& f) {
  try {
    make_good_backup(f);
    make_target(f);
  } catch (const std::exception& e) {
    fuzz::harness_failure(std::string("fixture: ") + e.what());
  }
  f.entries = fuzz::entry_names(f.dir.path());
}

const Fixture& fixture() {
  static Fixture f;
  static const bool made = (make_fixture(f), true);
  (void)made;
  return f;
}

// ---- The properties ----

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}

// The error a call refusing the altered backup throws: restore_refused or
// not_a_registry. A return or anything else is a finding.
template <class Fn>
void expect_refused(const char* what, const std::string& edits, Fn&& fn) {
  try {
    fn();
  } catch (const cairn::Error& e) {
    fuzz::check(e.code_value() == errc::restore_refused || e.code_value() == errc::not_a_registry,
                std::string(what) + " of an altered schema failed with " +
                    cairn::to_string(e.code_value()) + ": " + e.what() + "\nedits:" + edits);
    return;
  } catch (const std::exception& e) {
    fuzz::finding(std::string(what) + ": a non-cairn exception escaped the library: " + e.what() +
                  "\nedits:" + edits);
  }
  fuzz::finding(std::string(what) + " accepted a backup whose schema was altered\nedits:" + edits);
}

void check_refused(const Fixture& f, const std::string& edits) {
  expect_refused("verify_backup", edits, [&] { cairn::verify_backup(f.edited); });
  expect_refused("restore", edits, [&] { cairn::restore(f.edited, f.target); });
  fuzz::check(target_files(f) == f.target_files,
              "a refused restore changed the target registry's files\nedits:" + edits);
  fuzz::check(fuzz::entry_names(f.dir.path()) == f.entries,
              "a refused restore left files beside the target\nedits:" + edits);
}

void check_accepted(const Fixture& f, const std::string& edits) {
  const std::string what = "a backup whose schema is as it was\nedits:" + edits + "\n";
  fuzz::call((what + "verify_backup").c_str(), {}, [&] { return cairn::verify_backup(f.edited); });
  fuzz::call((what + "restore").c_str(), {},
             [&] { return cairn::restore(f.edited, f.new_target); });
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(f.new_target.string() + suffix, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Fixture& f = fixture();
  fuzz::write_bytes(f.edited, f.good_bytes);

  Reader in(data, size);
  std::vector<std::string> applied;
  sqlite3* db = open_raw(f.edited, SQLITE_OPEN_READWRITE);
  for (int i = 0; i < kMaxEdits && !in.done(); ++i) {
    const std::string sql = edit_sql(in);
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK) {
      applied.push_back(sql);
    }
  }
  const std::vector<std::string> schema = schema_of(db);
  close_raw(db);
  if (applied.empty()) return 0;
  write_matching_manifest(f);

  const std::string edits = joined(applied);
  if (schema != f.good_schema) {
    check_refused(f, edits + "\nschema now:" + joined(schema));
  } else {
    check_accepted(f, edits);
  }
  return 0;
}
