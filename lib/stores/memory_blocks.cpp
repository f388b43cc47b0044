// MemoryBlockStore: blocks live in an existing pool; version counts writes.
#include "stores/memory_blocks.h"

#include "cairn/stores.h"
#include "stores/columns.h"
#include "stores/record_table.h"
#include "stores/transfer.h"

namespace cairn {
namespace detail {
namespace {

struct MemoryBlockCodec : TableCodec<MemoryBlockCodec> {
  using Record = MemoryBlock;
  using Query = MemoryBlockQuery;
  static constexpr Kind kind = Kind::memory_block;
  static constexpr const char* noun = "memory_block";

  static constexpr const char* kTable = "memory_blocks";
  static constexpr const auto& kFields = kMemoryBlockFields;
  static std::string list_where(const char* condition) {
    return "SELECT " + sql().columns + " FROM memory_blocks WHERE " + condition +
           " AND id > ? ORDER BY id LIMIT ?";
  }
  static inline const std::string kListByPoolSql = list_where("pool = ?");
  static inline const std::string kListByTypeSql = list_where("type = ?");
  static inline const std::string kListByPoolAndTypeSql = list_where("pool = ? AND type = ?");
  static inline const char* const kListByPool = kListByPoolSql.c_str();
  static inline const char* const kListByType = kListByTypeSql.c_str();
  static inline const char* const kListByPoolAndType = kListByPoolAndTypeSql.c_str();
  static constexpr const char* kCountByPool =
      "SELECT count(*) FROM memory_blocks WHERE pool = ?";
  static constexpr const char* kCountByType =
      "SELECT count(*) FROM memory_blocks WHERE type = ?";
  static constexpr const char* kCountByPoolAndType =
      "SELECT count(*) FROM memory_blocks WHERE pool = ? AND type = ?";
  static constexpr const char* kPoolExists = "SELECT count(*) FROM pools WHERE name = ?";

  static std::string_view key(const MemoryBlock& b) { return b.id; }

  static const char* topic(Op op) {
    switch (op) {
      case Op::created: return "memory_block.created";
      case Op::removed: return "memory_block.removed";
      default: return "memory_block.updated";
    }
  }

  static void stamp(MemoryBlock& b, const MemoryBlock* before) {
    b.version = before ? before->version + 1 : 1;
  }

  // Checked here, not only by the foreign key, to name the missing pool.
  static void before_write(Writer& w, const MemoryBlock& b) {
    db::Statement s = w.db().prepare(kPoolExists);
    s.bind_text(1, b.pool);
    if (s.step() && s.column_int(0) > 0) return;
    throw Error(errc::constraint, fmt::format("{}: pool: pool \"{}\" does not exist",
                                              RecordName(noun, b.id).str(), b.pool));
  }
  static void after_write(Writer&, const MemoryBlock&, const MemoryBlock*) {}

  static db::Statement list(db::Connection& c, const MemoryBlockQuery& q) {
    int i = 1;
    db::Statement s = c.prepare(q.pool && q.type ? kListByPoolAndType
                                : q.pool         ? kListByPool
                                : q.type         ? kListByType
                                                 : kList);
    if (q.pool) s.bind_text(i++, *q.pool);
    if (q.type) s.bind_text(i++, to_string(*q.type));
    s.bind_text(i++, q.after);
    s.bind_int(i, sql_limit(q.limit));
    return s;
  }

  static db::Statement count(db::Connection& c, const MemoryBlockQuery& q) {
    int i = 1;
    db::Statement s = c.prepare(q.pool && q.type ? kCountByPoolAndType
                                : q.pool         ? kCountByPool
                                : q.type         ? kCountByType
                                                 : kCount);
    if (q.pool) s.bind_text(i++, *q.pool);
    if (q.type) s.bind_text(i, to_string(*q.type));
    return s;
  }
};

}  // namespace

const KindTransfer kMemoryBlockTransfer{Kind::memory_block, &export_rows<MemoryBlockCodec>, &import_json<MemoryBlockCodec>};

std::int64_t count_blocks_in_pool(db::Connection& conn, std::string_view pool) {
  db::Statement s = conn.prepare(MemoryBlockCodec::kCountByPool);
  s.bind_text(1, pool);
  return s.step() ? s.column_int(0) : 0;
}

void remove_blocks_in_pool(Writer& w, std::string_view pool) {
  std::vector<MemoryBlock> blocks;
  {
    db::Statement s = MemoryBlockCodec::list(w.db(), MemoryBlockQuery{.pool = std::string(pool)});
    while (s.step()) blocks.push_back(read_stored_row<MemoryBlockCodec>(s));
  }
  for (const auto& block : blocks) remove_row<MemoryBlockCodec>(w, block);
}

}  // namespace detail

using detail::MemoryBlockCodec;

std::optional<MemoryBlock> MemoryBlockStore::find(std::string_view id) const {
  return detail::find_record<MemoryBlockCodec>(*ctx_, id);
}
MemoryBlock MemoryBlockStore::get(std::string_view id) const {
  return detail::get_record<MemoryBlockCodec>(*ctx_, id);
}
MemoryBlock MemoryBlockStore::create(MemoryBlock block) {
  return detail::put_record<MemoryBlockCodec>(*ctx_, std::move(block), {},
                                              detail::WriteMode::create_only);
}
MemoryBlock MemoryBlockStore::put(MemoryBlock block, Expect expect) {
  return detail::put_record<MemoryBlockCodec>(*ctx_, std::move(block), expect);
}
std::vector<MemoryBlock> MemoryBlockStore::put_many(std::vector<MemoryBlock> blocks) {
  return detail::put_many_records<MemoryBlockCodec>(*ctx_, std::move(blocks));
}
MemoryBlock MemoryBlockStore::update(std::string_view id,
                                     const std::function<void(MemoryBlock&)>& edit,
                                     Expect expect) {
  return detail::update_record<MemoryBlockCodec>(*ctx_, id, edit, expect);
}
bool MemoryBlockStore::remove(std::string_view id, Expect expect) {
  return detail::remove_record<MemoryBlockCodec>(*ctx_, id, expect);
}
std::vector<MemoryBlock> MemoryBlockStore::list(const MemoryBlockQuery& query) const {
  return detail::list_records<MemoryBlockCodec>(*ctx_, query);
}
std::size_t MemoryBlockStore::count(const MemoryBlockQuery& query) const {
  return detail::count_records<MemoryBlockCodec>(*ctx_, query);
}

}  // namespace cairn
