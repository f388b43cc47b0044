// The data both sides of the benchmark write and read: app i of a registry,
// in cairn's form and in the raw side's form, with the same bytes in every
// column. Every app names one pool, and every pool holds kAppsPerPool apps,
// so "apps in one pool" returns the same 100 rows at any registry size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/records.h"

namespace cairn_bench {

inline constexpr std::int64_t kAppsPerPool = 100;

// An app as the raw side handles it: the JSON columns (pools, triggers,
// meta) as the text stored in the table, which is what code written
// directly against sqlite3 would keep.
struct RawApp {
  std::string id{};
  std::vector<std::string> pools{};
  std::string pools_json{};
  std::string triggers_json{};
  std::string meta_json{};
  std::string protocol_version{};
  std::int64_t registered = 0;
  std::int64_t last_seen = 0;
  bool rehydrated = false;
  std::int64_t created_at = 0, updated_at = 0, revision = 0;
};

// "app-0000042" (prefix "app"). Fixed width, so id order is index order.
std::string app_id(const char* prefix, std::int64_t index);
// The pool that app `index` of a registry of `total` apps names.
std::string pool_name(std::int64_t index, std::int64_t total);
std::int64_t pool_count(std::int64_t total);
// "pool-000042".
std::string pool_name_at(std::int64_t pool);

cairn::App make_app(const char* prefix, std::int64_t index, std::int64_t total);
RawApp make_raw_app(const char* prefix, std::int64_t index, std::int64_t total);

// ---- Key-value entries ----------------------------------------------------
// One namespace; keys grouped under prefixes ("b0003/k0004217"), values of
// kKvValueBytes bytes (binary, from the index).

inline constexpr const char* kKvNamespace = "sessions";
inline constexpr std::size_t kKvValueBytes = 100;

// "b0003/" : the prefix of bucket `bucket`.
std::string kv_prefix(std::int64_t bucket);
// Key `index` of a namespace whose buckets hold `per_prefix` keys each:
// kv_prefix(index / per_prefix) + "k" + index % per_prefix, fixed width, so
// key order is index order. `tag` ("" or "put"...) keeps the keys of
// different scenarios apart.
std::string kv_key(std::string_view tag, std::int64_t index, std::int64_t per_prefix);
std::string kv_value(std::int64_t index);

// An entry as the raw side reads it.
struct RawKvEntry {
  std::string name_space{};
  std::string key{};
  std::string value{};
  std::int64_t version = 0;
  std::optional<std::int64_t> expires_at{};
  std::int64_t created_at = 0, updated_at = 0, revision = 0;
};

// ---- Torrents ---------------------------------------------------------------
// Torrent `index` as a server saves it at save number `round`: the same
// torrent every round (hash, name, trackers, metainfo...), with the counters
// and last_activity moved on. Realistic sizes: a kMetainfoBytes bencoded
// .torrent (mostly piece hashes), a kPiecesBytes bitfield, two tracker
// tiers, a few files, limits and extra keys.

inline constexpr std::size_t kMetainfoBytes = 20 * 1024;
inline constexpr std::size_t kPiecesBytes = 1024;

// 40 lowercase hex digits (a v1 info hash), from the index.
std::string torrent_hash(std::int64_t index);

// A torrent as the raw side handles it: the JSON columns (trackers,
// file_priorities, limits, flags, extra) as the text stored in the table.
struct RawTorrent {
  std::string info_hash{};
  std::string name{};
  std::string state{};
  std::string save_path{};
  std::int64_t total_size = 0, downloaded = 0, uploaded = 0;
  std::string pieces{};
  std::string trackers_json{};
  std::string file_priorities_json{};
  std::string limits_json{};
  std::string flags_json{};
  std::int64_t added_at = 0, completed_at = 0, last_activity = 0;
  std::string metainfo{};
  std::string extra_json{};
  std::int64_t created_at = 0, updated_at = 0, revision = 0;
};

cairn::Torrent make_torrent(std::int64_t index, std::int64_t round);
RawTorrent make_raw_torrent(std::int64_t index, std::int64_t round);

}  // namespace cairn_bench
