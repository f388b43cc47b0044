// EventBus: delivers committed change events to subscribers.
//
// The change log is the source of truth; memory is a shortcut. Local commits
// hand their events to publish() (under the writer lock, so in revision
// order). The dispatcher thread fans each revision out to the subscribers'
// queues in strict revision order; a revision it does not hold in memory
// (another process's write, seen through PRAGMA data_version) it reads from
// the change log. Each subscriber has its own delivery thread and bounded
// queue, so a slow handler delays only itself, and an overflowing queue is
// replaced by one resync_required event.
//
// Exactly once, with replay: a subscription registers at revision S, the
// larger of what the dispatcher has fanned out and the committed revision.
// Revisions <= S are replayed from the change log by its delivery thread;
// revisions > S come through its queue. Nothing is in both, nothing in
// neither.
//
// Lock order: the writer mutex, then mu_; progress_mu_, then mu_. No thread
// reads the database while holding mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cairn/events.h"
#include "cairn/stats.h"
#include "txn/change_log.h"
#include "txn/store_context.h"

namespace cairn::detail {

struct Subscriber {
  Subscriber(const Filter& filter, Handler handler, const SubscribeOptions& options)
      : filter(filter),
        handler(std::move(handler)),
        priority(options.priority),
        name(options.name),
        capacity(options.queue_capacity) {}

  bool matches(const Event& e) const;
  // Queues the revision's matching events (a tick when none match).
  void push(Revision revision, const std::shared_ptr<const std::vector<Event>>& events);
  // Queues events that are not in the change log (live only; see Event::replayable).
  void push_live_only(const std::shared_ptr<const std::vector<Event>>& events);

  const Filter filter;
  const Handler handler;
  const int priority;
  const std::string name;
  const std::size_t capacity;

  // Fixed at registration, before the delivery thread starts.
  std::optional<Revision> replay_from;  // replay [replay_from, start - 1]
  bool resync_first = false;            // a named position that retention removed
  Revision start = 0;                   // first revision taken from the queue

  struct Batch {
    Revision revision = 0;
    std::shared_ptr<const std::vector<Event>> events;  // null: nothing matched (a tick)
    bool live_only = false;  // not a revision of the log: delivered does not move
  };
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Batch> queue;
  std::size_t queued_events = 0;
  bool stopping = false;
  std::thread thread;

  std::atomic<Revision> delivered{0};
  std::atomic<std::int64_t> events_delivered{0};
  std::atomic<std::int64_t> failures{0};
  std::atomic<std::int64_t> resyncs{0};

  // Delivery thread only.
  Revision acked_stored = 0;
  std::chrono::steady_clock::time_point acked_at{};
};

class EventBus : public std::enable_shared_from_this<EventBus> {
 public:
  explicit EventBus(StoreContext& ctx);
  ~EventBus();

  // A committed transaction's events (StoreContext::on_commit).
  void publish(std::vector<Change>&& changes);
  // Events of ephemeral records (triggers): straight to the live
  // subscribers' queues, never to the change log.
  void publish_live_only(std::vector<Event>&& events);

  Subscription subscribe(const Filter& filter, Handler handler, const SubscribeOptions& options);
  void unsubscribe(const std::shared_ptr<Subscriber>& sub) noexcept;
  bool wait_for(Revision revision, std::chrono::milliseconds timeout) const;
  std::size_t compact();
  void fill_stats(Stats& stats) const;

  // Stops every thread, storing named positions. Idempotent.
  void stop() noexcept;

 private:
  void dispatch_loop();
  void fan_out_through(Revision target, std::unique_lock<std::mutex>& lock);
  void fan_out(Revision revision, const std::shared_ptr<const std::vector<Event>>& events);
  void deliver_loop(const std::shared_ptr<Subscriber>& sub);
  void replay(Subscriber& sub);
  void handle(Subscriber& sub, Revision revision, std::span<const Event> events);
  enum class Position { periodic, final_try, final_wait };
  void store_position(Subscriber& sub, Position mode);
  void notify_progress();
  void log(const std::string& message) const;
  RetentionPolicy retention() const;

  StoreContext& ctx_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<Revision, std::vector<Change>> incoming_;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;  // highest priority first
  std::vector<std::shared_ptr<Subscriber>> retired_;      // stopped from their own handler
  Revision fanned_ = 0;
  bool stopping_ = false;
  std::thread dispatcher_;

  mutable std::mutex progress_mu_;
  mutable std::condition_variable progress_cv_;

  std::atomic<std::int64_t> events_delivered_{0};
  std::atomic<std::int64_t> handler_failures_{0};
};

}  // namespace cairn::detail
