#include "stores/triggers.h"

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/stores.h"
#include "stores/validate.h"

namespace cairn {
namespace detail {
namespace {

constexpr const char* kNoun = "trigger";
constexpr std::size_t kMaxProcessBytes = 1024;
constexpr std::int64_t kMaxTtlMs = 365ll * 24 * 3600 * 1000;

bool expired(const Trigger& t, Timestamp now) { return t.expires_at <= now; }

void validate(const Trigger& t) {
  const RecordName name(kNoun, t.id);
  check_key(name, "id", t.id);
  check_key(name, "origin_app_id", t.origin_app_id);
  check_text(name, "origin_connection_id", t.origin_connection_id, 128);
  check_key(name, "destination", t.destination);
  if (!t.pool.empty()) check_key(name, "pool", t.pool);
  check_text(name, "process", t.process, kMaxProcessBytes);
  check_range(name, "ttl_ms", t.ttl_ms, 0, kMaxTtlMs);
  if (!t.dispatched_to.empty()) check_key(name, "dispatched_to", t.dispatched_to);
}

}  // namespace

TriggerTable::TriggerTable(const Options& options, Clock clock, Publish publish)
    : options_(options), clock_(std::move(clock)), publish_(std::move(publish)) {}

Event TriggerTable::event(Op op, const char* topic, const Trigger* before,
                          const Trigger* after) const {
  Event e;
  e.kind = Kind::trigger;
  e.op = op;
  e.topic = topic;
  e.id = after ? after->id : before->id;
  if (before) e.before = nlohmann::json(*before);
  if (after) e.after = nlohmann::json(*after);
  e.at = clock_();
  e.actor = options_.actor;
  e.replayable = false;
  return e;
}

Trigger TriggerTable::create(Trigger t) {
  validate(t);
  const Timestamp now = clock_();
  if (t.ttl_ms == 0) t.ttl_ms = options_.trigger_default_ttl_ms;
  t.created_at = t.updated_at = now;
  t.expires_at = now + t.ttl_ms;
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    auto it = triggers_.find(t.id);
    if (it != triggers_.end() && expired(it->second, now)) {
      events.push_back(event(Op::expired, "trigger.expired", &it->second, nullptr));
      triggers_.erase(it);
    } else if (it != triggers_.end()) {
      throw Error(errc::already_exists,
                  fmt::format("{}: already exists", RecordName(kNoun, t.id).str()));
    }
    if (triggers_.size() >= options_.max_triggers) {
      throw Error(errc::constraint,
                  fmt::format("{}: {} triggers are live, the most Options::max_triggers allows",
                              RecordName(kNoun, t.id).str(), triggers_.size()));
    }
    triggers_.emplace(t.id, t);
    events.push_back(event(Op::created, "trigger.created", nullptr, &t));
    publish_(std::move(events));
  }
  return t;
}

std::optional<Trigger> TriggerTable::find(std::string_view id) const {
  const Timestamp now = clock_();
  std::lock_guard lock(mu_);
  auto it = triggers_.find(id);
  if (it == triggers_.end() || expired(it->second, now)) return std::nullopt;
  return it->second;
}

Trigger TriggerTable::change(std::string_view id, const char* topic,
                             const std::function<void(Trigger&)>& edit) {
  const Timestamp now = clock_();
  Trigger after;
  std::vector<Event> events;
  {
    std::lock_guard lock(mu_);
    auto it = triggers_.find(id);
    if (it == triggers_.end() || expired(it->second, now)) {
      throw Error(errc::not_found, fmt::format("{}: not found", RecordName(kNoun, id).str()));
    }
    after = it->second;
    edit(after);
    after.updated_at = now;
    events.push_back(event(Op::updated, topic, &it->second, &after));
    it->second = after;
    publish_(std::move(events));
  }
  return after;
}

Trigger TriggerTable::mark_dispatched(std::string_view id, std::string_view app_id) {
  if (auto problem = key_problem(app_id); !problem.empty()) {
    RecordName(kNoun, id).fail("dispatched_to", problem);
  }
  return change(id, "trigger.dispatched", [&](Trigger& t) { t.dispatched_to = app_id; });
}

Trigger TriggerTable::mark_completed(std::string_view id) {
  return change(id, "trigger.completed", [](Trigger& t) { t.completed = true; });
}

bool TriggerTable::remove(std::string_view id) {
  // A trigger leaves by completing or expiring; removing one early is the
  // caller's cleanup and publishes nothing beyond its last state.
  std::lock_guard lock(mu_);
  auto it = triggers_.find(id);
  if (it == triggers_.end()) return false;
  const bool live = !expired(it->second, clock_());
  triggers_.erase(it);
  return live;
}

std::vector<Trigger> TriggerTable::list(const TriggerQuery& q) const {
  const Timestamp now = clock_();
  std::vector<Trigger> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, t] : triggers_) {
    if (expired(t, now)) continue;
    if (q.pool && t.pool != *q.pool) continue;
    if (q.destination && t.destination != *q.destination) continue;
    if (q.origin_app_id && t.origin_app_id != *q.origin_app_id) continue;
    out.push_back(t);
  }
  return out;
}

std::size_t TriggerTable::count() const { return list({}).size(); }

bool TriggerTable::empty() const {
  std::lock_guard lock(mu_);
  return triggers_.empty();
}

std::size_t TriggerTable::purge_expired() {
  const Timestamp now = clock_();
  std::vector<Event> events;
  std::size_t n = 0;
  {
    std::lock_guard lock(mu_);
    for (auto it = triggers_.begin(); it != triggers_.end();) {
      if (expired(it->second, now)) {
        events.push_back(event(Op::expired, "trigger.expired", &it->second, nullptr));
        it = triggers_.erase(it);
      } else {
        ++it;
      }
    }
    n = events.size();
    if (n > 0) publish_(std::move(events));
  }
  return n;
}

}  // namespace detail

Trigger TriggerStore::create(Trigger trigger) { return table_->create(std::move(trigger)); }
std::optional<Trigger> TriggerStore::find(std::string_view id) const { return table_->find(id); }
Trigger TriggerStore::get(std::string_view id) const {
  auto found = table_->find(id);
  if (!found) {
    throw Error(errc::not_found, fmt::format("{}: not found", detail::RecordName("trigger", id).str()));
  }
  return std::move(*found);
}
Trigger TriggerStore::mark_dispatched(std::string_view id, std::string_view app_id) {
  return table_->mark_dispatched(id, app_id);
}
Trigger TriggerStore::mark_completed(std::string_view id) { return table_->mark_completed(id); }
bool TriggerStore::remove(std::string_view id) { return table_->remove(id); }
std::vector<Trigger> TriggerStore::list(const TriggerQuery& query) const {
  return table_->list(query);
}
std::size_t TriggerStore::count() const { return table_->count(); }
std::size_t TriggerStore::purge_expired() { return table_->purge_expired(); }

}  // namespace cairn
