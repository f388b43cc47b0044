#include "events/event_bus.h"

#include <algorithm>
#include <cassert>
#include <cstdio>

#include <fmt/format.h>

namespace cairn::detail {
namespace {

constexpr Revision kReadChunk = 256;  // revisions read from the change log at once
constexpr auto kPositionInterval = std::chrono::milliseconds(100);

Event resync_event(Revision revision, Timestamp at) {
  return Event{
      .revision = revision,
      .index = 0,
      .kind = Kind::registry,
      .op = Op::resync_required,
      .topic = "registry.resync_required",
      .id = "",
      .before = std::nullopt,
      .after = std::nullopt,
      .at = at,
      .actor = "cairn",
  };
}

// Splits events (ordered by revision) into runs of one revision each.
template <class Fn>
void for_each_revision(const std::vector<Event>& events, Fn&& fn) {
  std::size_t begin = 0;
  while (begin < events.size()) {
    std::size_t end = begin;
    while (end < events.size() && events[end].revision == events[begin].revision) ++end;
    fn(events[begin].revision, std::span<const Event>(events.data() + begin, end - begin));
    begin = end;
  }
}

std::string describe(const Subscriber& sub) {
  return sub.name.empty() ? std::string("an anonymous subscriber")
                          : fmt::format("subscriber \"{}\"", sub.name);
}

}  // namespace

// ---- Subscriber -------------------------------------------------------------

bool Subscriber::matches(const Event& e) const {
  if (e.op == Op::resync_required) return true;
  if (!filter.kinds.empty() &&
      std::find(filter.kinds.begin(), filter.kinds.end(), e.kind) == filter.kinds.end()) {
    return false;
  }
  if (!filter.topics.empty() &&
      std::find(filter.topics.begin(), filter.topics.end(), e.topic) == filter.topics.end()) {
    return false;
  }
  return e.id.starts_with(filter.id_prefix);
}

void Subscriber::push(Revision revision, const std::shared_ptr<const std::vector<Event>>& events) {
  if (revision < start) return;
  std::shared_ptr<const std::vector<Event>> mine;
  if (filter.kinds.empty() && filter.topics.empty() && filter.id_prefix.empty()) {
    mine = events;
  } else {
    std::vector<Event> picked;
    for (const auto& e : *events) {
      if (matches(e)) picked.push_back(e);
    }
    if (!picked.empty()) mine = std::make_shared<const std::vector<Event>>(std::move(picked));
  }
  {
    std::lock_guard lock(mu);
    if (!mine) {
      // Nothing for this subscriber: one tick records the progress.
      if (!queue.empty() && !queue.back().events) {
        queue.back().revision = revision;
      } else {
        queue.push_back(Batch{revision, nullptr});
      }
    } else if (queued_events + mine->size() > capacity) {
      queue.clear();
      const Timestamp at = mine->front().at;
      queue.push_back(
          Batch{revision, std::make_shared<const std::vector<Event>>(1, resync_event(revision, at))});
      queued_events = 1;
      resyncs.fetch_add(1);
    } else {
      queue.push_back(Batch{revision, mine});
      queued_events += mine->size();
    }
  }
  cv.notify_one();
}

void Subscriber::push_live_only(const std::shared_ptr<const std::vector<Event>>& events) {
  std::vector<Event> picked;
  for (const auto& e : *events) {
    if (matches(e)) picked.push_back(e);
  }
  if (picked.empty()) return;
  {
    std::lock_guard lock(mu);
    if (queued_events + picked.size() > capacity) {
      const Revision at_revision = queue.empty() ? delivered.load() : queue.back().revision;
      queue.clear();
      queue.push_back(Batch{at_revision, std::make_shared<const std::vector<Event>>(
                                             1, resync_event(at_revision, picked.front().at))});
      queued_events = 1;
      resyncs.fetch_add(1);
    } else {
      queued_events += picked.size();
      queue.push_back(
          Batch{0, std::make_shared<const std::vector<Event>>(std::move(picked)), true});
    }
  }
  cv.notify_one();
}

// ---- EventBus: publishing and the dispatcher ---------------------------------

EventBus::EventBus(StoreContext& ctx) : ctx_(ctx) {}

EventBus::~EventBus() { stop(); }

void EventBus::publish(std::vector<Change>&& events) {
  if (events.empty()) return;
  const Revision revision = events.front().revision;
  assert(std::all_of(events.begin(), events.end(),
                     [&](const Change& c) { return c.revision == revision; }));
  {
    std::lock_guard lock(mu_);
    // Under the writer lock: transactions arrive in revision order.
    assert(incoming_.empty() || incoming_.rbegin()->first < revision);
    if (subscribers_.empty()) {
      // No one to deliver to: only the position moves.
      fanned_ = std::max(fanned_, revision);
      incoming_.clear();
      return;
    }
    incoming_.emplace(revision, std::move(events));
  }
  cv_.notify_one();
}

void EventBus::publish_live_only(std::vector<Event>&& events) {
  if (events.empty()) return;
  auto shared = std::make_shared<const std::vector<Event>>(std::move(events));
  std::lock_guard lock(mu_);
  for (const auto& sub : subscribers_) sub->push_live_only(shared);
}

void EventBus::dispatch_loop() {
  // Writes of other processes: PRAGMA data_version on a connection of our own
  // changes whenever another connection commits.
  std::unique_ptr<db::Connection> watch;
  std::int64_t data_version = 0;
  const db::Database& database = ctx_.open_database();
  try {
    if (!database.in_memory()) {
      watch = std::make_unique<db::Connection>(database.path(),
                                               db::Connection::Mode::read_only,
                                               ctx_.options().busy_timeout_ms);
      data_version = watch->query_int("PRAGMA data_version");
    }
  } catch (const Error& e) {
    log(fmt::format("cairn: cannot watch for other processes' writes: {}", e.what()));
  }
  // A commit of another process between the first subscribe() and the first
  // data_version above would not change data_version again: look once now.
  Revision catch_up = 0;
  try {
    if (watch) catch_up = current_revision(*watch);
  } catch (const Error& e) {
    log(fmt::format("cairn: event dispatcher: {}", e.what()));
  }
  const auto watch_interval = std::chrono::milliseconds(std::max(1, ctx_.options().watch_interval_ms));
  const auto retention_interval =
      std::chrono::milliseconds(std::max(1, ctx_.options().retention_interval_ms));
  auto next_retention = std::chrono::steady_clock::now() + retention_interval;
  // Local commits wake the loop on every commit; other processes' writes are
  // looked for once per watch interval, not on every wake.
  auto next_poll = std::chrono::steady_clock::now();

  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, watch_interval, [&] { return stopping_ || !incoming_.empty(); });
    if (stopping_) break;
    Revision target = std::max(catch_up, incoming_.empty() ? 0 : incoming_.rbegin()->first);
    catch_up = 0;
    lock.unlock();
    try {
      if (watch && std::chrono::steady_clock::now() >= next_poll) {
        next_poll = std::chrono::steady_clock::now() + watch_interval;
        const auto version = watch->query_int("PRAGMA data_version");
        if (version != data_version) {
          data_version = version;
          target = std::max(target, current_revision(*watch));
        }
      }
      if (!ctx_.options().read_only && std::chrono::steady_clock::now() >= next_retention) {
        next_retention = std::chrono::steady_clock::now() + retention_interval;
        ctx_.try_write([&](Writer& w) { compact_change_log(w.db(), retention(), w.now()); });
      }
    } catch (const Error& e) {
      log(fmt::format("cairn: event dispatcher: {}", e.what()));
    }
    lock.lock();
    try {
      fan_out_through(target, lock);
    } catch (const Error& e) {
      log(fmt::format("cairn: event dispatcher: {}", e.what()));
    }
  }
}

