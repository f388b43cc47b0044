#include "txn/store_context.h"

#include <cassert>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <utility>

#include <fmt/format.h>

namespace cairn::detail {
namespace {

constexpr const char* kBegin = "BEGIN IMMEDIATE";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";
// One name serves every depth: RELEASE and ROLLBACK TO act on the innermost.
constexpr const char* kSavepoint = "SAVEPOINT cairn";
constexpr const char* kRelease = "RELEASE cairn";
constexpr const char* kRollbackTo = "ROLLBACK TO cairn";

// A group's bounds, so that its first member's wait stays short.
constexpr std::size_t kGroupMembers = 64;
constexpr std::size_t kGroupBytes = std::size_t{4} << 20;  // of change-log images

std::size_t image_bytes(const std::vector<Change>& events) {
  std::size_t bytes = 0;
  for (const Change& e : events) {
    bytes += e.id.size() + (e.before ? e.before->size() : 0) + (e.after ? e.after->size() : 0);
  }
  return bytes;
}

Timestamp system_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// The transactions that handed the open SQLite transaction on, waiting for
// the COMMIT that makes them durable.
struct StoreContext::Group {
  std::vector<std::vector<Change>> batches;  // each member's events, in revision order
  std::size_t bytes = 0;

  void finish(std::exception_ptr failure) noexcept {
    {
      std::lock_guard lock(mu);
      error = std::move(failure);
      done = true;
    }
    cv.notify_all();
  }

  // Returns once the group is durable; throws its failure.
  void wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done; });
    if (error) std::rethrow_exception(error);
  }

 private:
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::exception_ptr error;
};

// A write waiting in the queue, on its caller's stack.
struct StoreContext::QueuedWrite {
  const std::function<void(Writer&)>* fn;
  std::exception_ptr error{};
  bool done = false;  // guarded by queue_mu_
};

db::Connection& Writer::db() const noexcept { return ctx_.db_->writer(); }
Timestamp Writer::now() const { return ctx_.now(); }
const Options& Writer::options() const noexcept { return ctx_.options_; }

Revision Writer::revision() {
  assert(ctx_.owns_transaction());
  if (!ctx_.revision_) ctx_.revision_ = allocate_revision(db());
  return *ctx_.revision_;
}

void Writer::record(Kind kind, Op op, std::string_view topic, std::string_view id,
                    std::optional<std::string> before, std::optional<std::string> after) {
  // The change log is written only inside this thread's write transaction.
  assert(ctx_.owns_transaction());
  Change event{
      .revision = revision(),
      .index = static_cast<std::uint32_t>(ctx_.pending_.size()),
      .kind = kind,
      .op = op,
      .topic = std::string(topic),
      .id = std::string(id),
      .before = std::move(before),
      .after = std::move(after),
      .at = now(),
      .actor = ctx_.options_.actor,
  };
  append_change(db(), event);
  ctx_.pending_.push_back(std::move(event));
}

StoreContext::StoreContext(std::unique_ptr<db::Database> db, Options options)
    : db_(std::move(db)), options_(std::move(options)) {}

StoreContext::~StoreContext() { close(); }

Timestamp StoreContext::now() const { return options_.clock ? options_.clock() : system_now(); }

db::Database& StoreContext::open_database() const {
  if (!db_) throw Error(errc::closed, "the registry is closed");
  return *db_;
}

int StoreContext::begin() {
  db::Database& db = open_database();
  refuse_if_read_only();
  if (owns_transaction()) {
    db.writer().prepare(kSavepoint).run();
    savepoints_.push_back(Savepoint{pending_.size(), revision_});
    return ++depth_;
  }
  writers_waiting_.fetch_add(1);
  db.writer_mutex().lock();
  writers_waiting_.fetch_sub(1);
  return begin_locked(db);
}

std::optional<int> StoreContext::try_begin() {
  db::Database& db = open_database();
  if (options().read_only) return std::nullopt;
  if (owns_transaction()) return begin();
  if (!db.writer_mutex().try_lock()) return std::nullopt;
  return begin_locked(db);
}

