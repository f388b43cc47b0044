// Change events: one per changed record, recorded in the durable change log
// in the same transaction as the change, and numbered by (revision, index).
// Subscribers receive them after COMMIT, a whole revision at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/records.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

// What kind of record an event is about. `registry` is for events about the
// registry itself (backup, restore, migration, resync).
enum class Kind : std::uint8_t {
  app,
  pool,
  memory_block,
  config,
  torrent,
  torrent_session,
  kv,
  trigger,
  registry,
};

enum class Op : std::uint8_t {
  created,
  updated,
  removed,
  expired,
  restored,
  migrated,
  backed_up,
  resync_required,  // the subscriber missed events; re-read the state
};

const char* to_string(Kind k) noexcept;
const char* to_string(Op op) noexcept;
// Throw Error(errc::invalid_argument) for an unknown name. kind_from_string
// also takes the CLI's names: "block" and "memory-block" (memory_block),
// "torrent-session" (torrent_session).
Kind kind_from_string(std::string_view s);
Op op_from_string(std::string_view s);

// Every topic the registry publishes ("app.registered", ...).
std::span<const std::string_view> known_topics() noexcept;

struct Event {
  Revision revision = 0;
  std::uint32_t index = 0;  // position inside the revision, from 0
  Kind kind = Kind::registry;
  Op op = Op::created;
  std::string topic{};        // "app.registered", "pool.created", "config.changed", ...
  std::string id{};           // the record's key
  std::optional<nlohmann::json> before{}, after{};  // record images; absent on create / remove
  Timestamp at = 0;
  std::string actor{};
  // False for events that are not in the change log (trigger records): they
  // reach live subscribers only, carry revision 0 and are never replayed.
  bool replayable = true;
};

void to_json(nlohmann::json& j, const Event& e);

// Which events a subscriber receives. Empty fields match everything; an event
// must match every non-empty field. resync_required events always match.
struct Filter {
  std::vector<Kind> kinds{};
  std::vector<std::string> topics{};  // exact names: "app.registered"
  std::string id_prefix{};
};

struct SubscribeOptions {
  // Replay the change log from this revision (inclusive), then go on live
  // with no gap and no duplicate. A revision that retention removed fails
  // with errc::compacted. Default: live only (a named subscription resumes
  // after its acknowledged revision).
  std::optional<Revision> from{};
  // Higher priority subscribers are handed each revision first. Default: 0.
  int priority = 0;
  // A durable subscription: its acknowledged revision is stored in the
  // registry (every 100 ms and when it ends), and a later subscription with
  // the same name resumes right after it. Default: anonymous.
  std::string name{};
  // Events waiting for this subscriber. When more would wait, the queue is
  // dropped and replaced by one resync_required event carrying the current
  // revision. Default: 10,000.
  std::size_t queue_capacity = 10'000;
};

// Called with the events of one revision that match the filter, in order.
// Runs on the subscription's own delivery thread: a slow handler delays no
// writer and no other subscriber. An exception is counted and logged, and
// delivery goes on with the next revision.
using Handler = std::function<void(std::span<const Event> events)>;

CAIRN_DETAIL_BEGIN
namespace detail {
class EventBus;
struct Subscriber;
}  // namespace detail
CAIRN_DETAIL_END

// A live subscription, as an RAII token: destroying it (or reset()) stops
// delivery and, for a named one, stores its position. Movable, not copyable.
// Outliving its Registry is allowed: it is then inert.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  ~Subscription();

  void reset() noexcept;
  bool active() const noexcept { return sub_ != nullptr; }
  // The last revision whose events this subscriber has handled.
  Revision delivered() const noexcept;

 private:
  friend class detail::EventBus;
  CAIRN_HIDDEN Subscription(std::weak_ptr<detail::EventBus> bus,
                            std::shared_ptr<detail::Subscriber> sub);
  std::weak_ptr<detail::EventBus> bus_;
  std::shared_ptr<detail::Subscriber> sub_;
};

}  // namespace cairn
CAIRN_API_END