void EventBus::fan_out_through(Revision target, std::unique_lock<std::mutex>& lock) {
  assert(lock.owns_lock() && lock.mutex() == &mu_);
  while (fanned_ < target && !stopping_) {
    const Revision next = fanned_ + 1;
    if (auto it = incoming_.find(next); it != incoming_.end()) {
      // Parse the images outside the lock: publish() (a writer) never waits
      // for JSON parsing.
      std::vector<Change> changes = std::move(it->second);
      incoming_.erase(it);
      lock.unlock();
      std::vector<Event> parsed;
      parsed.reserve(changes.size());
      for (const auto& change : changes) parsed.push_back(to_event(change));
      lock.lock();
      fan_out(next, std::make_shared<const std::vector<Event>>(std::move(parsed)));
      fanned_ = std::max(fanned_, next);
      continue;
    }
    // Not committed here: read it (and what follows) from the change log.
    const Revision to = std::min(target, next + kReadChunk - 1);
    lock.unlock();
    std::vector<Event> rows;
    try {
      rows = ctx_.read([&](db::Connection& c) { return read_revisions(c, next, to); });
    } catch (...) {
      lock.lock();
      throw;
    }
    lock.lock();
    if (rows.empty()) {
      // Committed, yet gone: retention removed them before we got here.
      for (const auto& sub : subscribers_) {
        sub->push(to, std::make_shared<const std::vector<Event>>(1, resync_event(to, ctx_.now())));
      }
      fanned_ = std::max(fanned_, to);
      continue;
    }
    for_each_revision(rows, [&](Revision revision, std::span<const Event> events) {
      if (revision <= fanned_) return;
      if (revision > fanned_ + 1) {
        // Revisions fanned_+1 .. revision-1 were removed by retention (here
        // or in another process) before we read them: say so.
        const Revision missed = revision - 1;
        for (const auto& sub : subscribers_) {
          sub->push(missed, std::make_shared<const std::vector<Event>>(
                                1, resync_event(missed, events.front().at)));
        }
      }
      fan_out(revision, std::make_shared<const std::vector<Event>>(events.begin(), events.end()));
      fanned_ = revision;
    });
    fanned_ = std::max(fanned_, to);
  }
  incoming_.erase(incoming_.begin(), incoming_.upper_bound(fanned_));
}

