// The data both sides of the benchmark write and read: app i of a registry,
// in cairn's form and in the raw side's form, with the same bytes in every
// column. Every app names one pool, and every pool holds kAppsPerPool apps,
// so "apps in one pool" returns the same 100 rows at any registry size.
#pragma once

#include <cstdint>
#include <string>
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

}  // namespace cairn_bench
