// A fault-injecting sqlite3 VFS for tests: a shim over the default ("unix")
// VFS that wraps every sqlite3_file method and can make one chosen I/O call
// fail. install() registers it as the process's default VFS, so every
// connection opened afterwards -- the library's too (lib/db opens with the
// default VFS) -- goes through it.
//
//   faultvfs::install();
//   faultvfs::arm({.op = faultvfs::Op::sync, .nth = 2, .how = faultvfs::How::eio,
//                  .files = faultvfs::registry_files(path)});
//   ... the call under test: its 2nd fsync of the registry's files fails ...
//   faultvfs::disarm();
//   faultvfs::report().fired   // how many calls failed (0: the call ended first)
//
// Counting: after arm(), each call of the armed operation that passes the
// filters counts; the nth fails (and, when `persistent`, every later one).
// Calls that do not pass the filters neither count nor fail.
//
// Filters, chosen to keep runs deterministic:
// - files: only these files (full paths as SQLite names them: the main
//   database and its -wal, see registry_files()), or, with `prefix`, every
//   file whose name starts with it. Both empty: every named file. Temp files
//   SQLite opens without a name never count.
// - thread: by default only the thread that called arm(). The registry's
//   background threads (event dispatcher, change-log watcher) read the change
//   log at moments the test does not control; a fault there would make the
//   count of the call under test vary from run to run.
//
// Memory-mapped reads: while installed, the shim answers every xFetch with
// "no mapping", so SQLite reads every page with xRead and read faults reach
// the main database file too (should a test ask for Options::mmap_size; the
// default is no mmap). Reads of the -wal never use mmap anyway.
//
// The kinds of failure: eio returns SQLITE_IOERR_READ / _WRITE / _FSYNC /
// _TRUNCATE (for the operation) without doing it; disk_full returns
// SQLITE_FULL without doing it; short_write (writes only) writes the first
// half of the buffer for real, then returns SQLITE_FULL, which is what the
// unix VFS itself returns for a short write.
//
// Thread-safe: every entry point may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace faultvfs {

enum class Op { read, write, sync, truncate };
enum class How { eio, disk_full, short_write };

const char* to_string(Op op) noexcept;
const char* to_string(How how) noexcept;

struct Fault {
  Op op = Op::write;
  int nth = 1;  // the nth matching call after arming fails (1-based)
  How how = How::eio;
  bool persistent = false;  // every matching call after the nth fails too
  std::vector<std::string> files{};  // exact file names; empty with empty prefix: every file
  std::string prefix{};              // or: every file whose name starts with this
  bool this_thread_only = true;      // count and fail only on the arming thread
};

// Registers the shim as the default VFS (once; later calls do nothing).
void install();

// Starts counting for `fault`; replaces any armed fault.
void arm(const Fault& fault);
// Stops counting and failing. The report of the last arming stays readable.
void disarm();

struct Report {
  int calls = 0;  // matching calls since arm()
  int fired = 0;  // of those, how many were failed
  std::string first_fired_file{};
};
Report report();

// How many times SQLite opened `file` (a full path) through the shim since
// install(); with read_write_only, only opens that asked for write access.
int opens(const std::string& file, bool read_write_only = false);

// The main database file of a registry and its -wal, as SQLite names them.
std::vector<std::string> registry_files(const std::filesystem::path& db);

}  // namespace faultvfs