void EventBus::fan_out(Revision revision, const std::shared_ptr<const std::vector<Event>>& events) {
  for (const auto& sub : subscribers_) sub->push(revision, events);
}

// ---- Subscribing -------------------------------------------------------------

Subscription EventBus::subscribe(const Filter& filter, Handler handler,
                                 const SubscribeOptions& options) {
  if (!handler) throw Error(errc::invalid_argument, "subscribe: handler is empty");
  if (options.queue_capacity == 0) {
    throw Error(errc::invalid_argument, "subscribe: queue_capacity must be at least 1");
  }
  auto sub = std::make_shared<Subscriber>(filter, std::move(handler), options);

  // Read before taking mu_ (lock order: the writer mutex, then mu_).
  struct Facts {
    Revision current, oldest;
    std::optional<Revision> acked;
  };
  const Facts facts = ctx_.read([&](db::Connection& c) {
    return Facts{current_revision(c), oldest_revision(c),
                 options.name.empty() ? std::nullopt : acked_revision(c, options.name)};
  });
  std::optional<Revision> from = options.from;
  if (from) from = std::max<Revision>(*from, 1);
  if (!from && facts.acked) from = *facts.acked + 1;
  const Revision oldest_kept = facts.oldest == 0 ? facts.current + 1 : facts.oldest;
  if (from && *from < oldest_kept && *from <= facts.current) {
    if (options.from) {
      throw Error(errc::compacted,
                  fmt::format("revision {} is no longer in the change log; the oldest retained "
                              "revision is {}",
                              *from, oldest_kept));
    }
    sub->resync_first = true;  // a named subscription that lagged past retention
    from.reset();
  }

  std::lock_guard lock(mu_);
  if (stopping_) throw Error(errc::closed, "the registry is closed");
  if (!options.name.empty()) {
    for (const auto& other : subscribers_) {
      if (other->name == options.name) {
        throw Error(errc::already_exists,
                    fmt::format("subscription \"{}\" is already live", options.name));
      }
    }
  }
  const Revision registered_at = std::max(fanned_, facts.current);
  // With no one subscribed, nothing before this point is owed to anybody
  // (replays read the change log on the subscriber's own thread).
  if (subscribers_.empty()) fanned_ = registered_at;
  sub->start = std::max(registered_at + 1, from.value_or(0));
  if (from && *from <= registered_at) sub->replay_from = from;
  sub->delivered = sub->replay_from ? *from - 1 : sub->start - 1;
  sub->acked_stored = facts.acked.value_or(0);
  auto at = std::find_if(subscribers_.begin(), subscribers_.end(),
                         [&](const auto& other) { return other->priority < sub->priority; });
  subscribers_.insert(at, sub);
  if (!dispatcher_.joinable()) dispatcher_ = std::thread([this] { dispatch_loop(); });
  sub->thread = std::thread([this, sub] { deliver_loop(sub); });
  return Subscription(weak_from_this(), sub);
}

