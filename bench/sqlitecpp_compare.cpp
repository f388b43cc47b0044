// sqlitecpp_compare: the same prepared INSERT and SELECT loops through raw
// sqlite3, cairn's own wrapper (lib/db/connection.h: the statement cache and
// db::Statement, as the stores use it) and SQLiteCpp's SQLite::Statement,
// in one process, alternating rounds, as ratios to raw (issue 16: keep
// SQLiteCpp for statements, or drop it). A one-off measurement, kept with its
// figures in README (Dependencies); not built by meson, since the library no
// longer depends on SQLiteCpp. After `ninja -C build` (tests enabled):
//
//   g++ -std=c++20 -O2 -DNDEBUG -Iinclude -Ilib bench/sqlitecpp_compare.cpp \
//     build/libcairn_internal.a -lSQLiteCpp -lsqlite3 -lcrypto -lfmt -pthread \
//     -o /tmp/sqlitecpp_compare && /tmp/sqlitecpp_compare [rows] [rounds]
//
// Each side gets its own file in $TMPDIR with synchronous=OFF,
// journal_mode=MEMORY and a page cache that holds the file, and one
// transaction per loop: what is measured is the per-statement cost of the
// wrapper, not the disk.
#include <sqlite3.h>
#include <unistd.h>

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>

#include "db/connection.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kSetup =
    "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY; PRAGMA cache_size=-131072;"
    "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value BLOB);"
    "DELETE FROM t;";
constexpr const char* kInsert = "INSERT INTO t (id, name, value) VALUES (?, ?, ?)";
constexpr const char* kSelect = "SELECT name, value FROM t WHERE id = ?";

std::string name_of(std::int64_t i) { return "app-" + std::to_string(i * 7919 % 1000003); }
const std::string kValue(100, 'v');

struct Result {
  double insert_per_s = 0, select_per_s = 0;
};

double per_s(std::int64_t ops, const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  return static_cast<double>(ops) / took.count();
}

void check(int rc, sqlite3* db) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) throw std::runtime_error(sqlite3_errmsg(db));
}

Result raw_round(const fs::path& file, std::int64_t rows) {
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr), db);
  check(sqlite3_exec(db, kSetup, nullptr, nullptr, nullptr), db);
  sqlite3_stmt* ins = nullptr;
  sqlite3_stmt* sel = nullptr;
  check(sqlite3_prepare_v3(db, kInsert, -1, SQLITE_PREPARE_PERSISTENT, &ins, nullptr), db);
  check(sqlite3_prepare_v3(db, kSelect, -1, SQLITE_PREPARE_PERSISTENT, &sel, nullptr), db);
  Result r;
  r.insert_per_s = per_s(rows, [&] {
    check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db);
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::string name = name_of(i);
      sqlite3_bind_int64(ins, 1, i);
      sqlite3_bind_text64(ins, 2, name.data(), name.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      sqlite3_bind_blob64(ins, 3, kValue.data(), kValue.size(), SQLITE_TRANSIENT);
      check(sqlite3_step(ins), db);
      sqlite3_reset(ins);
      sqlite3_clear_bindings(ins);
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db);
  });
  std::size_t bytes = 0;
  r.select_per_s = per_s(rows, [&] {
    check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db);
    for (std::int64_t i = 0; i < rows; ++i) {
      sqlite3_bind_int64(sel, 1, (i * 48271) % rows);
      if (sqlite3_step(sel) != SQLITE_ROW) throw std::runtime_error("raw: no row");
      std::string name(reinterpret_cast<const char*>(sqlite3_column_text(sel, 0)),
                       static_cast<std::size_t>(sqlite3_column_bytes(sel, 0)));
      bytes += name.size() + static_cast<std::size_t>(sqlite3_column_bytes(sel, 1));
      sqlite3_reset(sel);
    }
    check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db);
  });
  sqlite3_finalize(ins);
  sqlite3_finalize(sel);
  sqlite3_close(db);
  if (bytes == 0) throw std::runtime_error("raw: nothing read");
  return r;
}

