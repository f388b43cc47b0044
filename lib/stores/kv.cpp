// KvStore: namespaced key-value entries with versions, compare-and-swap and
// TTL. Keyed by (namespace, key) in a WITHOUT ROWID table, so a prefix list
// is one range of the primary key.
#include "stores/kv.h"

#include "cairn/stores.h"
#include "stores/record_table.h"
#include "stores/transfer.h"

namespace cairn {
namespace detail {
namespace {

constexpr const char* kNoun = "kv";
constexpr std::size_t kMaxKvKeyBytes = 1024;
constexpr std::size_t kPage = 1000;

#define CAIRN_KV_COLUMNS \
  "namespace, key, value, version, expires_at, created_at, updated_at, revision"
constexpr const char* kSelect =
    "SELECT " CAIRN_KV_COLUMNS " FROM kv_entries WHERE namespace = ? AND key = ?";
constexpr const char* kUpsert =
    "INSERT INTO kv_entries (" CAIRN_KV_COLUMNS
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
    "value = excluded.value, version = excluded.version, expires_at = excluded.expires_at, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at, "
    "revision = excluded.revision";
constexpr const char* kDelete = "DELETE FROM kv_entries WHERE namespace = ? AND key = ?";
// Live entries from `from` (inclusive) up to `to` (exclusive), after `after`.
constexpr const char* kListRange =
    "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND key >= ? AND key < ? AND key > ? "
    "AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?";
constexpr const char* kListFrom =
    "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND key >= ? AND key > ? "
    "AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?";
// Every row (expired too) under a prefix: what erase_prefix removes.
constexpr const char* kAllRange =
    "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND key >= ? AND key < ? ORDER BY key";
constexpr const char* kAllFrom =
    "SELECT " CAIRN_KV_COLUMNS " FROM kv_entries WHERE namespace = ? AND key >= ? ORDER BY key";
constexpr const char* kExpiredInNamespace =
    "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND expires_at <= ? ORDER BY key LIMIT ?";
constexpr const char* kExpiredAll =
    "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE expires_at <= ? ORDER BY expires_at LIMIT ?";
constexpr const char* kEveryLive =
    "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE (namespace, key) > (?, ?) "
    "AND (expires_at IS NULL OR expires_at > ?) ORDER BY namespace, key LIMIT ?";
#undef CAIRN_KV_COLUMNS
constexpr const char* kInfo =
    "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0) "
    "FROM kv_entries WHERE namespace = ? AND (expires_at IS NULL OR expires_at > ?)";

std::string event_id(const KvEntry& e) { return e.name_space + "/" + e.key; }
std::string image(const KvEntry& e) { return nlohmann::json(e).dump(); }
bool expired(const KvEntry& e, Timestamp now) { return e.expires_at && *e.expires_at <= now; }

KvEntry read_row(const db::Statement& s) {
  return KvEntry{
      .name_space = text_column(s, 0),
      .key = text_column(s, 1),
      .value = std::string(s.column_blob(2)),
      .version = s.column_int(3),
      .expires_at = s.is_null(4) ? std::nullopt : std::optional<Timestamp>(s.column_int(4)),
      .created_at = s.column_int(5),
      .updated_at = s.column_int(6),
      .revision = s.column_int(7),
  };
}

std::vector<KvEntry> read_rows(db::Statement& s) {
  std::vector<KvEntry> out;
  while (s.step()) out.push_back(read_row(s));
  return out;
}

std::optional<KvEntry> find_entry(db::Connection& conn, std::string_view ns, std::string_view key) {
  db::Statement s = conn.prepare(kSelect);
  s.bind_text(1, ns).bind_text(2, key);
  if (!s.step()) return std::nullopt;
  return read_row(s);
}

// The smallest string above every string that starts with `prefix`, or
// nullopt when there is none (empty, or only 0xff bytes).
std::optional<std::string> prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

void check_name_space(std::string_view ns) {
  if (auto problem = key_problem(ns); !problem.empty()) {
    RecordName(kNoun, ns).fail("namespace", problem);
  }
}

void check_kv_key(const RecordName& name, std::string_view key) {
  if (key.empty()) name.fail("key", "empty");
  if (key.size() > kMaxKvKeyBytes) {
    name.fail("key", fmt::format("{} bytes, longer than {}", key.size(), kMaxKvKeyBytes));
  }
  if (!valid_utf8(key)) name.fail("key", "not valid UTF-8");
  for (const char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) name.fail("key", "a control character");
  }
}

void check_item(std::string_view ns, const KvItem& item, const Options& options) {
  const std::string id = fmt::format("{}/{}", ns, item.key);
  const RecordName name(kNoun, id);
  check_kv_key(name, item.key);
  if (item.value.size() > options.max_kv_value_bytes) {
    name.fail("value", fmt::format("{} bytes, longer than {}", item.value.size(),
                                   options.max_kv_value_bytes));
  }
  if (item.options.ttl_ms && *item.options.ttl_ms <= 0) {
    name.fail("ttl_ms", fmt::format("{} is not a positive duration", *item.options.ttl_ms));
  }
  if (item.options.expect_version && *item.options.expect_version < 0) {
    name.fail("expect_version", "negative");
  }
}

void write_entry(Writer& w, const KvEntry& e) {
  db::Statement s = w.db().prepare(kUpsert);
  s.bind_text(1, e.name_space)
      .bind_text(2, e.key)
      .bind_blob(3, e.value.data(), e.value.size())
      .bind_int(4, e.version);
  if (e.expires_at) {
    s.bind_int(5, *e.expires_at);
  } else {
    s.bind_null(5);
  }
  s.bind_int(6, e.created_at).bind_int(7, e.updated_at).bind_int(8, e.revision);
  s.run();
}

// Removes a row, with its event: kv.expired when it had expired, else kv.removed.
void remove_entry(Writer& w, const KvEntry& e) {
  db::Statement s = w.db().prepare(kDelete);
  s.bind_text(1, e.name_space).bind_text(2, e.key);
  s.run();
  const bool gone = expired(e, w.now());
  w.record(Kind::kv, gone ? Op::expired : Op::removed, gone ? "kv.expired" : "kv.removed",
           event_id(e), image(e), std::nullopt);
}

// The live entry at (ns, key), after removing it if it had expired.
std::optional<KvEntry> live_entry(Writer& w, std::string_view ns, std::string_view key) {
  auto current = find_entry(w.db(), ns, key);
  if (current && expired(*current, w.now())) {
    remove_entry(w, *current);
    current.reset();
  }
  return current;
}

KvEntry put_item(Writer& w, std::string_view ns, const KvItem& item) {
  auto before = live_entry(w, ns, item.key);
  const std::int64_t version = before ? before->version : 0;
  if (item.options.expect_version && *item.options.expect_version != version) {
    throw Error(errc::conflict,
                fmt::format("{}: expected version {}, found {}",
                            RecordName(kNoun, fmt::format("{}/{}", ns, item.key)).str(),
                            *item.options.expect_version,
                            version == 0 ? std::string("no entry") : fmt::format("version {}", version)));
  }
  const Timestamp now = w.now();
  KvEntry entry{
      .name_space = std::string(ns),
      .key = item.key,
      .value = item.value,
      .version = version + 1,
      .expires_at = item.options.ttl_ms ? std::optional<Timestamp>(now + *item.options.ttl_ms)
                                        : std::nullopt,
      .created_at = before ? before->created_at : now,
      .updated_at = now,
      .revision = w.revision(),
  };
  write_entry(w, entry);
  w.record(Kind::kv, before ? Op::updated : Op::created, "kv.put", event_id(entry),
           before ? std::optional<std::string>(image(*before)) : std::nullopt, image(entry));
  return entry;
}

// Removes every row the statement yields (selected before any is deleted).
std::size_t remove_selected(Writer& w, db::Statement s) {
  const std::vector<KvEntry> rows = read_rows(s);
  for (const auto& e : rows) remove_entry(w, e);
  return rows.size();
}

}  // namespace

std::size_t purge_expired_kv(StoreContext& ctx, std::size_t limit, bool wait) {
  std::size_t removed = 0;
  auto purge = [&](Writer& w) {
    db::Statement s = w.db().prepare(kExpiredAll);
    s.bind_int(1, w.now()).bind_int(2, sql_limit(limit));
    removed = remove_selected(w, std::move(s));
  };
  if (wait) {
    ctx.write(purge);
  } else {
    ctx.try_write(purge);
  }
  return removed;
}

void export_kv(db::Connection& conn, Timestamp now, const RecordSink& sink) {
  std::string ns, key;
  for (;;) {
    db::Statement s = conn.prepare(kEveryLive);
    s.bind_text(1, ns).bind_text(2, key).bind_int(3, now).bind_int(4, kPage);
    const std::vector<KvEntry> page = read_rows(s);
    for (const auto& e : page) {
      nlohmann::json j = e;
      j.erase("revision");
      sink(std::move(j));
    }
    if (page.size() < kPage) return;
    ns = page.back().name_space;
    key = page.back().key;
  }
}

void import_kv(Writer& w, const nlohmann::json& j) {
  KvEntry entry = j.get<KvEntry>();
  check_name_space(entry.name_space);
  check_item(entry.name_space, KvItem{.key = entry.key, .value = entry.value}, w.options());
  const RecordName name(kNoun, event_id(entry));
  if (entry.version < 1) name.fail("version", "must be at least 1");
  auto before = find_entry(w.db(), entry.name_space, entry.key);
  if (entry.created_at == 0) entry.created_at = w.now();
  if (entry.updated_at == 0) entry.updated_at = entry.created_at;
  entry.revision = w.revision();
  write_entry(w, entry);
  w.record(Kind::kv, before ? Op::updated : Op::created, "kv.put", event_id(entry),
           before ? std::optional<std::string>(image(*before)) : std::nullopt, image(entry));
}

const KindTransfer kKvTransfer{Kind::kv, &export_kv, &import_kv};

}  // namespace detail

