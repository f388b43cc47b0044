// MemoryBlockStore: blocks live in an existing pool; version counts writes.
#include "stores/memory_blocks.h"

#include "cairn/stores.h"
#include "stores/record_table.h"
#include "stores/transfer.h"

namespace cairn {
namespace detail {
namespace {

constexpr std::size_t kMaxBlockNameBytes = 256;
constexpr std::int64_t kMaxBlockSize = std::int64_t{1} << 50;  // 1 PiB

struct MemoryBlockCodec {
  using Record = MemoryBlock;
  using Query = MemoryBlockQuery;
  static constexpr Kind kind = Kind::memory_block;
  static constexpr const char* noun = "memory_block";

#define CAIRN_BLOCK_COLUMNS                                                              \
  "id, name, pool, size, type, permissions, version, persistent, encrypted, config, " \
  "created_at, updated_at, revision"

  static constexpr const char* kSelect =
      "SELECT " CAIRN_BLOCK_COLUMNS " FROM memory_blocks WHERE id = ?";
  static constexpr const char* kUpsert =
      "INSERT INTO memory_blocks (" CAIRN_BLOCK_COLUMNS
      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT (id) DO UPDATE SET name = excluded.name, pool = excluded.pool, "
      "size = excluded.size, type = excluded.type, permissions = excluded.permissions, "
      "version = excluded.version, persistent = excluded.persistent, "
      "encrypted = excluded.encrypted, config = excluded.config, "
      "updated_at = excluded.updated_at, revision = excluded.revision";
  static constexpr const char* kDelete = "DELETE FROM memory_blocks WHERE id = ?";
  static constexpr const char* kList = "SELECT " CAIRN_BLOCK_COLUMNS
                                       " FROM memory_blocks WHERE id > ? ORDER BY id LIMIT ?";
  static constexpr const char* kListByPool =
      "SELECT " CAIRN_BLOCK_COLUMNS
      " FROM memory_blocks WHERE pool = ? AND id > ? ORDER BY id LIMIT ?";
  static constexpr const char* kListByType =
      "SELECT " CAIRN_BLOCK_COLUMNS
      " FROM memory_blocks WHERE type = ? AND id > ? ORDER BY id LIMIT ?";
  static constexpr const char* kListByPoolAndType =
      "SELECT " CAIRN_BLOCK_COLUMNS
      " FROM memory_blocks WHERE pool = ? AND type = ? AND id > ? ORDER BY id LIMIT ?";
#undef CAIRN_BLOCK_COLUMNS
  static constexpr const char* kCount = "SELECT count(*) FROM memory_blocks";
  static constexpr const char* kCountByPool =
      "SELECT count(*) FROM memory_blocks WHERE pool = ?";
  static constexpr const char* kCountByType =
      "SELECT count(*) FROM memory_blocks WHERE type = ?";
  static constexpr const char* kCountByPoolAndType =
      "SELECT count(*) FROM memory_blocks WHERE pool = ? AND type = ?";
  static constexpr const char* kPoolExists = "SELECT count(*) FROM pools WHERE name = ?";

  static std::string_view key(const MemoryBlock& b) { return b.id; }
  static std::string image(const MemoryBlock& r) { return nlohmann::json(r).dump(); }

  static MemoryBlock read_row(const db::Statement& s) {
    return MemoryBlock{
        .id = text_column(s, 0),
        .name = text_column(s, 1),
        .pool = text_column(s, 2),
        .size = s.column_int(3),
        .type = block_type_from_string(s.column_text(4)),
        .permissions = json_column(s, 5),
        .version = s.column_int(6),
        .persistent = s.column_int(7) != 0,
        .encrypted = s.column_int(8) != 0,
        .config = json_column(s, 9),
        .created_at = s.column_int(10),
        .updated_at = s.column_int(11),
        .revision = s.column_int(12),
    };
  }

  static void bind_row(db::Statement& s, const MemoryBlock& b) {
    s.bind_text(1, b.id)
        .bind_text(2, b.name)
        .bind_text(3, b.pool)
        .bind_int(4, b.size)
        .bind_text(5, to_string(b.type))
        .bind_text(6, b.permissions.dump())
        .bind_int(7, b.version)
        .bind_int(8, b.persistent ? 1 : 0)
        .bind_int(9, b.encrypted ? 1 : 0)
        .bind_text(10, b.config.dump())
        .bind_int(11, b.created_at)
        .bind_int(12, b.updated_at)
        .bind_int(13, b.revision);
  }

  static void validate(const MemoryBlock& b, const Options& options) {
    const RecordName name(noun, b.id);
    check_key(name, "id", b.id);
    check_text(name, "name", b.name, kMaxBlockNameBytes);
    check_key(name, "pool", b.pool);
    check_range(name, "size", b.size, 0, kMaxBlockSize);
    check_range(name, "type", static_cast<int>(b.type), 0, static_cast<int>(BlockType::stream));
    check_json(name, "permissions", b.permissions, options);
    check_json(name, "config", b.config, options);
  }

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
