// StoreContext: what every store stands on. It owns the Database and the
// state of the open write transaction, and it is the one shared helper of the
// write path (DESIGN section 2):
//
//   validate(record);                 // in the store, before any SQL
//   ctx->write([&](Writer& w) {       // the caller's transaction (as a
//     ...write the row(s)...          //   savepoint) or one of its own
//     w.record(kind, op, ...);        // change-log row, same revision
//   });                               // COMMIT, then events to on_commit
//
// Threads: a write transaction belongs to the thread that began it; other
// threads' writes wait on the writer mutex. Reads on that thread join the
// transaction (they see its writes); other threads read on reader
// connections.
//
// Group commit (file registries): when a transaction ends while other
// threads wait to write, it does not COMMIT. It hands the open SQLite
// transaction to the next writer, which runs as a savepoint inside it, and
// waits. The last writer of the group (no one waiting, or the group full)
// COMMITs once, publishes every member's events in revision order and wakes
// the members; a failed COMMIT fails them all. A member that fails rolls back
// its savepoint only. So many transactions share one fsync, and each call
// still returns only once its writes are durable. A lone writer commits at
// once. A member waits for the writers after it: a transaction's body must
// not wait for another thread's write to return.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "cairn/error.h"
#include "cairn/events.h"
#include "cairn/options.h"
#include "db/database.h"
#include "txn/change_log.h"

namespace cairn::detail {

class StoreContext;

// The stores' view of the open write transaction.
class Writer {
 public:
  db::Connection& db() const noexcept;
  Timestamp now() const;
  const Options& options() const noexcept;

  // This transaction's revision, taken on first use.
  Revision revision();

  // Appends one change-log row under this transaction's revision; the event
  // is published after COMMIT. Images are the records' JSON forms, as text.
  void record(Kind kind, Op op, std::string_view topic, std::string_view id,
              std::optional<std::string> before, std::optional<std::string> after);

 private:
  friend class StoreContext;
  explicit Writer(StoreContext& ctx) : ctx_(ctx) {}
  StoreContext& ctx_;
};

class StoreContext {
 public:
  StoreContext(std::unique_ptr<db::Database> db, Options options);
  ~StoreContext();

  const Options& options() const noexcept { return options_; }
  Timestamp now() const;

  // Runs fn(db::Connection&) for reading: on the writer when this thread has
  // the write transaction open, else on a reader connection.
  template <class Fn>
  auto read(Fn&& fn) const {
    db::Database& db = open_database();
    if (owns_transaction()) return fn(db.writer());
    auto lease = db.lease_reader();
    return fn(*lease);
  }

  // Runs fn(Writer&) atomically: as a savepoint of this thread's transaction,
  // or in a transaction of its own. Rolled back if fn throws. Outside a
  // transaction, on a file registry, fn joins the queue of writes (see
  // run_queued) and may run on another thread.
  template <class Fn>
  auto write(Fn&& fn) {
    using Result = std::invoke_result_t<Fn&, Writer&>;
    if (queues_writes()) {
      if constexpr (std::is_void_v<Result>) {
        run_queued([&](Writer& w) { fn(w); });
        return;
      } else {
        std::optional<Result> result;
        run_queued([&](Writer& w) { result.emplace(fn(w)); });
        return std::move(*result);
      }
    }
    const int depth = begin();
    try {
      Writer writer(*this);
      if constexpr (std::is_void_v<std::invoke_result_t<Fn&, Writer&>>) {
        fn(writer);
        commit(depth);
      } else {
        auto result = fn(writer);
        commit(depth);
        return result;
      }
    } catch (...) {
      note_failure();
      rollback(depth);
      throw;
    }
  }

  // Queues fn as one write transaction: the first writer in the queue (the
  // leader) takes the writer and runs the queued writes back to back, each in
  // a savepoint of one SQLite transaction with its own revision and events,
  // then COMMITs once. A write that throws rolls back alone and its caller
  // gets the exception; a failed COMMIT fails them all. Returns once fn's
  // writes are durable (and published); rethrows what failed it.
  void run_queued(const std::function<void(Writer&)>& fn);
  bool queues_writes() const noexcept {
    return db_ && !db_->in_memory() && !options_.read_only && !owns_transaction();
  }

  // Like write(), but gives up at once (returns false) when another thread
  // holds the writer: for background work that must never wait for a writer
  // that may be waiting for it.
  template <class Fn>
  bool try_write(Fn&& fn) {
    const std::optional<int> depth = try_begin();
    if (!depth) return false;
    try {
      Writer writer(*this);
      fn(writer);
      commit(*depth);
    } catch (...) {
      note_failure();
      rollback(*depth);
      throw;
    }
    return true;
  }

  // A TRUNCATE checkpoint on the writer when no one holds it (never waits):
  // true when the WAL is now empty. For the background WAL bound.
  bool try_checkpoint();