void StoreContext::refuse_if_read_only() const {
  if (options().read_only) {
    throw Error(errc::read_only,
                fmt::format("{}: the registry is open read-only", db_->path().string()));
  }
}

bool StoreContext::try_checkpoint() {
  db::Database& db = open_database();
  if (owns_transaction() || !db.writer_mutex().try_lock()) return false;
  std::lock_guard lock(db.writer_mutex(), std::adopt_lock);
  if (group_) return false;  // a transaction is open for the writer waiting after it
  return db.checkpoint_truncate();
}

int StoreContext::begin_locked(db::Database& db) {
  try {
    // SQLite ends a transaction by itself on some errors: then the group's
    // writes are gone, and a SAVEPOINT would begin a new transaction.
    if (group_ && !db.writer().in_transaction()) {
      abandon_group(std::make_exception_ptr(
          Error(errc::io_error, "write transaction lost: SQLite rolled back its commit group")));
    }
    if (group_) {
      db.writer().prepare(kSavepoint).run();
      member_savepoint_ = true;
      member_first_batch_ = group_->batches.size();
    } else {
      if (writer_suspect_) {
        db.reopen_writer();
        writer_suspect_ = false;
      }
      db.writer().prepare(kBegin).run();
      member_savepoint_ = false;
    }
  } catch (...) {
    settle_group();
    db.writer_mutex().unlock();
    throw;
  }
  owner_.store(std::this_thread::get_id());
  depth_ = 0;
  return 0;
}

void StoreContext::replace_then_write(const std::function<void(db::Connection&)>& replace,
                                      const std::function<void(Writer&)>& after) {
  db::Database& db = open_database();
  refuse_if_read_only();
  if (owns_transaction()) {
    throw Error(errc::invalid_argument, "restore: not allowed inside a transaction");
  }
  db.writer_mutex().lock();
  try {
    settle_group();
    replace(db.writer());
  } catch (...) {
    db.writer_mutex().unlock();
    throw;
  }
  const int depth = begin_locked(db);
  try {
    Writer writer(*this);
    after(writer);
    commit(depth);
  } catch (...) {
    rollback(depth);
    throw;
  }
}

std::vector<Change> StoreContext::record_within(const std::function<void(Writer&)>& fn) {
  // This thread must not hold the writer already (the mutex is not recursive).
  assert(!owns_transaction());
  db::Database& db = open_database();
  std::lock_guard lock(db.writer_mutex());
  assert(!group_);  // a migration step runs before any store can write
  // The writer's transaction is the caller's: this only lends it to a Writer.
  struct Lend {
    StoreContext& ctx;
    ~Lend() {
      ctx.pending_.clear();
      ctx.revision_.reset();
      ctx.depth_ = -1;
      ctx.owner_.store(std::thread::id{});
    }
  } lend{*this};
  owner_.store(std::this_thread::get_id());
  depth_ = 0;
  Writer writer(*this);
  fn(writer);
  return std::exchange(pending_, {});
}

void StoreContext::check_owner(int depth) const {
  if (!owns_transaction()) {
    throw Error(errc::invalid_argument,
                "transaction: used on a thread that did not open it, or already finished");
  }
  if (depth != depth_) {
    throw Error(errc::invalid_argument,
                fmt::format("transaction: depth {} finished while depth {} is still open", depth,
                            depth_));
  }
}

void StoreContext::commit(int depth) {
  check_owner(depth);
  db::Connection& w = db_->writer();
  if (depth > 0) {
    w.prepare(kRelease).run();
    savepoints_.pop_back();
    --depth_;
    return;
  }
  // A revision is spent even by a write that logged no change: keep it as
  // the floor, since the next one is taken from the change log.
  if (revision_ && pending_.empty()) set_current_revision(w, *revision_);
  if (member_savepoint_) w.prepare(kRelease).run();  // on failure, the caller rolls back
  if (should_hand_off()) {
    const std::shared_ptr<Group> group = hand_off(true);
    group->wait();
    return;
  }
  try {
    commit_group(&pending_);
  } catch (...) {
    finish_outermost();
    throw;
  }
  finish_outermost();
}