void EventBus::unsubscribe(const std::shared_ptr<Subscriber>& sub) noexcept {
  {
    std::lock_guard lock(mu_);
    auto it = std::find(subscribers_.begin(), subscribers_.end(), sub);
    if (it == subscribers_.end()) return;
    subscribers_.erase(it);
    {
      std::lock_guard sub_lock(sub->mu);
      sub->stopping = true;
    }
    sub->cv.notify_all();
    if (sub->thread.get_id() == std::this_thread::get_id()) {
      // Dropped inside its own handler: the thread ends when the handler
      // returns, and stop() joins it.
      retired_.push_back(sub);
      return;
    }
  }
  if (sub->thread.joinable()) sub->thread.join();
  store_position(*sub, Position::final_wait);
  notify_progress();
}

void EventBus::stop() noexcept {
  std::vector<std::shared_ptr<Subscriber>> subs;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    subs.swap(subscribers_);
    subs.insert(subs.end(), retired_.begin(), retired_.end());
    retired_.clear();
  }
  cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (const auto& sub : subs) {
    {
      std::lock_guard lock(sub->mu);
      sub->stopping = true;
    }
    sub->cv.notify_all();
    if (sub->thread.joinable() && sub->thread.get_id() != std::this_thread::get_id()) {
      sub->thread.join();
      store_position(*sub, Position::final_wait);
    }
  }
  notify_progress();
}

// ---- Delivery ----------------------------------------------------------------

void EventBus::deliver_loop(const std::shared_ptr<Subscriber>& sub) {
  if (sub->resync_first) {
    const Event resync = resync_event(sub->start - 1, ctx_.now());
    sub->resyncs.fetch_add(1);
    handle(*sub, resync.revision, std::span<const Event>(&resync, 1));
  }
  if (sub->replay_from) replay(*sub);
  for (;;) {
    Subscriber::Batch batch;
    {
      std::unique_lock lock(sub->mu);
      sub->cv.wait(lock, [&] { return sub->stopping || !sub->queue.empty(); });
      if (sub->stopping) break;
      batch = std::move(sub->queue.front());
      sub->queue.pop_front();
      if (batch.events) sub->queued_events -= batch.events->size();
    }
    if (batch.events) handle(*sub, batch.revision, *batch.events);
    if (batch.live_only) continue;
    sub->delivered = batch.revision;
    notify_progress();
    store_position(*sub, Position::periodic);
  }
  store_position(*sub, Position::final_try);
}

void EventBus::replay(Subscriber& sub) {
  Revision next = *sub.replay_from;
  const Revision last = sub.start - 1;
  while (next <= last) {
    {
      std::lock_guard lock(sub.mu);
      if (sub.stopping) return;
    }
    const Revision to = std::min(last, next + kReadChunk - 1);
    const auto rows = ctx_.read([&](db::Connection& c) { return read_revisions(c, next, to); });
    bool gap = false;
    for_each_revision(rows, [&](Revision revision, std::span<const Event> events) {
      if (gap) return;
      if (revision != next) {
        gap = true;
        return;
      }
      std::vector<Event> picked;
      for (const auto& e : events) {
        if (sub.matches(e)) picked.push_back(e);
      }
      if (!picked.empty()) handle(sub, revision, picked);
      sub.delivered = revision;
      ++next;
    });
    if (gap || rows.empty()) {
      // Retention removed revisions while we replayed: the subscriber must
      // re-read the state, then goes on live.
      const Event resync = resync_event(last, ctx_.now());
      sub.resyncs.fetch_add(1);
      handle(sub, last, std::span<const Event>(&resync, 1));
      break;
    }
    notify_progress();
  }
  sub.delivered = last;
  notify_progress();
}

