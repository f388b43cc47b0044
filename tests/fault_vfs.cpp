// The fault-injecting VFS of fault_vfs.h: a sqlite3_vfs whose files wrap the
// default VFS's files. Every method delegates; read, write, sync and truncate
// first ask should_fail() whether this call is the armed one.
#include "fault_vfs.h"

#include <sqlite3.h>

#include <cstring>
#include <map>
#include <mutex>
#include <thread>

namespace faultvfs {
namespace {

struct State {
  std::mutex mu;
  bool armed = false;
  Fault fault{};
  std::thread::id thread{};
  Report report{};
  std::map<std::string, int> opens_any{};
  std::map<std::string, int> opens_rw{};
};

State& state() {
  static State s;
  return s;
}

sqlite3_vfs* g_real = nullptr;  // the VFS under the shim, set once by install()

// A file of the shim: the wrapped file lives right after it, in the same
// allocation (szOsFile covers both).
struct ShimFile {
  sqlite3_file base{};
  sqlite3_file* real = nullptr;
  std::string* name = nullptr;  // owned; null for a temp file without a name
};

constexpr std::size_t kRealOffset = (sizeof(ShimFile) + 15) & ~std::size_t{15};

ShimFile* shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return shim(f)->real; }

bool file_matches(const Fault& fault, const std::string* name) {
  if (name == nullptr) return false;
  if (fault.files.empty() && fault.prefix.empty()) return true;
  for (const auto& f : fault.files) {
    if (*name == f) return true;
  }
  return !fault.prefix.empty() && name->rfind(fault.prefix, 0) == 0;
}

// Whether this call of `op` on `f` is to fail, and how.
bool should_fail(Op op, sqlite3_file* f, How* how) {
  State& s = state();
  std::lock_guard lock(s.mu);
  if (!s.armed || s.fault.op != op) return false;
  if (s.fault.this_thread_only && std::this_thread::get_id() != s.thread) return false;
  if (!file_matches(s.fault, shim(f)->name)) return false;
  const int n = ++s.report.calls;
  if (n < s.fault.nth || (n > s.fault.nth && !s.fault.persistent)) return false;
  if (s.report.fired++ == 0) s.report.first_fired_file = *shim(f)->name;
  *how = s.fault.how;
  return true;
}

int eio_code(Op op) {
  switch (op) {
    case Op::read: return SQLITE_IOERR_READ;
    case Op::write: return SQLITE_IOERR_WRITE;
    case Op::sync: return SQLITE_IOERR_FSYNC;
    case Op::truncate: return SQLITE_IOERR_TRUNCATE;
  }
  return SQLITE_IOERR;
}

// ---- sqlite3_io_methods -------------------------------------------------------

int x_close(sqlite3_file* f) {
  ShimFile* s = shim(f);
  const int rc = s->real->pMethods != nullptr ? s->real->pMethods->xClose(s->real) : SQLITE_OK;
  delete s->name;
  s->name = nullptr;
  return rc;
}

int x_read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  How how{};
  if (should_fail(Op::read, f, &how)) {
    return how == How::eio ? SQLITE_IOERR_READ : how == How::disk_full ? SQLITE_FULL
                                                                        : SQLITE_IOERR_READ;
  }
  return real(f)->pMethods->xRead(real(f), buf, amount, offset);
}

int x_write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  How how{};
  if (should_fail(Op::write, f, &how)) {
    switch (how) {
      case How::eio: return SQLITE_IOERR_WRITE;
      case How::disk_full: return SQLITE_FULL;
      case How::short_write:
        if (amount > 1) real(f)->pMethods->xWrite(real(f), buf, amount / 2, offset);
        return SQLITE_FULL;
    }
  }
  return real(f)->pMethods->xWrite(real(f), buf, amount, offset);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  How how{};
  if (should_fail(Op::truncate, f, &how)) {
    return how == How::disk_full ? SQLITE_FULL : SQLITE_IOERR_TRUNCATE;
  }
  return real(f)->pMethods->xTruncate(real(f), size);
}

int x_sync(sqlite3_file* f, int flags) {
  How how{};
  if (should_fail(Op::sync, f, &how)) return how == How::disk_full ? SQLITE_FULL : eio_code(Op::sync);
  return real(f)->pMethods->xSync(real(f), flags);
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  if (real(f)->pMethods->iVersion < 2) return SQLITE_IOERR_SHMMAP;
  return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  if (real(f)->pMethods->iVersion < 2) return SQLITE_IOERR_SHMLOCK;
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
  if (real(f)->pMethods->iVersion >= 2) real(f)->pMethods->xShmBarrier(real(f));
}
int x_shm_unmap(sqlite3_file* f, int delete_flag) {
  if (real(f)->pMethods->iVersion < 2) return SQLITE_OK;
  return real(f)->pMethods->xShmUnmap(real(f), delete_flag);
}
// No mapping, ever: SQLite then reads the page with xRead (see the header).
int x_fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
  *out = nullptr;
  return SQLITE_OK;
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  if (real(f)->pMethods->iVersion < 3) return SQLITE_OK;
  return real(f)->pMethods->xUnfetch(real(f), offset, p);
}