void StoreContext::run_queued(const std::function<void(Writer&)>& fn) {
  open_database();
  refuse_if_read_only();
  QueuedWrite write{&fn};
  {
    std::unique_lock lock(queue_mu_);
    queue_.push_back(&write);
    queue_cv_.wait(lock, [&] { return write.done || queue_.front() == &write; });
    if (!write.done) leading_ = true;
  }
  if (!write.done) lead();  // done after: lead() finishes its own write too
  if (write.error) std::rethrow_exception(write.error);
}

void StoreContext::lead() {
  std::size_t taken = 0;
  std::exception_ptr failure;
  try {
    const int depth = begin();
    for (;;) {
      QueuedWrite* next = nullptr;
      {
        std::lock_guard lock(queue_mu_);
        const bool full = taken >= kGroupMembers || (group_ && group_->bytes >= kGroupBytes);
        if (taken < queue_.size() && !full) next = queue_[taken];
      }
      if (next == nullptr || writer_suspect_ || !owns_transaction()) break;
      ++taken;
      run_one(*next);
    }
    if (!owns_transaction()) {  // a savepoint that could not be undone took it all
      throw Error(errc::io_error, "write transaction lost: a write of its group could not be undone");
    }
    commit(depth);  // or hand off, and wait for the group's COMMIT
  } catch (...) {
    failure = std::current_exception();
    if (owns_transaction()) rollback(0);
  }
  {
    std::lock_guard lock(queue_mu_);
    taken = std::max<std::size_t>(taken, 1);  // the leader's own write, when BEGIN failed
    for (std::size_t i = 0; i < taken; ++i) {
      QueuedWrite& w = *queue_.front();
      if (!w.error) w.error = failure;
      w.done = true;
      queue_.pop_front();
    }
    leading_ = false;
  }
  queue_cv_.notify_all();
}

void StoreContext::run_one(QueuedWrite& write) {
  try {
    const int depth = begin();  // a savepoint
    try {
      Writer writer(*this);
      (*write.fn)(writer);
      commit(depth);
    } catch (...) {
      note_failure();
      rollback(depth);
      throw;
    }
  } catch (...) {
    write.error = std::current_exception();
    return;
  }
  // Its own revision and events: the next write takes a new one.
  if (!group_) group_ = std::make_shared<Group>();
  group_->bytes += image_bytes(pending_);
  group_->batches.push_back(std::exchange(pending_, {}));
  revision_.reset();
}

int StoreContext::writers_waiting() const {
  std::lock_guard lock(queue_mu_);
  const std::size_t queued = queue_.size() - (leading_ ? 1 : 0);
  return writers_waiting_.load() + static_cast<int>(queued);
}

bool StoreContext::should_hand_off() const noexcept {
  // In memory there is no fsync to share, and readers lease the writer.
  if (db_->in_memory() || writer_suspect_ || writers_waiting_.load() == 0) return false;
  return !group_ || (group_->batches.size() + 1 < kGroupMembers && group_->bytes < kGroupBytes);
}

std::shared_ptr<StoreContext::Group> StoreContext::hand_off(bool committed) noexcept {
  if (!group_) group_ = std::make_shared<Group>();
  std::shared_ptr<Group> group = group_;
  if (committed) {
    group->bytes += image_bytes(pending_);
    group->batches.push_back(std::exchange(pending_, {}));
  }
  release_writer();
  return group;
}

