#include <array>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/events.h"
#include "records/enum_names.h"

namespace cairn {
namespace {

using detail::name_of;
using detail::value_of;

constexpr std::array<std::pair<Kind, const char*>, 9> kKinds = {{
    {Kind::app, "app"},
    {Kind::pool, "pool"},
    {Kind::memory_block, "memory_block"},
    {Kind::config, "config"},
    {Kind::torrent, "torrent"},
    {Kind::torrent_session, "torrent_session"},
    {Kind::kv, "kv"},
    {Kind::trigger, "trigger"},
    {Kind::registry, "registry"},
}};

constexpr std::array<std::pair<Op, const char*>, 8> kOps = {{
    {Op::created, "created"},
    {Op::updated, "updated"},
    {Op::removed, "removed"},
    {Op::expired, "expired"},
    {Op::restored, "restored"},
    {Op::migrated, "migrated"},
    {Op::backed_up, "backed_up"},
    {Op::resync_required, "resync_required"},
}};

}  // namespace

const char* to_string(Kind k) noexcept { return name_of(kKinds, k); }
const char* to_string(Op op) noexcept { return name_of(kOps, op); }
Kind kind_from_string(std::string_view s) {
  // The CLI's names, accepted everywhere a kind is read.
  if (s == "block" || s == "memory-block") return Kind::memory_block;
  if (s == "torrent-session") return Kind::torrent_session;
  return value_of(kKinds, s, "kind");
}

std::span<const std::string_view> known_topics() noexcept {
  static constexpr std::string_view kTopics[] = {
      "app.registered",       "app.updated",        "app.removed",
      "pool.created",         "pool.updated",       "pool.removed",
      "memory_block.created", "memory_block.updated", "memory_block.removed",
      "config.changed",       "torrent.added",      "torrent.started",
      "torrent.stopped",      "torrent.completed",  "torrent.removed",
      "torrent.updated",      "torrent_session.changed", "kv.put",
      "kv.removed",           "kv.expired",         "trigger.created",
      "trigger.dispatched",   "trigger.completed",  "trigger.expired",
      "backup.created",       "registry.restored",  "schema.migrated",
      "registry.resync_required",
  };
  return kTopics;
}
Op op_from_string(std::string_view s) { return value_of(kOps, s, "op"); }

void to_json(nlohmann::json& j, const Event& e) {
  j = nlohmann::json{
      {"revision", e.revision}, {"index", e.index}, {"kind", to_string(e.kind)},
      {"op", to_string(e.op)},  {"topic", e.topic}, {"id", e.id},
      {"at", e.at},             {"actor", e.actor},
  };
  if (e.before) j["before"] = *e.before;
  if (e.after) j["after"] = *e.after;
  if (!e.replayable) j["replayable"] = false;
}

}  // namespace cairn