using detail::RecordName;

KvStore::KvStore(detail::StoreContext* ctx, std::string name_space)
    : ctx_(ctx), name_space_(std::move(name_space)) {
  detail::check_name_space(name_space_);
}

std::optional<KvEntry> KvStore::find(std::string_view key) const {
  return ctx_->read([&](db::Connection& c) -> std::optional<KvEntry> {
    auto found = detail::find_entry(c, name_space_, key);
    if (!found || detail::expired(*found, ctx_->now())) return std::nullopt;
    return found;
  });
}

KvEntry KvStore::get(std::string_view key) const {
  auto found = find(key);
  if (!found) {
    throw Error(errc::not_found,
                fmt::format("{}: not found", RecordName("kv", fmt::format("{}/{}", name_space_, key)).str()));
  }
  return std::move(*found);
}

bool KvStore::exists(std::string_view key) const { return find(key).has_value(); }

KvEntry KvStore::put(std::string_view key, std::string_view value, const KvWriteOptions& options) {
  const KvItem item{.key = std::string(key), .value = std::string(value), .options = options};
  detail::check_item(name_space_, item, ctx_->options());
  if (options.ttl_ms && ctx_->on_expiring_write) ctx_->on_expiring_write();
  return ctx_->write([&](detail::Writer& w) { return detail::put_item(w, name_space_, item); });
}