const sqlite3_io_methods kMethods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

// ---- sqlite3_vfs ----------------------------------------------------------------

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  ShimFile* s = shim(f);
  s->base.pMethods = nullptr;
  s->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
  s->real->pMethods = nullptr;
  s->name = nullptr;
  const int rc = g_real->xOpen(g_real, name, s->real, flags, out_flags);
  if (rc != SQLITE_OK || s->real->pMethods == nullptr) {
    if (s->real->pMethods != nullptr) s->real->pMethods->xClose(s->real);
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  if (name != nullptr) {
    s->name = new std::string(name);
    State& st = state();
    std::lock_guard lock(st.mu);
    ++st.opens_any[*s->name];
    if ((flags & SQLITE_OPEN_READWRITE) != 0) ++st.opens_rw[*s->name];
  }
  s->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int v_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* v_dl_open(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void v_dl_error(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*v_dl_sym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_real->xDlSym(g_real, handle, symbol);
}
void v_dl_close(sqlite3_vfs*, void* handle) { g_real->xDlClose(g_real, handle); }
int v_randomness(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int v_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int v_current_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int v_get_last_error(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError(g_real, n, out);
}
int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}
int v_set_system_call(sqlite3_vfs*, const char* name, sqlite3_syscall_ptr p) {
  return g_real->xSetSystemCall(g_real, name, p);
}
sqlite3_syscall_ptr v_get_system_call(sqlite3_vfs*, const char* name) {
  return g_real->xGetSystemCall(g_real, name);
}
const char* v_next_system_call(sqlite3_vfs*, const char* name) {
  return g_real->xNextSystemCall(g_real, name);
}

sqlite3_vfs g_shim{};

}  // namespace

const char* to_string(Op op) noexcept {
  switch (op) {
    case Op::read: return "read";
    case Op::write: return "write";
    case Op::sync: return "sync";
    case Op::truncate: return "truncate";
  }
  return "?";
}

const char* to_string(How how) noexcept {
  switch (how) {
    case How::eio: return "eio";
    case How::disk_full: return "disk_full";
    case How::short_write: return "short_write";
  }
  return "?";
}

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (g_real == nullptr) throw std::runtime_error("fault vfs: no default VFS");
    g_shim.iVersion = 3;
    g_shim.szOsFile = static_cast<int>(kRealOffset) + g_real->szOsFile;
    g_shim.mxPathname = g_real->mxPathname;
    g_shim.pNext = nullptr;
    g_shim.zName = "cairn-fault-shim";
    g_shim.pAppData = nullptr;
    g_shim.xOpen = v_open;
    g_shim.xDelete = v_delete;
    g_shim.xAccess = v_access;
    g_shim.xFullPathname = v_full_pathname;
    g_shim.xDlOpen = v_dl_open;
    g_shim.xDlError = v_dl_error;
    g_shim.xDlSym = v_dl_sym;
    g_shim.xDlClose = v_dl_close;
    g_shim.xRandomness = v_randomness;
    g_shim.xSleep = v_sleep;
    g_shim.xCurrentTime = v_current_time;
    g_shim.xGetLastError = v_get_last_error;
    g_shim.xCurrentTimeInt64 = v_current_time_int64;
    g_shim.xSetSystemCall = v_set_system_call;
    g_shim.xGetSystemCall = v_get_system_call;
    g_shim.xNextSystemCall = v_next_system_call;
    if (sqlite3_vfs_register(&g_shim, 1) != SQLITE_OK) {
      throw std::runtime_error("fault vfs: sqlite3_vfs_register failed");
    }
  });
}

void arm(const Fault& fault) {
  State& s = state();
  std::lock_guard lock(s.mu);
  s.fault = fault;
  s.thread = std::this_thread::get_id();
  s.report = Report{};
  s.armed = true;
}

void disarm() {
  State& s = state();
  std::lock_guard lock(s.mu);
  s.armed = false;
}

Report report() {
  State& s = state();
  std::lock_guard lock(s.mu);
  return s.report;
}

int opens(const std::string& file, bool read_write_only) {
  State& s = state();
  std::lock_guard lock(s.mu);
  const auto& counts = read_write_only ? s.opens_rw : s.opens_any;
  auto it = counts.find(file);
  return it == counts.end() ? 0 : it->second;
}

std::vector<std::string> registry_files(const std::filesystem::path& db) {
  const std::string main = std::filesystem::weakly_canonical(db).string();
  return {main, main + "-wal"};
}

}  // namespace faultvfs
