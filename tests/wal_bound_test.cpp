// The WAL bound (reliability item 5). What it proves, and how:
//
// 1. A reader that holds an old snapshot stops checkpoints from catching up,
//    so the WAL grows past Options::journal_size_limit; stats() then reports
//    the WAL's true size and warns about it. The reader is a raw sqlite3
//    connection in ANOTHER PROCESS (forked before the registry opens, so it
//    shares no SQLite state with us), running `BEGIN; SELECT ...` and keeping
//    the transaction open, like an operator's forgotten sqlite3 shell. The
//    registry commits CAIRN_WAL_MB MiB of 1 MiB KV values meanwhile, and the
//    reader still sees its old count afterwards (its snapshot really is held).
// 2. Once the reader lets go, with no further write, the registry's
//    background checkpoint truncates the WAL (to 0 bytes) within a few
//    checkpoint intervals (200 ms here; we wait up to 10 s and print how long
//    it took: no timing is asserted), the warning goes away, integrity_check
//    is ok and every value is there, byte for byte.
// 3. Only the writer checkpoints. A pass-through VFS shim (installed as the
//    default VFS, which lib/db uses) counts writes and truncations of the
//    registry's main database file per file handle -- in WAL mode only a
//    checkpoint writes that file -- and a statement trace installed on every
//    connection (sqlite3_auto_extension) tells which handle is the writer's:
//    the one that runs BEGIN IMMEDIATE. While several reader connections
//    serve concurrent reads through passive checkpoints, a background
//    TRUNCATE checkpoint and the registry's close, every write of the main
//    file must come from the writer's handle (and the writer must have made
//    some, or the test saw no checkpoint at all). A reader only checkpoints on
//    close when it is the file's last connection, which the library's close
//    order (readers before the writer) never lets happen; so the test also
//    checks, white-box, that every reader connection is read-only and has
//    SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE set.
// 4. Regressions found while writing this test: a WAL that stats() warned
//    about but that the background never truncated, because only a commit on
//    this registry's writer (the wal hook, counting frames without their
//    headers) armed the background checkpoint: a WAL only just past the
//    bound, one grown by another writer, one left by a registry closed while
//    a reader held it. Fixed: the hook counts the file's bytes, and open and
//    stats() arm the checkpoint when they see the WAL past the bound.
//
// Env: CAIRN_WAL_MB (MiB written while the reader holds; default 16) and
// CAIRN_WAL_BOUND_MB (journal_size_limit; default 8). The slow suite runs the
// issue's figures: 64 MiB against the default 64 MiB bound. Deterministic
// content: no seed.
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cairn/cairn.h"
#include "test_util.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kMiB = 1 << 20;
constexpr int kIntervalMs = 200;
constexpr auto kReturnTimeout = std::chrono::milliseconds(10'000);
// For the regression cases: 25 intervals.
constexpr auto kGapTimeout = std::chrono::milliseconds(25 * kIntervalMs);

std::int64_t env_int(const char* name, std::int64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoll(text, nullptr, 10);
}

std::int64_t wal_mb() { return env_int("CAIRN_WAL_MB", 16); }
std::int64_t bound_bytes() { return env_int("CAIRN_WAL_BOUND_MB", 8) * kMiB; }

std::int64_t wal_size(const fs::path& db) {
  std::error_code ec;
  const auto size = fs::file_size(db.string() + "-wal", ec);
  return ec ? 0 : static_cast<std::int64_t>(size);
}

cairn::Options bound_options(std::int64_t bound) {
  cairn::Options o;
  o.synchronous = cairn::Synchronous::normal;
  o.journal_size_limit = bound;
  o.checkpoint_interval_ms = kIntervalMs;
  return o;
}

// 1 MiB that names its key in every 64-byte line, so a misplaced page shows.
std::string big_value(int i) {
  std::string line(64, '.');
  std::string out;
  out.reserve(static_cast<std::size_t>(kMiB));
  for (int n = 0; out.size() < static_cast<std::size_t>(kMiB); ++n) {
    const std::string tag = "value " + std::to_string(i) + " line " + std::to_string(n) + " ";
    std::copy(tag.begin(), tag.end(), line.begin());
    out += line;
  }
  out.resize(static_cast<std::size_t>(kMiB));
  return out;
}

std::string big_key(int i) { return "big-" + std::to_string(1000 + i); }

bool mentions_wal(const std::vector<std::string>& warnings) {
  return std::any_of(warnings.begin(), warnings.end(),
                     [](const std::string& w) { return test::contains(w, "WAL"); });
}

// Polls until the WAL file is under `bound` or the timeout passes; returns
// the time it took (or nullopt on timeout).
std::optional<std::chrono::milliseconds> wait_wal_under(
    const fs::path& db, std::int64_t bound, std::chrono::milliseconds timeout = kReturnTimeout) {
  const auto start = Clock::now();
  while (Clock::now() - start < timeout) {
    if (wal_size(db) <= bound) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

// ---- A reader in another process -------------------------------------------

// A child process with a raw, read-only sqlite3 connection that opens a read
// transaction on command and keeps it until told to let go. Forked in the
// constructor, before the test opens any connection: a forked child must not
// inherit SQLite state (open connections, the unix VFS's lock tables).
// Protocol (one line each way): "begin" -> "<count>", "count" -> "<count>"
// (inside the same transaction), "release" -> "released". count is
// SELECT count(*) FROM kv_entries.
class HeldReader {
 public:
  // The child exits at EOF on its input: when the reader is destroyed.
  explicit HeldReader(const fs::path& db)
      : child_([path = db.string()](int in, int out) { return serve(path, in, out); }) {}

  std::string ask(const std::string& command) {
    send_line(child_.to_child(), command);
    return read_line(child_.from_child());
  }

 private:
  static void send_line(int fd, const std::string& line) {
    const std::string text = line + "\n";
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }
  static std::string read_line(int fd) {
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }

  static std::string count(sqlite3* db) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM kv_entries", -1, &stmt, nullptr) !=
        SQLITE_OK) {
      return std::string("error: ") + sqlite3_errmsg(db);
    }
    std::string out = sqlite3_step(stmt) == SQLITE_ROW
                          ? std::to_string(sqlite3_column_int64(stmt, 0))
                          : std::string("error: ") + sqlite3_errmsg(db);
    sqlite3_finalize(stmt);
    return out;
  }

  // The child: never returns to doctest.
  static int serve(const std::string& path, int in, int out) {
    sqlite3* db = nullptr;
    for (std::string command = read_line(in); !command.empty(); command = read_line(in)) {
      if (command == "begin") {
        if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
          send_line(out, "error: open");
          continue;
        }
        sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
        send_line(out, count(db));
      } else if (command == "count") {
        send_line(out, count(db));
      } else if (command == "release") {
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
        sqlite3_close(db);
        db = nullptr;
        send_line(out, "released");
      }
    }
    if (db != nullptr) sqlite3_close(db);
    return 0;
  }

  test::ForkedChild child_;
};