void StoreContext::commit_group(std::vector<Change>* last) {
  db::Connection& w = db_->writer();
  const std::shared_ptr<Group> group = std::exchange(group_, nullptr);
  member_savepoint_ = false;
  try {
    w.prepare(kCommit).run();
  } catch (...) {
    note_io_failure();
    // A failed COMMIT may leave the transaction open: end it, publish nothing.
    w.try_exec(kRollback);
    if (group) group->finish(std::current_exception());
    throw;
  }
  commits_.fetch_add(1);
  std::int64_t changed = last && !last->empty() ? 1 : 0;
  if (group) {
    for (const std::vector<Change>& batch : group->batches) changed += !batch.empty();
  }
  transactions_committed_.fetch_add(changed);
  // Still holding the writer: events leave in revision order.
  try {
    if (on_commit) {
      if (group) {
        for (std::vector<Change>& batch : group->batches) {
          if (!batch.empty()) on_commit(std::move(batch));
        }
      }
      if (last && !last->empty()) on_commit(std::move(*last));
    }
  } catch (...) {
    if (group) group->finish(nullptr);  // durable all the same
    throw;
  }
  if (group) group->finish(nullptr);
}

void StoreContext::abandon_group(std::exception_ptr error) noexcept {
  db_->writer().try_exec(kRollback);
  member_savepoint_ = false;
  if (const std::shared_ptr<Group> group = std::exchange(group_, nullptr)) {
    group->finish(error ? std::move(error)
                        : std::make_exception_ptr(Error(
                              errc::io_error,
                              "write transaction lost: a later transaction of its commit group "
                              "failed and took it down")));
  }
}

void StoreContext::settle_group() {
  if (!group_) return;
  try {
    commit_group(nullptr);
  } catch (...) {
    // The group's members have the error.
  }
}

void StoreContext::rollback(int depth) noexcept {
  if (!owns_transaction() || depth != depth_) return;
  db::Connection& w = db_->writer();
  if (depth > 0) {
    // ROLLBACK TO keeps the savepoint open; RELEASE then drops it.
    const bool undone = w.try_exec(kRollbackTo) && w.try_exec(kRelease);
    const Savepoint mark = savepoints_.back();
    savepoints_.pop_back();
    pending_.resize(mark.pending_events);
    revision_ = mark.revision;
    --depth_;
    if (undone) return;
    // The savepoint could not be undone: the whole transaction must go, or
    // its outer part would commit the inner writes.
    while (depth_ > 0) {
      savepoints_.pop_back();
      --depth_;
    }
  } else if (member_savepoint_ && !writer_suspect_ && w.try_exec(kRollbackTo) &&
             w.try_exec(kRelease)) {
    // Only this member is undone (with the queued writes it ran); the
    // group's writes wait for their COMMIT.
    pending_.clear();
    group_->batches.resize(member_first_batch_);
    if (should_hand_off()) {
      hand_off(false);
      return;
    }
    settle_group();
    finish_outermost();
    return;
  }
  if (group_) {
    abandon_group(std::current_exception());
  } else {
    w.try_exec(kRollback);
  }
  finish_outermost();
}

void StoreContext::note_failure() noexcept {
  // Only the writer's holder judges it: a member woken by its group's
  // failure is not.
  if (owns_transaction()) note_io_failure();
}

void StoreContext::note_io_failure() noexcept {
  try {
    throw;
  } catch (const Error& e) {
    const errc code = e.code_value();
    if (code == errc::io_error || code == errc::disk_full || code == errc::corrupt) {
      writer_suspect_ = true;
    }
  } catch (...) {
  }
}

void StoreContext::finish_outermost() noexcept {
  if (writer_suspect_) {
    writer_suspect_ = false;
    try {
      db_->reopen_writer();
    } catch (...) {
      // The file cannot be opened now: the next transaction fails, and
      // tries again.
      writer_suspect_ = true;
    }
  }
  release_writer();
}

void StoreContext::release_writer() noexcept {
  pending_.clear();
  savepoints_.clear();
  revision_.reset();
  member_savepoint_ = false;
  depth_ = -1;
  owner_.store(std::thread::id{});
  db_->writer_mutex().unlock();
}

void StoreContext::close() noexcept {
  // Closing with a transaction open on this thread rolls it back.
  if (owns_transaction()) {
    while (depth_ > 0) rollback(depth_);
    rollback(0);
  }
  db_.reset();
}

}  // namespace cairn::detail
