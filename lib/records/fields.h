// One table of fields per record kind (apps, pools, memory blocks, config
// entries), as SQLite generates its pragma table: each field's name (its JSON
// key and its column), where it lives in the struct, and how it is checked.
// The JSON forms (records.cpp), the column lists, rows, change-log images and
// validation (lib/stores/columns.h) all walk the table, so a field is spelled
// once. Tables are in the order of the JSON form (sorted by name, as
// nlohmann::json writes objects); columns are selected in the same order.
//
// Field types: std::string, std::int64_t, bool, nlohmann::json, a list of
// keys (std::vector<std::string>), PoolPolicies, and the enums with names
// (PoolType, BlockType).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <tuple>
#include <utility>

#include "cairn/records.h"

namespace cairn::detail {

enum class Rule : std::uint8_t {
  none,         // set by the registry (stamps, versions), or any value
  id,           // the record's key: a key, read first, the row's primary key
  key,          // a key naming another record
  keys,         // a list of keys
  json_object,  // free-form JSON, an object, within the size and depth limits
  json_any,     // free-form JSON, any value, within the limits
  text,         // UTF-8 text of at most `max` bytes
  range,        // an integer in [min, max]
  enumeration,  // one of the enum's values
  policies,     // PoolPolicies: lists of keys or "*"
};

template <class R, class T>
struct Field {
  using Record = R;
  using Type = T;
  const char* name;
  T R::*member;
  Rule rule = Rule::none;
  std::int64_t min = 0;
  std::int64_t max = 0;
};

template <class R, class T>
constexpr Field<R, T> field(const char* name, T R::*member, Rule rule = Rule::none) {
  return {name, member, rule};
}
template <class R>
constexpr Field<R, std::string> text_field(const char* name, std::string R::*member,
                                           std::int64_t max_bytes) {
  return {name, member, Rule::text, 0, max_bytes};
}
template <class R>
constexpr Field<R, std::int64_t> range_field(const char* name, std::int64_t R::*member,
                                             std::int64_t min, std::int64_t max) {
  return {name, member, Rule::range, min, max};
}

// Calls fn(field, index) for each field of `fields`, in order.
template <class Fields, class Fn>
constexpr void for_each_field(const Fields& fields, Fn&& fn) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fn(std::get<I>(fields), I), ...);
  }(std::make_index_sequence<std::tuple_size_v<Fields>>{});
}

template <class Fields>
constexpr bool sorted_with_one_id(const Fields& fields) {
  bool sorted = true;
  int ids = 0;
  std::string_view previous;
  for_each_field(fields, [&](const auto& f, std::size_t) {
    sorted = sorted && previous < std::string_view(f.name);
    previous = f.name;
    ids += f.rule == Rule::id ? 1 : 0;
  });
  return sorted && ids == 1;
}

// The id field's name.
template <class Fields>
constexpr const char* id_name(const Fields& fields) {
  const char* name = nullptr;
  for_each_field(fields, [&](const auto& f, std::size_t) {
    if (f.rule == Rule::id) name = f.name;
  });
  return name;
}

inline constexpr std::int64_t kNoLimit = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t kMaxProtocolVersionBytes = 64;
inline constexpr std::int64_t kMaxDescriptionBytes = 4096;
inline constexpr std::int64_t kMaxBlockNameBytes = 256;
inline constexpr std::int64_t kMaxBlockSize = std::int64_t{1} << 50;  // 1 PiB

inline constexpr auto kAppFields = std::tuple{
    field("created_at", &App::created_at),
    field("id", &App::id, Rule::id),
    range_field("last_seen", &App::last_seen, 0, kNoLimit),
    field("meta", &App::meta, Rule::json_object),
    field("pools", &App::pools, Rule::keys),
    text_field("protocol_version", &App::protocol_version, kMaxProtocolVersionBytes),
    range_field("registered", &App::registered, 0, kNoLimit),
    field("rehydrated", &App::rehydrated),
    field("revision", &App::revision),
    field("triggers", &App::triggers, Rule::keys),
    field("updated_at", &App::updated_at),
};

inline constexpr auto kPoolFields = std::tuple{
    field("config", &Pool::config, Rule::json_object),
    field("created_at", &Pool::created_at),
    text_field("description", &Pool::description, kMaxDescriptionBytes),
    field("encrypted", &Pool::encrypted),
    field("name", &Pool::name, Rule::id),
    field("owners", &Pool::owners, Rule::keys),
    field("policies", &Pool::policies, Rule::policies),
    field("revision", &Pool::revision),
    field("type", &Pool::type, Rule::enumeration),
    field("updated_at", &Pool::updated_at),
};

inline constexpr auto kMemoryBlockFields = std::tuple{
    field("config", &MemoryBlock::config, Rule::json_object),
    field("created_at", &MemoryBlock::created_at),
    field("encrypted", &MemoryBlock::encrypted),
    field("id", &MemoryBlock::id, Rule::id),
    text_field("name", &MemoryBlock::name, kMaxBlockNameBytes),
    field("permissions", &MemoryBlock::permissions, Rule::json_object),
    field("persistent", &MemoryBlock::persistent),
    field("pool", &MemoryBlock::pool, Rule::key),
    field("revision", &MemoryBlock::revision),
    range_field("size", &MemoryBlock::size, 0, kMaxBlockSize),
    field("type", &MemoryBlock::type, Rule::enumeration),
    field("updated_at", &MemoryBlock::updated_at),
    field("version", &MemoryBlock::version),
};

inline constexpr auto kConfigFields = std::tuple{
    field("created_at", &ConfigEntry::created_at),
    field("key", &ConfigEntry::key, Rule::id),
    field("revision", &ConfigEntry::revision),
    field("updated_at", &ConfigEntry::updated_at),
    field("value", &ConfigEntry::value, Rule::json_any),
};

static_assert(sorted_with_one_id(kAppFields));
static_assert(sorted_with_one_id(kPoolFields));
static_assert(sorted_with_one_id(kMemoryBlockFields));
static_assert(sorted_with_one_id(kConfigFields));

}  // namespace cairn::detail
