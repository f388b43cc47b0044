#include "workload.h"

#include <algorithm>

#include <fmt/format.h>

namespace cairn_bench {
namespace {

constexpr const char* kProtocolVersion = "1.4";
constexpr const char* kTriggersJson = R"(["on-start","on-stop"])";

std::string host_of(std::int64_t index) {
  return fmt::format("10.{}.{}.{}", (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff);
}

std::int64_t port_of(std::int64_t index) { return 7000 + index % 1000; }

const char* zone_of(std::int64_t index) { return index % 2 == 0 ? "zone-a" : "zone-b"; }

}  // namespace

std::string app_id(const char* prefix, std::int64_t index) {
  return fmt::format("{}-{:07}", prefix, index);
}

std::int64_t pool_count(std::int64_t total) {
  return std::max<std::int64_t>(1, total / kAppsPerPool);
}

std::string pool_name_at(std::int64_t pool) { return fmt::format("pool-{:06}", pool); }

std::string pool_name(std::int64_t index, std::int64_t total) {
  return pool_name_at(index % pool_count(total));
}

cairn::App make_app(const char* prefix, std::int64_t index, std::int64_t total) {
  return cairn::App{
      .id = app_id(prefix, index),
      .pools = {pool_name(index, total)},
      .triggers = {"on-start", "on-stop"},
      .meta = {{"host", host_of(index)}, {"port", port_of(index)}, {"zone", zone_of(index)}},
      .protocol_version = kProtocolVersion,
  };
}

RawApp make_raw_app(const char* prefix, std::int64_t index, std::int64_t total) {
  RawApp a;
  a.id = app_id(prefix, index);
  a.pools = {pool_name(index, total)};
  a.pools_json = fmt::format(R"(["{}"])", a.pools.front());
  a.triggers_json = kTriggersJson;
  // Keys in the order nlohmann::json writes them (sorted), so both sides
  // store the same bytes.
  a.meta_json = fmt::format(R"({{"host":"{}","port":{},"zone":"{}"}})", host_of(index),
                            port_of(index), zone_of(index));
  a.protocol_version = kProtocolVersion;
  return a;
}

}  // namespace cairn_bench
