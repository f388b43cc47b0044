// AppStore: apps and their pool memberships (table app_pools), so that
// "apps in a pool" is an index range rather than a scan of JSON text.
#include "cairn/stores.h"
#include "stores/record_table.h"
#include "stores/transfer.h"
#include "util/json_text.h"

namespace cairn {
namespace detail {
namespace {

constexpr std::size_t kMaxProtocolVersionBytes = 64;

struct AppCodec {
  using Record = App;
  using Query = AppQuery;
  static constexpr Kind kind = Kind::app;
  static constexpr const char* noun = "app";

#define CAIRN_APP_COLUMNS                                                                  \
  "id, pools, triggers, meta, protocol_version, registered, last_seen, rehydrated, " \
  "created_at, updated_at, revision"
#define CAIRN_APP_COLUMNS_A                                                                    \
  "a.id, a.pools, a.triggers, a.meta, a.protocol_version, a.registered, a.last_seen, " \
  "a.rehydrated, a.created_at, a.updated_at, a.revision"

  static constexpr const char* kSelect = "SELECT " CAIRN_APP_COLUMNS " FROM apps WHERE id = ?";
  static constexpr const char* kUpsert =
      "INSERT INTO apps (" CAIRN_APP_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (id) DO UPDATE SET pools = excluded.pools, triggers = excluded.triggers, "
      "meta = excluded.meta, protocol_version = excluded.protocol_version, "
      "registered = excluded.registered, last_seen = excluded.last_seen, "
      "rehydrated = excluded.rehydrated, created_at = excluded.created_at, updated_at = excluded.updated_at, "
      "revision = excluded.revision";
  static constexpr const char* kDelete = "DELETE FROM apps WHERE id = ?";
  static constexpr const char* kList =
      "SELECT " CAIRN_APP_COLUMNS " FROM apps WHERE id > ? ORDER BY id LIMIT ?";
  static constexpr const char* kCount = "SELECT count(*) FROM apps";
  static constexpr const char* kListInPool =
      "SELECT " CAIRN_APP_COLUMNS_A " FROM app_pools m JOIN apps a ON a.id = m.app_id "
      "WHERE m.pool = ? AND m.app_id > ? ORDER BY m.app_id LIMIT ?";
  static constexpr const char* kCountInPool = "SELECT count(*) FROM app_pools WHERE pool = ?";
  static constexpr const char* kDeleteMemberships = "DELETE FROM app_pools WHERE app_id = ?";
  static constexpr const char* kInsertMembership =
      "INSERT INTO app_pools (pool, app_id) VALUES (?, ?)";
#undef CAIRN_APP_COLUMNS
#undef CAIRN_APP_COLUMNS_A

  static std::string_view key(const App& a) { return a.id; }

  // nlohmann::json(a).dump(), byte for byte (keys in sorted order), without
  // building the JSON object: this image is written on every app write, and
  // building it was a third of a put's instructions.
  static std::string image(const App& a) {
    std::string out = "{\"created_at\":" + std::to_string(a.created_at);
    out += ",\"id\":\"" + a.id + "\"";  // keys need no escaping
    out += ",\"last_seen\":" + std::to_string(a.last_seen);
    out += ",\"meta\":";
    append_json(out, a.meta);
    out += ",\"pools\":" + keys_text(a.pools);
    out += ",\"protocol_version\":";
    append_json_string(out, a.protocol_version);
    out += ",\"registered\":" + std::to_string(a.registered);
    out += a.rehydrated ? ",\"rehydrated\":true" : ",\"rehydrated\":false";
    out += ",\"revision\":" + std::to_string(a.revision);
    out += ",\"triggers\":" + keys_text(a.triggers);
    out += ",\"updated_at\":" + std::to_string(a.updated_at) + "}";
    return out;
  }

  static App read_row(const db::Statement& s) {
    return App{
        .id = text_column(s, 0),
        .pools = keys_column(s, 1),
        .triggers = keys_column(s, 2),
        .meta = json_column(s, 3),
        .protocol_version = text_column(s, 4),
        .registered = s.column_int(5),
        .last_seen = s.column_int(6),
        .rehydrated = s.column_int(7) != 0,
        .created_at = s.column_int(8),
        .updated_at = s.column_int(9),
        .revision = s.column_int(10),
    };
  }