// ---- A VFS shim that sees who writes the database file ----------------------

namespace shim {

struct FileRecord {
  std::string name{};
  bool main_db = false;
  bool opened_read_only = false;
  bool writer = false;               // its connection ran BEGIN IMMEDIATE
  bool checked_reader = false;       // a non-writer's connection was inspected...
  bool reader_read_only = false;     // ...sqlite3_db_readonly("main")
  int reader_no_ckpt_on_close = -1;  // ...SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE
  int writes = 0, truncates = 0;     // of the main database file
};

struct File {
  sqlite3_file base{};  // first: SQLite sees a File as a sqlite3_file
  sqlite3_file* real = nullptr;
  std::size_t record = 0;
};

std::mutex g_mu;
std::vector<FileRecord> g_records;
sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_vfs{};
sqlite3_io_methods g_methods{};

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<File*>(f)->real; }
std::size_t record_of(sqlite3_file* f) { return reinterpret_cast<File*>(f)->record; }

int x_close(sqlite3_file* f) {
  const int rc = real(f)->pMethods->xClose(real(f));
  std::free(real(f));
  return rc;
}
int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), buf, n, off);
}
int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  {
    std::lock_guard lock(g_mu);
    auto& r = g_records[record_of(f)];
    if (r.main_db) ++r.writes;
  }
  return real(f)->pMethods->xWrite(real(f), buf, n, off);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  {
    std::lock_guard lock(g_mu);
    auto& r = g_records[record_of(f)];
    if (r.main_db) ++r.truncates;
  }
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real(f)->pMethods->xShmMap(real(f), page, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return real(f)->pMethods->xFetch(real(f), off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real(f)->pMethods->xUnfetch(real(f), off, p);
}

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* file = reinterpret_cast<File*>(f);
  file->base.pMethods = nullptr;
  file->real =
      static_cast<sqlite3_file*>(std::calloc(1, static_cast<std::size_t>(g_real->szOsFile)));
  if (file->real == nullptr) return SQLITE_NOMEM;
  const int rc = g_real->xOpen(g_real, name, file->real, flags, out_flags);
  if (file->real->pMethods == nullptr) {
    std::free(file->real);
    return rc;
  }
  {
    std::lock_guard lock(g_mu);
    FileRecord r;
    r.name = name != nullptr ? name : "";
    r.main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    r.opened_read_only = (flags & SQLITE_OPEN_READONLY) != 0;
    g_records.push_back(r);
    file->record = g_records.size() - 1;
  }
  file->base.pMethods = &g_methods;
  return rc;
}
int v_delete(sqlite3_vfs*, const char* name, int sync) {
  return g_real->xDelete(g_real, name, sync);
}
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
int v_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int v_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int v_current_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int v_get_last_error(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError(g_real, n, out);
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}

