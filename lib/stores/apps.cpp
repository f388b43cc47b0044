// AppStore: apps and their pool memberships (table app_pools), so that
// "apps in a pool" is an index range rather than a scan of JSON text.
#include "cairn/stores.h"
#include "stores/columns.h"
#include "stores/record_table.h"
#include "stores/transfer.h"
#include "util/json_text.h"

namespace cairn {
namespace detail {
namespace {

struct AppCodec : TableCodec<AppCodec> {
  using Record = App;
  using Query = AppQuery;
  static constexpr Kind kind = Kind::app;
  static constexpr const char* noun = "app";

  static constexpr const char* kTable = "apps";
  static constexpr const auto& kFields = kAppFields;
  static inline const std::string kListInPoolSql =
      "SELECT " + column_list(kAppFields, "a.") +
      " FROM app_pools m JOIN apps a ON a.id = m.app_id "
      "WHERE m.pool = ? AND m.app_id > ? ORDER BY m.app_id LIMIT ?";
  static inline const char* const kListInPool = kListInPoolSql.c_str();
  static constexpr const char* kCountInPool = "SELECT count(*) FROM app_pools WHERE pool = ?";
  static constexpr const char* kDeleteMembership =
      "DELETE FROM app_pools WHERE pool = ? AND app_id = ?";
  static constexpr const char* kInsertMembership =
      "INSERT INTO app_pools (pool, app_id) VALUES (?, ?) ON CONFLICT DO NOTHING";

  static std::string_view key(const App& a) { return a.id; }

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

  // The memberships follow the pools the stored row names: only the pools
  // that changed are written, each one row of app_pools.
  static void after_write(Writer& w, const App& a, const App* before) {
    static const std::vector<std::string> kNone;
    const std::vector<std::string>& old = before ? before->pools : kNone;
    if (old == a.pools) return;
    for (const auto& pool : old) {
      if (!contains(a.pools, pool)) set_membership(w, kDeleteMembership, pool, a.id);
    }
    for (const auto& pool : a.pools) {
      if (!contains(old, pool)) set_membership(w, kInsertMembership, pool, a.id);
    }
  }

  static void after_remove(Writer& w, const App& before) {
    for (const auto& pool : before.pools) set_membership(w, kDeleteMembership, pool, before.id);
  }

  static bool contains(const std::vector<std::string>& pools, const std::string& pool) {
    return std::find(pools.begin(), pools.end(), pool) != pools.end();
  }
  static void set_membership(Writer& w, const char* sql, const std::string& pool,
                             const std::string& id) {
    w.db().prepare(sql).bind_text(1, pool).bind_text(2, id).run();
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
std::vector<App> AppStore::put_many(std::vector<App> apps) {
  return detail::put_many_records<AppCodec>(*ctx_, std::move(apps));
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