  static void bind_row(db::Statement& s, const App& a) {
    std::string meta;
    append_json(meta, a.meta);
    s.bind_text(1, a.id)
        .bind_text(2, keys_text(a.pools))
        .bind_text(3, keys_text(a.triggers))
        .bind_text(4, meta)
        .bind_text(5, a.protocol_version)
        .bind_int(6, a.registered)
        .bind_int(7, a.last_seen)
        .bind_int(8, a.rehydrated ? 1 : 0)
        .bind_int(9, a.created_at)
        .bind_int(10, a.updated_at)
        .bind_int(11, a.revision);
  }

  static void validate(const App& a, const Options& options) {
    const RecordName name(noun, a.id);
    check_key(name, "id", a.id);
    check_keys(name, "pools", a.pools);
    check_keys(name, "triggers", a.triggers);
    check_json(name, "meta", a.meta, options);
    check_text(name, "protocol_version", a.protocol_version, kMaxProtocolVersionBytes);
    check_range(name, "registered", a.registered, 0, INT64_MAX);
    check_range(name, "last_seen", a.last_seen, 0, INT64_MAX);
  }

  static const char* topic(Op op) {
    switch (op) {
      case Op::created: return "app.registered";
      case Op::removed: return "app.removed";
      default: return "app.updated";
    }
  }

  // registered is the time of the first registration and never changes;
  // last_seen is the caller's, or now.
  static void stamp(App& a, const App* before) {
    a.registered = before ? before->registered : a.created_at;
    if (a.last_seen == 0) a.last_seen = a.updated_at;
  }

  // An app may name pools that do not exist yet (LatZero registers apps first).
  static void before_write(Writer&, const App&) {}

  static void after_write(Writer& w, const App& a, const App* before) {
    if (before && before->pools == a.pools) return;
    w.db().prepare(kDeleteMemberships).bind_text(1, a.id).run();
    for (const auto& pool : a.pools) {
      w.db().prepare(kInsertMembership).bind_text(1, pool).bind_text(2, a.id).run();
    }
  }

  static db::Statement list(db::Connection& c, const AppQuery& q) {
    if (q.pool) {
      db::Statement s = c.prepare(kListInPool);
      s.bind_text(1, *q.pool).bind_text(2, q.after).bind_int(3, sql_limit(q.limit));
      return s;
    }
    db::Statement s = c.prepare(kList);
    s.bind_text(1, q.after).bind_int(2, sql_limit(q.limit));
    return s;
  }

  static db::Statement count(db::Connection& c, const AppQuery& q) {
    if (q.pool) {
      db::Statement s = c.prepare(kCountInPool);
      s.bind_text(1, *q.pool);
      return s;
    }
    return c.prepare(kCount);
  }
};

}  // namespace

const KindTransfer kAppTransfer{Kind::app, &export_rows<AppCodec>, &import_json<AppCodec>};
}  // namespace detail

using detail::AppCodec;

std::optional<App> AppStore::find(std::string_view id) const {
  return detail::find_record<AppCodec>(*ctx_, id);
}
App AppStore::get(std::string_view id) const { return detail::get_record<AppCodec>(*ctx_, id); }
App AppStore::create(App app) {
  return detail::put_record<AppCodec>(*ctx_, std::move(app), {}, detail::WriteMode::create_only);
}
App AppStore::put(App app, Expect expect) {
  return detail::put_record<AppCodec>(*ctx_, std::move(app), expect);
}
App AppStore::update(std::string_view id, const std::function<void(App&)>& edit, Expect expect) {
  return detail::update_record<AppCodec>(*ctx_, id, edit, expect);
}
bool AppStore::remove(std::string_view id, Expect expect) {
  return detail::remove_record<AppCodec>(*ctx_, id, expect);
}
std::vector<App> AppStore::list(const AppQuery& query) const {
  return detail::list_records<AppCodec>(*ctx_, query);
}
std::size_t AppStore::count(const AppQuery& query) const {
  return detail::count_records<AppCodec>(*ctx_, query);
}
std::vector<App> AppStore::in_pool(std::string_view pool) const {
  return list(AppQuery{.pool = std::string(pool)});
}

}  // namespace cairn
