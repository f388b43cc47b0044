// PoolStore: pools of memory blocks. Removing a pool that blocks still name
// is refused unless the caller asks for the cascade.
#include "cairn/stores.h"
#include "stores/memory_blocks.h"
#include "stores/columns.h"
#include "stores/record_table.h"
#include "stores/transfer.h"

namespace cairn {
namespace detail {
namespace {

struct PoolCodec : TableCodec<PoolCodec> {
  using Record = Pool;
  using Query = PoolQuery;
  static constexpr Kind kind = Kind::pool;
  static constexpr const char* noun = "pool";

  static constexpr const char* kTable = "pools";
  static constexpr const auto& kFields = kPoolFields;
  static inline const std::string kListByTypeSql =
      "SELECT " + sql().columns + " FROM pools WHERE type = ? AND name > ? ORDER BY name LIMIT ?";
  static inline const char* const kListByType = kListByTypeSql.c_str();
  static constexpr const char* kCountByType = "SELECT count(*) FROM pools WHERE type = ?";

  static std::string_view key(const Pool& p) { return p.name; }

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
std::vector<Pool> PoolStore::put_many(std::vector<Pool> pools) {
  return detail::put_many_records<PoolCodec>(*ctx_, std::move(pools));
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
                                "remove the pool with its blocks (cascade)",
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
