// TriggerTable: the trigger records of one registry, in memory only (DESIGN
// section 7: never on disk, in either mode). TriggerStore is its public face.
//
// Threads: every member may be called from any thread; one mutex guards the
// table. Events are handed to `publish` under that mutex, so they reach the
// bus in the order the changes were made (lock order: this mutex, then the
// bus's).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/events.h"
#include "cairn/options.h"
#include "cairn/records.h"

namespace cairn::detail {

class TriggerTable {
 public:
  using Publish = std::function<void(std::vector<Event>&&)>;
  using Clock = std::function<Timestamp()>;

  TriggerTable(const Options& options, Clock clock, Publish publish);

  Trigger create(Trigger trigger);
  std::optional<Trigger> find(std::string_view id) const;
  Trigger mark_dispatched(std::string_view id, std::string_view app_id);
  Trigger mark_completed(std::string_view id);
  bool remove(std::string_view id);
  std::vector<Trigger> list(const TriggerQuery& query) const;
  std::size_t count() const;
  // Removes the expired triggers, publishing trigger.expired for each.
  std::size_t purge_expired();
  // Whether any trigger is held (so that the background purge has work).
  bool empty() const;

 private:
  Trigger change(std::string_view id, const char* topic, const std::function<void(Trigger&)>& edit);
  Event event(Op op, const char* topic, const Trigger* before, const Trigger* after) const;

  const Options& options_;
  Clock clock_;
  Publish publish_;
  mutable std::mutex mu_;
  std::map<std::string, Trigger, std::less<>> triggers_;
};

}  // namespace cairn::detail