  // Holds the writer outside any transaction while replace(writer) rewrites
  // the database (a restore), then runs after(Writer&) in a write transaction
  // that no other writer can come before. Not allowed inside a transaction.
  void replace_then_write(const std::function<void(db::Connection&)>& replace,
                          const std::function<void(Writer&)>& after);

  // Runs fn(Writer&) on the writer inside a transaction that its caller
  // already opened there (a migration step): nothing is begun or committed
  // here, and no other thread may write meanwhile. Returns the events that fn
  // recorded, for the caller to hand to on_commit once its transaction has
  // committed.
  std::vector<Change> record_within(const std::function<void(Writer&)>& fn);

  // The transaction protocol behind Tx. begin() returns the depth: 0 for
  // BEGIN IMMEDIATE, n > 0 for the n-th nested savepoint. commit/rollback
  // take the depth begin() returned, innermost first.
  int begin();
  std::optional<int> try_begin();
  // Throws errc::read_only, naming the file, when opened with read_only.
  void refuse_if_read_only() const;
  void commit(int depth);
  void rollback(int depth) noexcept;
  bool owns_transaction() const noexcept { return owner_.load() == std::this_thread::get_id(); }

  // Called with each committed transaction's events, in commit order, while
  // the writer lock is still held (so the order is the revision order).
  std::function<void(std::vector<Change>&&)> on_commit;

  // Write transactions committed, and SQLite COMMITs that made them durable
  // (fewer when groups formed). Any thread.
  std::int64_t transactions_committed() const noexcept { return transactions_committed_.load(); }
  std::int64_t commits() const noexcept { return commits_.load(); }
  // Threads waiting for the writer, or in the queue of writes behind a leader.
  int writers_waiting() const;

  // Called when a record with a TTL is written, so that the registry starts
  // its background purge. May be empty.
  std::function<void()> on_expiring_write;

  // The database, or Error(closed) after close().
  db::Database& open_database() const;
  void close() noexcept;

 private:
  friend class Writer;

  struct Group;
  struct QueuedWrite;

  struct Savepoint {
    std::size_t pending_events;
    std::optional<Revision> revision;
  };

  int begin_locked(db::Database& db);
  // Called in a catch block: an I/O error (a failed write or fsync) makes the
  // writer connection suspect, and it is reopened when the transaction ends.
  void note_failure() noexcept;
  void note_io_failure() noexcept;
  void check_owner(int depth) const;
  void finish_outermost() noexcept;
  // Forgets this thread's transaction state and unlocks the writer.
  void release_writer() noexcept;

  // ---- Group commit (holding the writer) ----
  // Whether an ending transaction should leave the SQLite transaction open
  // for the writer waiting after it.
  bool should_hand_off() const noexcept;
  // Ends this thread's part: the transaction stays open for the next writer.
  // `committed`: this thread's transaction is part of the group (not rolled back).
  std::shared_ptr<Group> hand_off(bool committed) noexcept;
  // COMMITs the open transaction: the group's members and this thread's own
  // transaction (`last`, its events; null when it has none), published in
  // revision order. On failure every member
  // gets the error, and it is rethrown.
  void commit_group(std::vector<Change>* last);
  // The open transaction is lost (a savepoint that could not be undone, an
  // I/O error): rolls it back and fails every member with `error`.
  void abandon_group(std::exception_ptr error) noexcept;
  // Before work that needs no transaction open on the writer.
  void settle_group();

  // ---- The queue of writes (run_queued) ----
  // The leader's part: runs the queued writes from the front, at most a
  // group's worth, and finishes them.
  void lead();
  // One queued write in a savepoint of the leader's transaction; what it
  // throws is kept for its caller.
  void run_one(QueuedWrite& write);

  std::unique_ptr<db::Database> db_;
  Options options_;

  // The open write transaction; touched only by the owner thread.
  std::atomic<std::thread::id> owner_{};
  int depth_ = -1;
  std::optional<Revision> revision_;
  std::vector<Change> pending_;
  std::vector<Savepoint> savepoints_;
  bool writer_suspect_ = false;

  // Guarded by the writer mutex: the members that handed off the open
  // transaction (null: none did), and whether this thread's transaction is a
  // savepoint inside theirs.
  std::shared_ptr<Group> group_;
  bool member_savepoint_ = false;
  std::size_t member_first_batch_ = 0;  // the group's batches before this member's
  std::atomic<int> writers_waiting_{0};  // in begin(), on the writer mutex

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<QueuedWrite*> queue_;  // the front one leads; each lives on its caller's stack
  bool leading_ = false;            // the front one is running the queue
  std::atomic<std::int64_t> transactions_committed_{0};
  std::atomic<std::int64_t> commits_{0};
};

}  // namespace cairn::detail