// The statement trace of every connection: marks the writer's file handle,
// and inspects the other connections of the file.
int on_statement(unsigned type, void*, void* p, void*) {
  if (type != SQLITE_TRACE_STMT) return 0;
  auto* stmt = static_cast<sqlite3_stmt*>(p);
  sqlite3* db = sqlite3_db_handle(stmt);
  sqlite3_file* f = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
      f == nullptr || f->pMethods != &g_methods) {
    return 0;
  }
  const char* sql = sqlite3_sql(stmt);
  const bool begin_immediate = sql != nullptr && std::strncmp(sql, "BEGIN IMMEDIATE", 15) == 0;
  int no_ckpt = -1;
  if (!begin_immediate) sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, -1, &no_ckpt);
  const bool read_only = sqlite3_db_readonly(db, "main") == 1;
  std::lock_guard lock(g_mu);
  auto& r = g_records[record_of(f)];
  if (begin_immediate) {
    r.writer = true;
  } else if (!r.checked_reader) {
    r.checked_reader = true;
    r.reader_read_only = read_only;
    r.reader_no_ckpt_on_close = no_ckpt;
  }
  return 0;
}

int on_connection(sqlite3* db, const char**, const sqlite3_api_routines*) {
  sqlite3_trace_v2(db, SQLITE_TRACE_STMT, &on_statement, nullptr);
  return SQLITE_OK;
}

