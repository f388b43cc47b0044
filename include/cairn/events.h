// Change events: one per changed record, recorded in the durable change log
// in the same transaction as the change, and numbered by (revision, index).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cairn/records.h"

namespace cairn {

// What kind of record an event is about. `registry` is for events about the
// registry itself (backup, restore, migration, resync).
enum class Kind : std::uint8_t { app, pool, memory_block, config, registry };

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
// Throw Error(errc::invalid_argument) for an unknown name.
Kind kind_from_string(std::string_view s);
Op op_from_string(std::string_view s);

struct Event {
  Revision revision = 0;
  std::uint32_t index = 0;  // position inside the revision, from 0
  Kind kind = Kind::registry;
  Op op = Op::created;
  std::string topic;        // "app.registered", "pool.created", "config.changed", ...
  std::string id;           // the record's key
  std::optional<nlohmann::json> before, after;  // record images; absent on create / remove
  Timestamp at = 0;
  std::string actor;
};

void to_json(nlohmann::json& j, const Event& e);

}  // namespace cairn
