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

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/options.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
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

// ---- Torrents (go-i2p-bt's torrent state, libtorrent's resume data) ----

// A torrent's life, as go-i2p-bt's hooks see it. Allowed changes (anything
// else is refused with errc::invalid_argument naming both states):
//
//   added     -> started, stopped, removed
//   started   -> stopped, completed, removed
//   stopped   -> started, removed
//   completed -> started (seeding again), stopped, removed
//   removed   -> (nothing: a removed torrent stays removed)
//
// A torrent is created in any state but removed (a server restoring its
// torrents brings them back as they were). Staying in the same state is an
// update (counters, trackers...), published as torrent.updated.
enum class TorrentState { added, started, stopped, completed, removed };

// Rate and connection limits. 0 means unlimited.
struct TorrentLimits {
  std::int64_t download_rate = 0;  // bytes per second
  std::int64_t upload_rate = 0;    // bytes per second
  std::int64_t max_connections = 0;
  std::int64_t max_uploads = 0;
};

// libtorrent's torrent flags that resume data keeps.
struct TorrentFlags {
  bool paused = false;
  bool auto_managed = true;
  bool sequential_download = false;
  bool seed_mode = false;
  bool super_seeding = false;
  bool upload_mode = false;
  bool share_mode = false;
};

// The largest metainfo (.torrent file) a torrent may carry: 16 MiB.
inline constexpr std::size_t kMaxMetainfoBytes = 16u << 20;

struct Torrent {
  // 40 hex digits (v1, SHA-1) or 64 (v2, SHA-256), lowercase.
  std::string info_hash{};
  std::string name{};                    // at most 1 KiB
  TorrentState state = TorrentState::added;
  std::string save_path{};               // at most 4 KiB
  std::int64_t total_size = 0;           // bytes, >= 0
  std::int64_t downloaded = 0;           // bytes, >= 0
  std::int64_t uploaded = 0;             // bytes, >= 0
  std::string pieces{};                  // bitfield, one bit per piece; at most 2 MiB
  std::vector<std::vector<std::string>> trackers{};  // tiers of announce URLs
  std::vector<std::int64_t> file_priorities{};       // per file, 0 (skip) to 7 (top)
  TorrentLimits limits{};
  TorrentFlags flags{};
  Timestamp added_at = 0;       // 0: set to now when created
  Timestamp completed_at = 0;   // 0: set to now when the state becomes completed
  Timestamp last_activity = 0;
  std::string metainfo{};       // the raw .torrent bytes, at most kMaxMetainfoBytes
  nlohmann::json extra = nlohmann::json::object();

  Timestamp created_at = 0, updated_at = 0;
  Revision revision = 0;
};

struct TorrentQuery {
  std::optional<TorrentState> state{};
  std::string after{};
  std::size_t limit = 0;
};

// The torrent session's configuration: one document per registry. Known keys
// (after Transmission's settings.json, in snake_case) are typed and
// range-checked; any other key is kept in `extra` as it is and written back
// beside the known ones.
struct TorrentSession {
  std::string download_dir{};
  std::string incomplete_dir{};
  bool incomplete_dir_enabled = false;
  std::int64_t peer_port = 51413;              // 1-65535
  bool peer_port_random_on_start = false;
  bool port_forwarding_enabled = true;
  std::int64_t peer_limit_global = 200;        // >= 0
  std::int64_t peer_limit_per_torrent = 50;    // >= 0
  std::int64_t speed_limit_down = 100;         // KB/s, >= 0
  bool speed_limit_down_enabled = false;
  std::int64_t speed_limit_up = 100;           // KB/s, >= 0
  bool speed_limit_up_enabled = false;
  std::int64_t alt_speed_down = 50;            // KB/s, >= 0
  std::int64_t alt_speed_up = 50;              // KB/s, >= 0
  bool alt_speed_enabled = false;
  std::int64_t encryption = 1;                 // 0 allowed, 1 preferred, 2 required
  std::int64_t download_queue_size = 5;        // >= 0
  bool download_queue_enabled = true;
  std::int64_t seed_queue_size = 10;           // >= 0
  bool seed_queue_enabled = false;
  double ratio_limit = 2.0;                    // >= 0
  bool ratio_limit_enabled = false;
  std::int64_t idle_seeding_limit = 30;        // minutes, >= 0
  bool idle_seeding_limit_enabled = false;
  bool dht_enabled = true;
  bool pex_enabled = true;
  bool lpd_enabled = false;
  bool utp_enabled = true;
  bool start_added_torrents = true;
  bool rename_partial_files = true;
  std::int64_t cache_size_mb = 4;              // >= 0
  nlohmann::json extra = nlohmann::json::object();  // unknown keys, kept

