// The typed records a registry holds, and their JSON forms.
//
// Records are plain values. Keys (ids and names) are 1-128 bytes of
// [A-Za-z0-9._:@/-], not starting with '.' or '/'. Free-form JSON fields
// (meta, config, permissions, policies, values) must be objects unless noted,
// at most Options::max_json_bytes serialized and Options::max_json_depth deep.
// Unknown keys inside free-form fields are kept as they are.
//
// created_at, updated_at and revision are set by the registry on every write;
// values passed in are ignored. revision is the registry revision of the
// record's last change, usable with Expect for compare-and-swap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/options.h"

namespace cairn {

// One committed write transaction. Revisions start at 1 and only grow.
using Revision = std::int64_t;

// A compare-and-swap condition on a write. With revision set, the write
// happens only if the record's current revision equals it; 0 means "the record
// must be absent". A mismatch fails with errc::conflict.
struct Expect {
  std::optional<Revision> revision{};
};

// An application registered with the server (LatZero's apps).
struct App {
  std::string id{};
  std::vector<std::string> pools{};     // pool names; a pool need not exist yet
  std::vector<std::string> triggers{};  // trigger names the app handles
  nlohmann::json meta = nlohmann::json::object();
  std::string protocol_version{};       // free text, at most 64 bytes
  Timestamp registered = 0;           // set on first registration
  Timestamp last_seen = 0;            // 0: set to now on every write
  bool rehydrated = false;            // restored from a previous session

  Timestamp created_at = 0, updated_at = 0;
  Revision revision = 0;
};

enum class PoolType { local, global, encrypted };

// Who may read and write a pool: app ids, or "*" for every app.
struct PoolPolicies {
  std::vector<std::string> read{};
  std::vector<std::string> write{};
};

// A pool of memory blocks (LatZero's pools).
struct Pool {
  std::string name{};
  PoolType type = PoolType::local;
  bool encrypted = false;             // always true when type is encrypted
  std::vector<std::string> owners{};    // app ids
  PoolPolicies policies{};
  std::string description{};            // at most 4 KiB
  nlohmann::json config = nlohmann::json::object();

  Timestamp created_at = 0, updated_at = 0;
  Revision revision = 0;
};

enum class BlockType { binary, json, stream };

// A memory block inside a pool (LatZero's memory blocks). The pool must exist.
struct MemoryBlock {
  std::string id{};
  std::string name{};                   // display name, at most 256 bytes
  std::string pool{};
  std::int64_t size = 0;              // bytes, 0 to 2^50
  BlockType type = BlockType::binary;
  nlohmann::json permissions = nlohmann::json::object();
  std::int64_t version = 0;           // set by the registry: 1 on create, +1 per update
  bool persistent = false;
  bool encrypted = false;
  nlohmann::json config = nlohmann::json::object();

  Timestamp created_at = 0, updated_at = 0;
  Revision revision = 0;
};

// One server configuration entry (LatZero's server_config). value may be any
// JSON value, within the size and depth limits.
struct ConfigEntry {
  std::string key{};
  nlohmann::json value{};

  Timestamp created_at = 0, updated_at = 0;
  Revision revision = 0;
};

// Queries. Results are ordered by key. `after` pages by key (exclusive);
// limit 0 means no limit. count() ignores after and limit.
struct AppQuery {
  std::optional<std::string> pool{};    // apps that name this pool
  std::string after{};
  std::size_t limit = 0;
};

struct PoolQuery {
  std::optional<PoolType> type{};
  std::string after{};
  std::size_t limit = 0;
};

struct MemoryBlockQuery {
  std::optional<std::string> pool{};
  std::optional<BlockType> type{};
  std::string after{};
  std::size_t limit = 0;
};

struct ConfigQuery {
  std::string after{};
  std::size_t limit = 0;
};

// Names as written in JSON and the CLI ("local", "binary"...).
const char* to_string(PoolType t) noexcept;
const char* to_string(BlockType t) noexcept;
// Throw Error(errc::invalid_argument) for an unknown name.
PoolType pool_type_from_string(std::string_view s);
BlockType block_type_from_string(std::string_view s);

// JSON forms, used by events, export/import and the CLI. from_json throws
// Error(errc::invalid_argument) naming the field when a value has the wrong
// type; it does not check limits (the stores do, on every write).
void to_json(nlohmann::json& j, const App& r);
void from_json(const nlohmann::json& j, App& r);
void to_json(nlohmann::json& j, const Pool& r);
void from_json(const nlohmann::json& j, Pool& r);
void to_json(nlohmann::json& j, const MemoryBlock& r);
void from_json(const nlohmann::json& j, MemoryBlock& r);
void to_json(nlohmann::json& j, const ConfigEntry& r);
void from_json(const nlohmann::json& j, ConfigEntry& r);

}  // namespace cairn