// Registers the shim as the default VFS and the trace on every new connection
// (once). Connections opened earlier are not seen.
void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    REQUIRE(g_real != nullptr);
    g_methods.iVersion = 3;
    g_methods.xClose = x_close;
    g_methods.xRead = x_read;
    g_methods.xWrite = x_write;
    g_methods.xTruncate = x_truncate;
    g_methods.xSync = x_sync;
    g_methods.xFileSize = x_file_size;
    g_methods.xLock = x_lock;
    g_methods.xUnlock = x_unlock;
    g_methods.xCheckReservedLock = x_check_reserved;
    g_methods.xFileControl = x_file_control;
    g_methods.xSectorSize = x_sector_size;
    g_methods.xDeviceCharacteristics = x_device_characteristics;
    g_methods.xShmMap = x_shm_map;
    g_methods.xShmLock = x_shm_lock;
    g_methods.xShmBarrier = x_shm_barrier;
    g_methods.xShmUnmap = x_shm_unmap;
    g_methods.xFetch = x_fetch;
    g_methods.xUnfetch = x_unfetch;
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(File));
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = "cairn-wal-test-shim";
    g_vfs.xOpen = v_open;
    g_vfs.xDelete = v_delete;
    g_vfs.xAccess = v_access;
    g_vfs.xFullPathname = v_full_pathname;
    g_vfs.xDlOpen = g_real->xDlOpen;
    g_vfs.xDlError = g_real->xDlError;
    g_vfs.xDlSym = g_real->xDlSym;
    g_vfs.xDlClose = g_real->xDlClose;
    g_vfs.xRandomness = v_randomness;
    g_vfs.xSleep = v_sleep;
    g_vfs.xCurrentTime = v_current_time;
    g_vfs.xGetLastError = v_get_last_error;
    g_vfs.xCurrentTimeInt64 = v_current_time_int64;
    REQUIRE(sqlite3_vfs_register(&g_vfs, 1) == SQLITE_OK);
    REQUIRE(sqlite3_auto_extension(reinterpret_cast<void (*)()>(&on_connection)) == SQLITE_OK);
  });
}

std::vector<FileRecord> records_for(const fs::path& db) {
  const std::string name = fs::absolute(db).lexically_normal().string();
  const std::string canonical = fs::canonical(db).string();
  std::lock_guard lock(g_mu);
  std::vector<FileRecord> out;
  for (const auto& r : g_records) {
    if (r.main_db && (r.name == name || r.name == canonical)) out.push_back(r);
  }
  return out;
}

}  // namespace shim

}  // namespace

TEST_CASE(
    "wal bound: a reader holding an old snapshot lets the WAL pass its bound, with a warning; "
    "once it lets go, the background checkpoint truncates it without any further write") {
  const std::int64_t megabytes = wal_mb();
  const std::int64_t bound = bound_bytes();
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  HeldReader reader(db);  // forked before this process opens any connection
  MESSAGE("writing " << megabytes << " MiB against a bound of " << bound << " bytes");

  cairn::Options options = bound_options(bound);
  auto reg = cairn::Registry::open(db, options);
  reg.kv("wal").put("small", "before the reader");
  REQUIRE(reader.ask("begin") == "1");

  const auto write_start = Clock::now();
  constexpr int kPerTransaction = 4;
  for (int i = 0; i < megabytes; i += kPerTransaction) {
    reg.transact([&](cairn::Tx& tx) {
      auto kv = tx.kv("wal");
      for (int j = i; j < std::min<std::int64_t>(megabytes, i + kPerTransaction); ++j) {
        kv.put(big_key(j), big_value(j));
      }
    });
  }
  const auto write_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - write_start).count();

  // The reader still sees its snapshot: the WAL could not be checkpointed past it.
  CHECK(reader.ask("count") == "1");
  // Maintenance retries while the reader holds: nothing changes meanwhile.
  std::this_thread::sleep_for(std::chrono::milliseconds(3 * kIntervalMs));

  const std::int64_t held = wal_size(db);
  const cairn::Stats stats = reg.stats();
  MESSAGE("WAL while held: " << held << " bytes (" << held / kMiB << " MiB), written in "
                             << write_ms << " ms");
  CHECK(held > bound);
  CHECK(stats.wal_bytes == held);
  CHECK_FALSE(stats.warnings.empty());
  CHECK(mentions_wal(stats.warnings));
  for (const auto& w : stats.warnings) MESSAGE("warning: " << w);

  REQUIRE(reader.ask("release") == "released");
  const auto took = wait_wal_under(db, bound);
  CHECK_MESSAGE(took.has_value(),
                "WAL still " << wal_size(db) << " bytes after " << kReturnTimeout.count() << " ms");
  if (took) MESSAGE("WAL back under the bound " << took->count() << " ms after the release");
  // TRUNCATE leaves an empty WAL; give the file a moment if the poll caught a
  // size under the bound before the truncation finished.
  const auto after = wait_wal_under(db, 0);
  CHECK(after.has_value());
  CHECK(wal_size(db) == 0);

  const cairn::Stats released = reg.stats();
  CHECK(released.wal_bytes == wal_size(db));
  CHECK(released.warnings.empty());
  CHECK(reg.integrity_check() == std::vector<std::string>{"ok"});
  CHECK(reg.kv("wal").info().entries == megabytes + 1);
  int intact = 0;
  for (int i = 0; i < megabytes; ++i) {
    if (reg.kv("wal").get(big_key(i)).value == big_value(i)) ++intact;
  }
  CHECK(intact == megabytes);
  CHECK(reg.kv("wal").get("small").value == "before the reader");

  reg.close();
  CHECK(test::query_value(db, "PRAGMA integrity_check") == "ok");
}

