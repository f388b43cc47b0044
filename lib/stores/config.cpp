// ConfigStore: server configuration, one JSON value of any type per key.
#include "cairn/stores.h"
#include "stores/columns.h"
#include "stores/record_table.h"
#include "stores/transfer.h"

namespace cairn {
namespace detail {
namespace {

struct ConfigCodec : TableCodec<ConfigCodec> {
  using Record = ConfigEntry;
  using Query = ConfigQuery;
  static constexpr Kind kind = Kind::config;
  static constexpr const char* noun = "config";

  static constexpr const char* kTable = "server_config";
  static constexpr const auto& kFields = kConfigFields;

  static std::string_view key(const ConfigEntry& e) { return e.key; }

  // Every change of configuration is one topic; the event's op tells which.
  static const char* topic(Op) { return "config.changed"; }
  static void stamp(ConfigEntry&, const ConfigEntry*) {}
  static void before_write(Writer&, const ConfigEntry&) {}
  static void after_write(Writer&, const ConfigEntry&, const ConfigEntry*) {}

  static db::Statement list(db::Connection& c, const ConfigQuery& q) {
    db::Statement s = c.prepare(kList);
    s.bind_text(1, q.after).bind_int(2, sql_limit(q.limit));
    return s;
  }
  static db::Statement count(db::Connection& c, const ConfigQuery&) { return c.prepare(kCount); }
};

}  // namespace

const KindTransfer kConfigTransfer{Kind::config, &export_rows<ConfigCodec>, &import_json<ConfigCodec>};
}  // namespace detail

using detail::ConfigCodec;

ConfigEntry ConfigStore::save(std::string_view key, nlohmann::json value, Expect expect) {
  return put(ConfigEntry{.key = std::string(key), .value = std::move(value)}, expect);
}
std::optional<nlohmann::json> ConfigStore::load(std::string_view key) const {
  auto entry = find(key);
  if (!entry) return std::nullopt;
  return std::move(entry->value);
}
std::optional<ConfigEntry> ConfigStore::find(std::string_view key) const {
  return detail::find_record<ConfigCodec>(*ctx_, key);
}
ConfigEntry ConfigStore::get(std::string_view key) const {
  return detail::get_record<ConfigCodec>(*ctx_, key);
}
ConfigEntry ConfigStore::create(ConfigEntry entry) {
  return detail::put_record<ConfigCodec>(*ctx_, std::move(entry), {},
                                         detail::WriteMode::create_only);
}
ConfigEntry ConfigStore::put(ConfigEntry entry, Expect expect) {
  return detail::put_record<ConfigCodec>(*ctx_, std::move(entry), expect);
}
ConfigEntry ConfigStore::update(std::string_view key,
                                const std::function<void(ConfigEntry&)>& edit, Expect expect) {
  return detail::update_record<ConfigCodec>(*ctx_, key, edit, expect);
}
bool ConfigStore::remove(std::string_view key, Expect expect) {
  return detail::remove_record<ConfigCodec>(*ctx_, key, expect);
}
std::vector<ConfigEntry> ConfigStore::list(const ConfigQuery& query) const {
  return detail::list_records<ConfigCodec>(*ctx_, query);
}
std::size_t ConfigStore::count(const ConfigQuery& query) const {
  return detail::count_records<ConfigCodec>(*ctx_, query);
}

}  // namespace cairn
