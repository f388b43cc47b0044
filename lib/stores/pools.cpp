// PoolStore: pools of memory blocks. Removing a pool that blocks still name
// is refused unless the caller asks for the cascade.
#include "cairn/stores.h"
#include "stores/memory_blocks.h"
#include "stores/record_table.h"
#include "stores/transfer.h"

namespace cairn {
namespace detail {
namespace {

constexpr std::size_t kMaxDescriptionBytes = 4096;

struct PoolCodec {
  using Record = Pool;
  using Query = PoolQuery;
  static constexpr Kind kind = Kind::pool;
  static constexpr const char* noun = "pool";

#define CAIRN_POOL_COLUMNS \
  "name, type, encrypted, owners, policies, description, config, created_at, updated_at, revision"

  static constexpr const char* kSelect = "SELECT " CAIRN_POOL_COLUMNS " FROM pools WHERE name = ?";
  static constexpr const char* kUpsert =
      "INSERT INTO pools (" CAIRN_POOL_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (name) DO UPDATE SET type = excluded.type, encrypted = excluded.encrypted, "
      "owners = excluded.owners, policies = excluded.policies, "
      "description = excluded.description, config = excluded.config, "
      "updated_at = excluded.updated_at, revision = excluded.revision";
  static constexpr const char* kDelete = "DELETE FROM pools WHERE name = ?";
  static constexpr const char* kList =
      "SELECT " CAIRN_POOL_COLUMNS " FROM pools WHERE name > ? ORDER BY name LIMIT ?";
  static constexpr const char* kListByType = "SELECT " CAIRN_POOL_COLUMNS
                                             " FROM pools WHERE type = ? AND name > ? "
                                             "ORDER BY name LIMIT ?";
#undef CAIRN_POOL_COLUMNS
  static constexpr const char* kCount = "SELECT count(*) FROM pools";
  static constexpr const char* kCountByType = "SELECT count(*) FROM pools WHERE type = ?";

  static std::string_view key(const Pool& p) { return p.name; }
  static std::string image(const Pool& r) { return nlohmann::json(r).dump(); }

  static Pool read_row(const db::Statement& s) {
    const auto policies = json_column(s, 4);
    return Pool{
        .name = text_column(s, 0),
        .type = pool_type_from_string(s.column_text(1)),
        .encrypted = s.column_int(2) != 0,
        .owners = strings_column(s, 3),
        .policies = {.read = policies.at("read").get<std::vector<std::string>>(),
                     .write = policies.at("write").get<std::vector<std::string>>()},
        .description = text_column(s, 5),
        .config = json_column(s, 6),
        .created_at = s.column_int(7),
        .updated_at = s.column_int(8),
        .revision = s.column_int(9),
    };
  }

  static void bind_row(db::Statement& s, const Pool& p) {
    const nlohmann::json policies = {{"read", p.policies.read}, {"write", p.policies.write}};
    s.bind_text(1, p.name)
        .bind_text(2, to_string(p.type))
        .bind_int(3, p.encrypted ? 1 : 0)
        .bind_text(4, nlohmann::json(p.owners).dump())
        .bind_text(5, policies.dump())
        .bind_text(6, p.description)
        .bind_text(7, p.config.dump())
        .bind_int(8, p.created_at)
        .bind_int(9, p.updated_at)
        .bind_int(10, p.revision);
  }

  static void validate(const Pool& p, const Options& options) {
    const RecordName name(noun, p.name);
    check_key(name, "name", p.name);
    check_range(name, "type", static_cast<int>(p.type), 0, static_cast<int>(PoolType::encrypted));
    check_keys(name, "owners", p.owners);
    check_keys(name, "policies.read", p.policies.read, /*allow_star=*/true);
    check_keys(name, "policies.write", p.policies.write, /*allow_star=*/true);
    check_text(name, "description", p.description, kMaxDescriptionBytes);
    check_json(name, "config", p.config, options);
  }

  static const char* topic(Op op) {
    switch (op) {
      case Op::created: return "pool.created";
      case Op::removed: return "pool.removed";
      default: return "pool.updated";
    }
  }

  // An encrypted pool is always encrypted, whatever the flag said.
  static void stamp(Pool& p, const Pool*) {
    if (p.type == PoolType::encrypted) p.encrypted = true;
  }
  static void before_write(Writer&, const Pool&) {}
  static void after_write(Writer&, const Pool&, const Pool*) {}

  static db::Statement list(db::Connection& c, const PoolQuery& q) {
    int i = 1;
    db::Statement s = c.prepare(q.type ? kListByType : kList);
    if (q.type) s.bind_text(i++, to_string(*q.type));
    s.bind_text(i++, q.after);
    s.bind_int(i, sql_limit(q.limit));
    return s;
  }

  static db::Statement count(db::Connection& c, const PoolQuery& q) {
    db::Statement s = c.prepare(q.type ? kCountByType : kCount);
    if (q.type) s.bind_text(1, to_string(*q.type));
    return s;
  }
};

}  // namespace

const KindTransfer kPoolTransfer{Kind::pool, &export_rows<PoolCodec>, &import_json<PoolCodec>};
}  // namespace detail

using detail::PoolCodec;

std::optional<Pool> PoolStore::find(std::string_view name) const {
  return detail::find_record<PoolCodec>(*ctx_, name);
}
Pool PoolStore::get(std::string_view name) const {
  return detail::get_record<PoolCodec>(*ctx_, name);
}
Pool PoolStore::create(Pool pool) {
  return detail::put_record<PoolCodec>(*ctx_, std::move(pool), {}, detail::WriteMode::create_only);
}
Pool PoolStore::put(Pool pool, Expect expect) {
  return detail::put_record<PoolCodec>(*ctx_, std::move(pool), expect);
}
Pool PoolStore::update(std::string_view name, const std::function<void(Pool&)>& edit,
                       Expect expect) {
  return detail::update_record<PoolCodec>(*ctx_, name, edit, expect);
}

bool PoolStore::remove(std::string_view name, Expect expect, Cascade cascade) {
  return ctx_->write([&](detail::Writer& w) {
    const detail::RecordName record(PoolCodec::noun, name);
    auto before = detail::find_row<PoolCodec>(w.db(), name);
    detail::check_expect(record, before ? before->revision : 0, expect);
    if (!before) return false;
    if (const auto blocks = detail::count_blocks_in_pool(w.db(), name); blocks > 0) {
      if (cascade == Cascade::no) {
        throw Error(errc::constraint,
                    fmt::format("{}: {} memory block(s) are still in it; remove them first, or "
                                "remove the pool with Cascade::yes",
                                record.str(), blocks));
      }
      detail::remove_blocks_in_pool(w, name);
    }
    detail::remove_row<PoolCodec>(w, *before);
    return true;
  });
}

std::vector<Pool> PoolStore::list(const PoolQuery& query) const {
  return detail::list_records<PoolCodec>(*ctx_, query);
}
std::size_t PoolStore::count(const PoolQuery& query) const {
  return detail::count_records<PoolCodec>(*ctx_, query);
}

}  // namespace cairn