TEST_CASE(
    "wal bound: only the writer connection ever writes the database file (checkpoints), "
    "while reader connections serve reads through passive, truncate and close checkpoints") {
  shim::install();
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  // A small bound so that the background TRUNCATE checkpoint runs too.
  cairn::Options options = bound_options(2 * kMiB);
  options.read_connections = 4;
  auto reg = cairn::Registry::open(db, options);
  const std::string value(64 * 1024, 'v');
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      while (!done.load()) {
        reg.kv("w").find("k" + std::to_string(t));
        reg.kv("w").info();
        reads.fetch_add(1);
        // Back to back reads would starve the TRUNCATE checkpoint, which
        // never waits for readers; real readers pause between reads.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  // ~8 MiB in 64 KiB puts: passive checkpoints every 1000 pages, readers
  // reading all along.
  for (int i = 0; i < 128; ++i) reg.kv("w").put("k" + std::to_string(i % 16), value);
  // One big transaction to pass the bound: the background truncates.
  reg.transact([&](cairn::Tx& tx) {
    for (int i = 0; i < 48; ++i) tx.kv("w").put("big" + std::to_string(i), value);
  });
  const auto took = wait_wal_under(db, 0);
  done = true;
  for (auto& t : readers) t.join();
  CHECK(took.has_value());
  MESSAGE(reads.load() << " reads");
  reg.close();

  const auto records = shim::records_for(db);
  int writers = 0, readers_seen = 0, writer_writes = 0;
  for (const auto& r : records) {
    if (r.writer) {
      ++writers;
      writer_writes += r.writes + r.truncates;
      continue;
    }
    CAPTURE(r.name);
    CHECK_MESSAGE(r.writes == 0, "a non-writer connection wrote the database file");
    CHECK_MESSAGE(r.truncates == 0, "a non-writer connection truncated the database file");
    if (r.checked_reader) {
      ++readers_seen;
      CHECK(r.opened_read_only);
      CHECK(r.reader_read_only);
      CHECK(r.reader_no_ckpt_on_close == 1);
    }
  }
  MESSAGE(records.size() << " handles on the file: " << writers << " writer(s), " << readers_seen
                         << " reader(s); the writer wrote the file " << writer_writes << " times");
  CHECK(writers == 1);
  CHECK(writer_writes > 0);  // the shim does see checkpoints
  CHECK(readers_seen >= 2);  // concurrent reads used several reader connections
}

// Found while reading lib/db/database.cpp for this test: the wal hook compares
// frames * page_size with the bound, stats() compares the file size, which
// also holds a 24-byte header per frame (and the 32-byte WAL header). A WAL
// whose file is just past the bound but whose frames are not never sets
// wal_over_bound, so nothing truncates it: stats() warns until some later
// write pushes the frame count past the bound too.
TEST_CASE(
    "wal bound: a WAL that stats() warns about is truncated once the reader lets go, even "
    "when it is only just past the bound"
) {
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  HeldReader reader(db);
  const std::int64_t bound = 8 * kMiB;
  auto reg = cairn::Registry::open(db, bound_options(bound));
  reg.kv("wal").put("small", "before the reader");
  REQUIRE(reader.ask("begin") == "1");
  // Small commits (a few frames each) until the file first passes the bound.
  int commits = 0;
  while (wal_size(db) <= bound && commits < 100'000) {
    reg.kv("wal").put("k" + std::to_string(commits % 64), std::string(1000, 'x'));
    ++commits;
  }
  const std::int64_t held = wal_size(db);
  MESSAGE("WAL " << held << " bytes after " << commits << " small commits");
  REQUIRE(held > bound);
  CHECK(mentions_wal(reg.stats().warnings));
  REQUIRE(reader.ask("release") == "released");
  const auto took = wait_wal_under(db, bound, kGapTimeout);
  CHECK_MESSAGE(took.has_value(), "WAL still " << wal_size(db) << " bytes, stats() still warns: "
                                               << reg.stats().warnings.size() << " warning(s)");
  CHECK(reg.stats().warnings.empty());
}

// A gap found while writing this test: only a commit on this registry's own
// writer notes that the WAL passed the bound. When another process (the CLI,
// another server) made the WAL grow while a reader held a snapshot, this
// registry warns about it in stats() but never truncates it, until it writes
// itself. Simulated with a second Registry on the same file in this process.
TEST_CASE(
    "wal bound: a WAL grown past the bound by another writer is truncated by the registry "
    "that warns about it, once the reader lets go"
) {
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  HeldReader reader(db);
  const std::int64_t bound = 4 * kMiB;
  auto reg = cairn::Registry::open(db, bound_options(bound));
  reg.kv("wal").put("small", "before the reader");
  REQUIRE(reader.ask("begin") == "1");
  {
    auto other = cairn::Registry::open(db, bound_options(bound));
    for (int i = 0; i < 8; ++i) other.kv("wal").put(big_key(i), big_value(i));
  }  // the other writer is gone; the WAL stays (this registry keeps the file open)
  const std::int64_t held = wal_size(db);
  MESSAGE("WAL " << held << " bytes after the other writer closed");
  REQUIRE(held > bound);
  CHECK(mentions_wal(reg.stats().warnings));
  REQUIRE(reader.ask("release") == "released");
  const auto took = wait_wal_under(db, bound, kGapTimeout);
  CHECK_MESSAGE(took.has_value(), "WAL still " << wal_size(db) << " bytes, stats() still warns");
  CHECK(reg.stats().warnings.empty());
}

// The same gap, seen after a restart: a registry closed while a reader held a
// snapshot leaves its WAL past the bound (its close cannot checkpoint). The
// registry opened next on the file warns about the WAL in stats() but, having
// committed nothing, never truncates it.
TEST_CASE(
    "wal bound: a registry opened on a WAL left past the bound truncates it without any "
    "write"
) {
  test::TempDir dir;
  const fs::path db = dir / "registry.db";
  HeldReader reader(db);
  const std::int64_t bound = 4 * kMiB;
  {
    auto first = cairn::Registry::open(db, bound_options(bound));
    first.kv("wal").put("small", "before the reader");
    REQUIRE(reader.ask("begin") == "1");
    for (int i = 0; i < 8; ++i) first.kv("wal").put(big_key(i), big_value(i));
  }  // closed while the reader holds: no checkpoint on close
  REQUIRE(reader.ask("release") == "released");
  const std::int64_t left = wal_size(db);
  MESSAGE("WAL left at " << left << " bytes");
  REQUIRE(left > bound);

  auto reg = cairn::Registry::open(db, bound_options(bound));
  CHECK(mentions_wal(reg.stats().warnings));
  const auto took = wait_wal_under(db, bound, kGapTimeout);
  CHECK_MESSAGE(took.has_value(), "WAL still " << wal_size(db) << " bytes, stats() still warns");
  CHECK(reg.stats().warnings.empty());
  CHECK(reg.kv("wal").info().entries == 9);
}