std::vector<KvEntry> KvStore::put_many(const std::vector<KvItem>& items) {
  for (const auto& item : items) {
    detail::check_item(name_space_, item, ctx_->options());
    if (item.options.ttl_ms && ctx_->on_expiring_write) ctx_->on_expiring_write();
  }
  return ctx_->write([&](detail::Writer& w) {
    std::vector<KvEntry> stored;
    stored.reserve(items.size());
    for (const auto& item : items) stored.push_back(detail::put_item(w, name_space_, item));
    return stored;
  });
}

bool KvStore::erase(std::string_view key, std::optional<std::int64_t> expect_version) {
  return ctx_->write([&](detail::Writer& w) {
    auto current = detail::live_entry(w, name_space_, key);
    const std::int64_t version = current ? current->version : 0;
    if (expect_version && *expect_version != version) {
      throw Error(errc::conflict,
                  fmt::format("{}: expected version {}, found {}",
                              RecordName("kv", fmt::format("{}/{}", name_space_, key)).str(),
                              *expect_version,
                              version == 0 ? std::string("no entry") : fmt::format("version {}", version)));
    }
    if (!current) return false;
    detail::remove_entry(w, *current);
    return true;
  });
}

std::vector<KvEntry> KvStore::list(const KvQuery& query) const {
  const auto end = detail::prefix_end(query.prefix);
  return ctx_->read([&](db::Connection& c) {
    int i = 1;
    db::Statement s = c.prepare(end ? detail::kListRange : detail::kListFrom);
    s.bind_text(i++, name_space_);
    s.bind_text(i++, query.prefix);
    if (end) s.bind_text(i++, *end);
    s.bind_text(i++, query.after);
    s.bind_int(i++, ctx_->now());
    s.bind_int(i, detail::sql_limit(query.limit));
    return detail::read_rows(s);
  });
}

std::size_t KvStore::erase_prefix(std::string_view prefix) {
  const auto end = detail::prefix_end(prefix);
  return ctx_->write([&](detail::Writer& w) {
    db::Statement s = w.db().prepare(end ? detail::kAllRange : detail::kAllFrom);
    s.bind_text(1, name_space_).bind_text(2, prefix);
    if (end) s.bind_text(3, *end);
    return detail::remove_selected(w, std::move(s));
  });
}

std::size_t KvStore::clear() { return erase_prefix(""); }

KvInfo KvStore::info() const {
  return ctx_->read([&](db::Connection& c) {
    db::Statement s = c.prepare(detail::kInfo);
    s.bind_text(1, name_space_).bind_int(2, ctx_->now());
    KvInfo info;
    if (s.step()) {
      info.entries = s.column_int(0);
      info.bytes = s.column_int(1);
    }
    return info;
  });
}

std::size_t KvStore::purge_expired() {
  return ctx_->write([&](detail::Writer& w) {
    db::Statement s = w.db().prepare(detail::kExpiredInNamespace);
    s.bind_text(1, name_space_).bind_int(2, w.now()).bind_int(3, -1);
    return detail::remove_selected(w, std::move(s));
  });
}

}  // namespace cairn