Result cairn_round(const fs::path& file, std::int64_t rows) {
  using cairn::db::Connection;
  Connection conn(file, Connection::Mode::read_write_create, 0);
  conn.exec(kSetup);
  Result r;
  r.insert_per_s = per_s(rows, [&] {
    conn.exec("BEGIN");
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::string name = name_of(i);
      conn.prepare(kInsert).bind_int(1, i).bind_text(2, name).bind_blob(3, kValue.data(), kValue.size()).run();
    }
    conn.exec("COMMIT");
  });
  std::size_t bytes = 0;
  r.select_per_s = per_s(rows, [&] {
    conn.exec("BEGIN");
    for (std::int64_t i = 0; i < rows; ++i) {
      auto stmt = conn.prepare(kSelect);
      stmt.bind_int(1, (i * 48271) % rows);
      if (!stmt.step()) throw std::runtime_error("cairn: no row");
      std::string name(stmt.column_text(0));
      bytes += name.size() + stmt.column_blob(1).size();
    }
    conn.exec("COMMIT");
  });
  if (bytes == 0) throw std::runtime_error("cairn: nothing read");
  return r;
}

Result sqlitecpp_round(const fs::path& file, std::int64_t rows) {
  SQLite::Database db(file.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec(kSetup);
  SQLite::Statement ins(db, kInsert);
  SQLite::Statement sel(db, kSelect);
  Result r;
  r.insert_per_s = per_s(rows, [&] {
    db.exec("BEGIN");
    for (std::int64_t i = 0; i < rows; ++i) {
      const std::string name = name_of(i);
      ins.bind(1, static_cast<std::int64_t>(i));
      ins.bind(2, name);
      ins.bind(3, kValue.data(), static_cast<int>(kValue.size()));
      ins.exec();
      ins.reset();
      ins.clearBindings();
    }
    db.exec("COMMIT");
  });
  std::size_t bytes = 0;
  r.select_per_s = per_s(rows, [&] {
    db.exec("BEGIN");
    for (std::int64_t i = 0; i < rows; ++i) {
      sel.bind(1, static_cast<std::int64_t>((i * 48271) % rows));
      if (!sel.executeStep()) throw std::runtime_error("SQLiteCpp: no row");
      std::string name = sel.getColumn(0).getString();
      bytes += name.size() + static_cast<std::size_t>(sel.getColumn(1).getBytes());
      sel.reset();
    }
    db.exec("COMMIT");
  });
  if (bytes == 0) throw std::runtime_error("SQLiteCpp: nothing read");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t rows = argc > 1 ? std::atoll(argv[1]) : 200000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  const fs::path dir = fs::temp_directory_path() / ("sqlitecpp_compare." + std::to_string(::getpid()));
  fs::create_directories(dir);
  Result raw, ours, theirs;  // best of the rounds, each side
  auto keep_best = [](Result& best, const Result& r) {
    best.insert_per_s = std::max(best.insert_per_s, r.insert_per_s);
    best.select_per_s = std::max(best.select_per_s, r.select_per_s);
  };
  for (int round = 0; round < rounds; ++round) {  // alternating, so drift hits all three
    keep_best(raw, raw_round(dir / "raw.db", rows));
    keep_best(ours, cairn_round(dir / "cairn.db", rows));
    keep_best(theirs, sqlitecpp_round(dir / "sqlitecpp.db", rows));
  }
  fs::remove_all(dir);
  std::printf("%lld rows, best of %d alternating rounds\n", static_cast<long long>(rows), rounds);
  std::printf("%-34s %12s %12s\n", "", "insert/s", "select/s");
  auto line = [&](const char* who, const Result& r) {
    std::printf("%-34s %12.0f %12.0f   ratio to raw %.2f / %.2f\n", who, r.insert_per_s, r.select_per_s,
                r.insert_per_s / raw.insert_per_s, r.select_per_s / raw.select_per_s);
  };
  line("raw sqlite3", raw);
  line("cairn db::Connection/Statement", ours);
  line("SQLiteCpp SQLite::Statement", theirs);
}
