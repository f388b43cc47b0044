// KvStore: namespaced key-value entries with versions, compare-and-swap and
// TTL. Keyed by (namespace, key) in a WITHOUT ROWID table, so a prefix list
// is one range of the primary key.
#include "stores/kv.h"

#include "cairn/stores.h"
#include "stores/record_table.h"
#include "stores/transfer.h"
#include "util/json_text.h"

namespace cairn {
namespace detail {
namespace {

constexpr const char* kNoun = "kv";
constexpr std::size_t kMaxKvKeyBytes = 1024;
constexpr std::size_t kPage = 1000;
constexpr std::int64_t kMaxTtlMs = 100ll * 365 * 24 * 3600 * 1000;

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
// Live entries from a lower bound up to `end` (exclusive, when the prefix
// has one). One lower bound only, so that each page is one seek into the
// primary key: `key > after` when after is inside the range, else
// `key >= prefix`.
#define CAIRN_KV_LIVE " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?"
constexpr const char* kListFromInclusive = "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND key >= ?" CAIRN_KV_LIVE;
constexpr const char* kListFromExclusive = "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND key > ?" CAIRN_KV_LIVE;
constexpr const char* kListRangeInclusive = "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND key >= ? AND key < ?" CAIRN_KV_LIVE;
constexpr const char* kListRangeExclusive = "SELECT " CAIRN_KV_COLUMNS
    " FROM kv_entries WHERE namespace = ? AND key > ? AND key < ?" CAIRN_KV_LIVE;
#undef CAIRN_KV_LIVE
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
constexpr const char* kAnyExpired =
    "SELECT count(*) FROM (SELECT 1 FROM kv_entries WHERE expires_at <= ? LIMIT 1)";
constexpr const char* kInfo =
    "SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) + length(value)), 0) "
    "FROM kv_entries WHERE namespace = ? AND (expires_at IS NULL OR expires_at > ?)";

std::string event_id(const KvEntry& e) { return e.name_space + "/" + e.key; }

// nlohmann::json(e).dump(), byte for byte (keys sorted), without building the
// JSON object: every put logs this image, and building it through nlohmann
// was a third of a put_many's instructions.
std::string image(const KvEntry& e) {
  std::string out;
  out.reserve(160 + e.name_space.size() + e.key.size() + e.value.size() / 3 * 4);
  out += "{\"created_at\":";
  append_json_int(out, e.created_at);
  if (e.expires_at) {
    out += ",\"expires_at\":";
    append_json_int(out, *e.expires_at);
  }
  out += ",\"key\":";
  append_json_string(out, e.key);
  out += ",\"namespace\":";
  append_json_string(out, e.name_space);
  out += ",\"revision\":";
  append_json_int(out, e.revision);
  out += ",\"updated_at\":";
  append_json_int(out, e.updated_at);
  out += ",\"value_base64\":";
  append_json_base64(out, e.value);
  out += ",\"version\":";
  append_json_int(out, e.version);
  out += '}';
  return out;
}

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

// The entry (ns, key) in messages: "kv \"ns/key\"".
std::string entry_name(std::string_view ns, std::string_view key) {
  return RecordName(kNoun, fmt::format("{}/{}", ns, key)).str();
}

[[noreturn]] void fail_item(std::string_view ns, std::string_view key, std::string_view field,
                            std::string_view problem) {
  RecordName(kNoun, fmt::format("{}/{}", ns, key)).fail(field, problem);
}

// What is wrong with a KV key, or empty.
std::string kv_key_problem(std::string_view key) {
  if (key.empty()) return "empty";
  if (key.size() > kMaxKvKeyBytes) {
    return fmt::format("{} bytes, longer than {}", key.size(), kMaxKvKeyBytes);
  }
  if (!valid_utf8(key)) return "not valid UTF-8";
  for (const char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "a control character";
  }
  return {};
}

// One write's key, value size and options. The entry's name is formatted only
// for a message: this runs for every item of every put.
void check_item(std::string_view ns, std::string_view key, std::size_t value_bytes,
                const KvWriteOptions& write, const Options& options) {
  if (auto problem = kv_key_problem(key); !problem.empty()) fail_item(ns, key, "key", problem);
  if (value_bytes > options.max_kv_value_bytes) {
    fail_item(ns, key, "value",
              fmt::format("{} bytes, longer than {}", value_bytes, options.max_kv_value_bytes));
  }
  if (write.ttl_ms && (*write.ttl_ms <= 0 || *write.ttl_ms > kMaxTtlMs)) {
    fail_item(ns, key, "ttl_ms",
              fmt::format("{} is outside 1..{} (100 years)", *write.ttl_ms, kMaxTtlMs));
  }
  if (write.expect_version && *write.expect_version < 0) {
    fail_item(ns, key, "expect_version", "negative");
  }
}

// Compare-and-swap on versions, for put and erase: throws errc::conflict
// unless `expected` is unset or equals `current` (0: no live entry).
void check_expect_version(std::string_view ns, std::string_view key,
                          std::optional<std::int64_t> expected, std::int64_t current) {
  if (!expected || *expected == current) return;
  throw Error(errc::conflict,
              fmt::format("{}: expected version {}, found {}", entry_name(ns, key), *expected,
                          current == 0 ? std::string("no entry")
                                       : fmt::format("version {}", current)));
}

void write_entry(Writer& w, const KvEntry& e) {
  db::Statement s = w.db().prepare(kUpsert);
  s.bind_text(1, e.name_space)
      .bind_text(2, e.key)
      .bind_blob_borrowed(3, e.value.data(), e.value.size())
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

// The row written and its change-log row; the entry is built once, with the
// only copy of the value.
KvEntry put_item(Writer& w, std::string_view ns, std::string_view key, std::string_view value,
                 const KvWriteOptions& options) {
  auto before = live_entry(w, ns, key);
  const std::int64_t version = before ? before->version : 0;
  check_expect_version(ns, key, options.expect_version, version);
  const Timestamp now = w.now();
  KvEntry entry{
      .name_space = std::string(ns),
      .key = std::string(key),
      .value = std::string(value),
      .version = version + 1,
      .expires_at =
          options.ttl_ms ? std::optional<Timestamp>(now + *options.ttl_ms) : std::nullopt,
      .created_at = before ? before->created_at : now,
      .updated_at = now,
      .revision = w.revision(),
  };
  write_entry(w, entry);
  std::optional<std::string> before_image;
  if (before) before_image = image(*before);
  w.record(Kind::kv, before ? Op::updated : Op::created, "kv.put", event_id(entry),
           std::move(before_image), image(entry));
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
  // A look on a reader first: an idle registry takes no write lock.
  const bool any = ctx.read([&](db::Connection& c) {
    db::Statement s = c.prepare(kAnyExpired);
    s.bind_int(1, ctx.now());
    return s.step() && s.column_int(0) > 0;
  });
  if (!any) return 0;
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
  check_item(entry.name_space, entry.key, entry.value.size(), KvWriteOptions{}, w.options());
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
                fmt::format("{}: not found", detail::entry_name(name_space_, key)));
  }
  return std::move(*found);
}

bool KvStore::exists(std::string_view key) const { return find(key).has_value(); }

KvEntry KvStore::put(std::string_view key, std::string_view value, const KvWriteOptions& options) {
  detail::check_item(name_space_, key, value.size(), options, ctx_->options());
  if (options.ttl_ms && ctx_->on_expiring_write) ctx_->on_expiring_write();
  return ctx_->write(
      [&](detail::Writer& w) { return detail::put_item(w, name_space_, key, value, options); });
}

std::vector<KvEntry> KvStore::put_many(const std::vector<KvItem>& items) {
  for (const auto& item : items) {
    detail::check_item(name_space_, item.key, item.value.size(), item.options, ctx_->options());
    if (item.options.ttl_ms && ctx_->on_expiring_write) ctx_->on_expiring_write();
  }
  return ctx_->write([&](detail::Writer& w) {
    std::vector<KvEntry> stored;
    stored.reserve(items.size());
    for (const auto& item : items) {
      stored.push_back(detail::put_item(w, name_space_, item.key, item.value, item.options));
    }
    return stored;
  });
}

bool KvStore::erase(std::string_view key, std::optional<std::int64_t> expect_version) {
  return ctx_->write([&](detail::Writer& w) {
    auto current = detail::live_entry(w, name_space_, key);
    detail::check_expect_version(name_space_, key, expect_version,
                                 current ? current->version : 0);
    if (!current) return false;
    detail::remove_entry(w, *current);
    return true;
  });
}

std::vector<KvEntry> KvStore::list(const KvQuery& query) const {
  const auto end = detail::prefix_end(query.prefix);
  return ctx_->read([&](db::Connection& c) {
    const bool after_inside = query.after >= query.prefix;
    const char* sql = end ? (after_inside ? detail::kListRangeExclusive : detail::kListRangeInclusive)
                          : (after_inside ? detail::kListFromExclusive : detail::kListFromInclusive);
    int i = 1;
    db::Statement s = c.prepare(sql);
    s.bind_text(i++, name_space_);
    s.bind_text(i++, after_inside ? query.after : query.prefix);
    if (end) s.bind_text(i++, *end);
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