  Timestamp created_at = 0, updated_at = 0;
  Revision revision = 0;
};

// ---- Key-value namespaces (Lampo, leptos-state, Neo) ----

// One entry of a namespace. The namespace follows the key rules above; the
// key is 1-1024 bytes of UTF-8 without control characters; the value is any
// bytes, at most Options::max_kv_value_bytes.
struct KvEntry {
  std::string name_space{};
  std::string key{};
  std::string value{};
  std::int64_t version = 0;                // 1 when written first, +1 per write
  std::optional<Timestamp> expires_at{};   // absent: never expires

  Timestamp created_at = 0, updated_at = 0;
  Revision revision = 0;
};

// How one KV write behaves.
struct KvWriteOptions {
  // Compare-and-swap: write only if the entry's version equals this (0: only
  // if absent or expired). A mismatch fails with errc::conflict.
  std::optional<std::int64_t> expect_version{};
  // The entry expires this long after the write. Absent: never.
  std::optional<std::int64_t> ttl_ms{};
};

// One write of KvStore::put_many.
struct KvItem {
  std::string key{};
  std::string value{};
  KvWriteOptions options{};
};

// Entries whose key starts with `prefix`, ordered by key (bytewise), after
// `after` (exclusive), at most `limit` (0: no limit).
struct KvQuery {
  std::string prefix{};
  std::string after{};
  std::size_t limit = 0;
};

struct KvInfo {
  std::int64_t entries = 0;
  std::int64_t bytes = 0;  // keys and values
};

// ---- Trigger records (LatZero's trigger_records; ephemeral) ----

// A trigger on its way from one app to another. Lives in memory only: never
// written to the database, gone when the registry closes.
struct Trigger {
  std::string id{};
  std::string origin_app_id{};
  std::string origin_connection_id{};
  std::string destination{};         // the trigger's name or target app
  std::string pool{};                // optional: empty for none
  std::string process{};             // optional: what the destination should run
  std::int64_t ttl_ms = 0;           // 0: Options::trigger_default_ttl_ms
  Timestamp expires_at = 0;          // set by the registry: created_at + ttl_ms
  std::string dispatched_to{};       // empty until dispatched
  bool completed = false;

  Timestamp created_at = 0, updated_at = 0;
};

// Triggers matching every set field, ordered by id.
struct TriggerQuery {
  std::optional<std::string> pool{};
  std::optional<std::string> destination{};
  std::optional<std::string> origin_app_id{};
};

// Names as written in JSON and the CLI ("local", "binary"...).
const char* to_string(PoolType t) noexcept;
const char* to_string(BlockType t) noexcept;
const char* to_string(TorrentState s) noexcept;
// Throw Error(errc::invalid_argument) for an unknown name.
PoolType pool_type_from_string(std::string_view s);
BlockType block_type_from_string(std::string_view s);
TorrentState torrent_state_from_string(std::string_view s);

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
// Binary fields (pieces, metainfo, KV values) are base64 in JSON:
// "pieces_base64", "metainfo_base64", "value_base64".
void to_json(nlohmann::json& j, const Torrent& r);
void from_json(const nlohmann::json& j, Torrent& r);
// A flat document: the known keys and the extra ones side by side. Known keys
// of the wrong type are refused, naming the key.
void to_json(nlohmann::json& j, const TorrentSession& r);
void from_json(const nlohmann::json& j, TorrentSession& r);
void to_json(nlohmann::json& j, const KvEntry& r);
void from_json(const nlohmann::json& j, KvEntry& r);
void to_json(nlohmann::json& j, const Trigger& r);
void from_json(const nlohmann::json& j, Trigger& r);

}  // namespace cairn
CAIRN_API_END