void EventBus::handle(Subscriber& sub, Revision revision, std::span<const Event> events) {
  try {
    sub.handler(events);
    sub.events_delivered.fetch_add(static_cast<std::int64_t>(events.size()));
    events_delivered_.fetch_add(static_cast<std::int64_t>(events.size()));
  } catch (const std::exception& e) {
    sub.failures.fetch_add(1);
    handler_failures_.fetch_add(1);
    log(fmt::format("cairn: {} threw at revision {}: {}", describe(sub), revision, e.what()));
  } catch (...) {
    sub.failures.fetch_add(1);
    handler_failures_.fetch_add(1);
    log(fmt::format("cairn: {} threw at revision {}", describe(sub), revision));
  }
}

// A named subscription's position is stored every kPositionInterval and when
// it ends. The delivery thread never waits for the writer (the writer may be
// waiting for it): a busy writer just means "next time". The final store is
// made by the thread that ended the subscription, after joining the delivery
// thread; it waits for the writer, or joins the transaction it holds.
void EventBus::store_position(Subscriber& sub, Position mode) {
  if (sub.name.empty()) return;
  const Revision position = sub.delivered.load();
  if (position <= sub.acked_stored || ctx_.options().read_only) return;
  const auto now = std::chrono::steady_clock::now();
  if (mode == Position::periodic && now - sub.acked_at < kPositionInterval) return;
  auto store = [&](Writer& w) { store_acked_revision(w.db(), sub.name, position, w.now()); };
  try {
    if (mode == Position::final_wait) {
      ctx_.write(store);
    } else if (!ctx_.try_write(store)) {
      return;
    }
    sub.acked_stored = position;
    sub.acked_at = now;
  } catch (const Error& e) {
    log(fmt::format("cairn: cannot store the position of {} (revision {}): {}", describe(sub),
                    position, e.what()));
  }
}

void EventBus::notify_progress() {
  { std::lock_guard lock(progress_mu_); }
  progress_cv_.notify_all();
}

bool EventBus::wait_for(Revision revision, std::chrono::milliseconds timeout) const {
  auto caught_up = [&] {
    std::lock_guard lock(mu_);
    if (subscribers_.empty()) return true;
    if (fanned_ < revision) return false;
    return std::all_of(subscribers_.begin(), subscribers_.end(),
                       [&](const auto& sub) { return sub->delivered.load() >= revision; });
  };
  std::unique_lock lock(progress_mu_);
  // Revisions of other processes arrive by polling, so wake up now and then
  // even without a notification.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!caught_up()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    progress_cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
  return true;
}

RetentionPolicy EventBus::retention() const {
  const Options& o = ctx_.options();
  return RetentionPolicy{o.change_log_max_revisions, o.change_log_max_age_ms,
                         o.subscription_max_lag};
}

std::size_t EventBus::compact() {
  return ctx_.write(
      [&](Writer& w) { return compact_change_log(w.db(), retention(), w.now()); });
}

void EventBus::fill_stats(Stats& stats) const {
  std::lock_guard lock(mu_);
  for (const auto& sub : subscribers_) {
    const Revision delivered = sub->delivered.load();
    stats.subscribers.push_back(SubscriberStats{
        .name = sub->name,
        .delivered = delivered,
        .lag = std::max<Revision>(0, stats.last_revision - delivered),
        .events_delivered = sub->events_delivered.load(),
        .handler_failures = sub->failures.load(),
        .resyncs = sub->resyncs.load(),
    });
  }
  stats.events_delivered = events_delivered_.load();
  stats.handler_failures = handler_failures_.load();
}

void EventBus::log(const std::string& message) const {
  if (ctx_.options().log) {
    ctx_.options().log(message);
  } else {
    std::fprintf(stderr, "%s\n", message.c_str());
  }
}

}  // namespace cairn::detail

// ---- Subscription -------------------------------------------------------------

namespace cairn {

Subscription::Subscription(std::weak_ptr<detail::EventBus> bus,
                           std::shared_ptr<detail::Subscriber> sub)
    : bus_(std::move(bus)), sub_(std::move(sub)) {}

Subscription::Subscription(Subscription&& other) noexcept = default;

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    bus_ = std::move(other.bus_);
    sub_ = std::move(other.sub_);
  }
  return *this;
}

Subscription::~Subscription() { reset(); }

void Subscription::reset() noexcept {
  if (!sub_) return;
  if (auto bus = bus_.lock()) bus->unsubscribe(sub_);
  sub_.reset();
  bus_.reset();
}

Revision Subscription::delivered() const noexcept { return sub_ ? sub_->delivered.load() : 0; }

}  // namespace cairn
