#include "raw_kv_torrent.h"

#include <fmt/format.h>

#include <chrono>
#include <iterator>
#include <stdexcept>

namespace cairn_bench {
namespace {

constexpr const char* kActor = "cairn";
constexpr const char* kBegin = "BEGIN IMMEDIATE";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kAllocateRevision = kNextRevisionSql;
constexpr const char* kAppendChange =
    "INSERT INTO change_log (revision, idx, kind, op, topic, record_id, before, after, at, actor) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

// The statements of lib/stores/kv.cpp.
#define KV_COLUMNS "namespace, key, value, version, expires_at, created_at, updated_at, revision"
constexpr const char* kKvSelect =
    "SELECT " KV_COLUMNS " FROM kv_entries WHERE namespace = ? AND key = ?";
constexpr const char* kKvDelete = "DELETE FROM kv_entries WHERE namespace = ? AND key = ?";
constexpr const char* kKvUpsert =
    "INSERT INTO kv_entries (" KV_COLUMNS
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
    "value = excluded.value, version = excluded.version, expires_at = excluded.expires_at, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at, "
    "revision = excluded.revision";
#define KV_LIVE " AND (expires_at IS NULL OR expires_at > ?) ORDER BY key LIMIT ?"
constexpr const char* kKvListInclusive =
    "SELECT " KV_COLUMNS " FROM kv_entries WHERE namespace = ? AND key >= ? AND key < ?" KV_LIVE;
constexpr const char* kKvListExclusive =
    "SELECT " KV_COLUMNS " FROM kv_entries WHERE namespace = ? AND key > ? AND key < ?" KV_LIVE;
#undef KV_LIVE
#undef KV_COLUMNS

// The statements of lib/stores/torrents.cpp.
#define TORRENT_COLUMNS                                                                      \
  "info_hash, name, state, save_path, total_size, downloaded, uploaded, pieces, trackers, "  \
  "file_priorities, limits, flags, added_at, completed_at, last_activity, metainfo, extra, " \
  "created_at, updated_at, revision"
constexpr const char* kTorrentSelect =
    "SELECT " TORRENT_COLUMNS " FROM torrents WHERE info_hash = ?";
constexpr const char* kTorrentUpsert =
    "INSERT INTO torrents (" TORRENT_COLUMNS
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (info_hash) DO UPDATE SET name = excluded.name, state = excluded.state, "
    "save_path = excluded.save_path, total_size = excluded.total_size, "
    "downloaded = excluded.downloaded, uploaded = excluded.uploaded, "
    "pieces = excluded.pieces, trackers = excluded.trackers, "
    "file_priorities = excluded.file_priorities, limits = excluded.limits, "
    "flags = excluded.flags, added_at = excluded.added_at, "
    "completed_at = excluded.completed_at, last_activity = excluded.last_activity, "
    "metainfo = excluded.metainfo, extra = excluded.extra, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at, "
    "revision = excluded.revision";
#undef TORRENT_COLUMNS

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string text_column(sqlite3_stmt* s, int column) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  return text ? std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s, column)))
              : std::string();
}

std::string blob_column(sqlite3_stmt* s, int column) {
  const auto* bytes = static_cast<const char*>(sqlite3_column_blob(s, column));
  return bytes ? std::string(bytes, static_cast<std::size_t>(sqlite3_column_bytes(s, column)))
               : std::string();
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.reserve(out.size() + (bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) -> std::uint32_t { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = byte(i) << 16;
    if (rest == 2) n |= byte(i + 1) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
}

// A JSON string as nlohmann::json writes it, for the text this workload uses
// (no control characters: those take \u escapes here, short escapes there).
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
}

// The entry's JSON image, keys sorted as nlohmann::json writes them.
void kv_image(std::string& out, const RawKvEntry& e) {
  out.clear();
  fmt::format_to(std::back_inserter(out), R"({{"created_at":{},)", e.created_at);
  if (e.expires_at) fmt::format_to(std::back_inserter(out), R"("expires_at":{},)", *e.expires_at);
  out += R"("key":)";
  append_json_string(out, e.key);
  out += R"(,"namespace":)";
  append_json_string(out, e.name_space);
  fmt::format_to(std::back_inserter(out), R"(,"revision":{},"updated_at":{},"value_base64":")",
                 e.revision, e.updated_at);
  append_base64(out, e.value);
  fmt::format_to(std::back_inserter(out), R"(","version":{}}})", e.version);
}

// The torrent's image without its metainfo (metainfo_bytes instead), as
// TorrentStore writes it to the change log.
void torrent_image(std::string& out, const RawTorrent& t) {
  out.clear();
  auto it = std::back_inserter(out);
  fmt::format_to(it, R"({{"added_at":{},"completed_at":{},"created_at":{},"downloaded":{},)",
                 t.added_at, t.completed_at, t.created_at, t.downloaded);
  fmt::format_to(it, R"("extra":{},"file_priorities":{},"flags":{},"info_hash":"{}",)",
                 t.extra_json, t.file_priorities_json, t.flags_json, t.info_hash);
  fmt::format_to(it, R"("last_activity":{},"limits":{},"metainfo_bytes":{},"name":)",
                 t.last_activity, t.limits_json, t.metainfo.size());
  append_json_string(out, t.name);
  out += R"(,"pieces_base64":")";
  append_base64(out, t.pieces);
  fmt::format_to(it, R"(","revision":{},"save_path":)", t.revision);
  append_json_string(out, t.save_path);
  fmt::format_to(it, R"(,"state":"{}","total_size":{},"trackers":{},"updated_at":{},)", t.state,
                 t.total_size, t.trackers_json, t.updated_at);
  fmt::format_to(it, R"("uploaded":{}}})", t.uploaded);
}

RawKvEntry read_kv_row(sqlite3_stmt* s) {
  RawKvEntry e;
  e.name_space = text_column(s, 0);
  e.key = text_column(s, 1);
  e.value = blob_column(s, 2);
  e.version = sqlite3_column_int64(s, 3);
  if (sqlite3_column_type(s, 4) != SQLITE_NULL) e.expires_at = sqlite3_column_int64(s, 4);
  e.created_at = sqlite3_column_int64(s, 5);
  e.updated_at = sqlite3_column_int64(s, 6);
  e.revision = sqlite3_column_int64(s, 7);
  return e;
}

RawTorrent read_torrent_row(sqlite3_stmt* s) {
  RawTorrent t;
  t.info_hash = text_column(s, 0);
  t.name = text_column(s, 1);
  t.state = text_column(s, 2);
  t.save_path = text_column(s, 3);
  t.total_size = sqlite3_column_int64(s, 4);
  t.downloaded = sqlite3_column_int64(s, 5);
  t.uploaded = sqlite3_column_int64(s, 6);
  t.pieces = blob_column(s, 7);
  t.trackers_json = text_column(s, 8);
  t.file_priorities_json = text_column(s, 9);
  t.limits_json = text_column(s, 10);
  t.flags_json = text_column(s, 11);
  t.added_at = sqlite3_column_int64(s, 12);
  t.completed_at = sqlite3_column_int64(s, 13);
  t.last_activity = sqlite3_column_int64(s, 14);
  t.metainfo = blob_column(s, 15);
  t.extra_json = text_column(s, 16);
  t.created_at = sqlite3_column_int64(s, 17);
  t.updated_at = sqlite3_column_int64(s, 18);
  t.revision = sqlite3_column_int64(s, 19);
  return t;
}

// The smallest string above every string that starts with `prefix`.
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) throw std::invalid_argument("raw kv list: a prefix with no upper bound");
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

sqlite3* writer_handle(RawConnection& conn, bool synchronous_full) {
  set_writer_pragmas(conn, synchronous_full);
  return conn.handle();
}

sqlite3* reader_handle(RawConnection& conn) {
  set_reader_pragmas(conn);
  return conn.handle();
}

void step_once(RawStatement& s) {
  s.step();
  s.reset();
}

}  // namespace

// ---- RawKvWriter ------------------------------------------------------------

RawKvWriter::RawKvWriter(const std::filesystem::path& path, bool synchronous_full)
    : conn_(path, SQLITE_OPEN_READWRITE),
      begin_(writer_handle(conn_, synchronous_full), kBegin),
      commit_(conn_.handle(), kCommit),
      select_(conn_.handle(), kKvSelect),
      delete_(conn_.handle(), kKvDelete),
      allocate_revision_(conn_.handle(), kAllocateRevision),
      upsert_(conn_.handle(), kKvUpsert),
      append_change_(conn_.handle(), kAppendChange) {}

void RawKvWriter::begin() {
  step_once(begin_);
  revision_ = 0;
  change_index_ = 0;
}

void RawKvWriter::commit() {
  try {
    step_once(commit_);
  } catch (...) {
    sqlite3_exec(conn_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void RawKvWriter::put(std::string_view ns, std::string_view key, std::string_view value) {
  begin();
  try {
    put_in_transaction(ns, key, value);
  } catch (...) {
    sqlite3_exec(conn_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  commit();
}

std::optional<RawKvEntry> RawKvWriter::find(std::string_view ns, std::string_view key) {
  select_.bind_text(1, ns);
  select_.bind_text(2, key);
  std::optional<RawKvEntry> found;
  if (select_.step()) found = read_kv_row(select_.get());
  select_.reset();
  return found;
}

std::int64_t RawKvWriter::revision() {
  if (revision_ == 0) {
    allocate_revision_.step();
    revision_ = sqlite3_column_int64(allocate_revision_.get(), 0);
    allocate_revision_.reset();
  }
  return revision_;
}

void RawKvWriter::log(const char* op, const char* topic, const std::string& id,
                      const std::string* before, const std::string* after, std::int64_t now) {
  append_change_.bind_int(1, revision());
  append_change_.bind_int(2, change_index_++);
  append_change_.bind_text(3, "kv");
  append_change_.bind_text(4, op);
  append_change_.bind_text(5, topic);
  append_change_.bind_text(6, id);
  if (before) {
    append_change_.bind_text(7, *before);
  } else {
    append_change_.bind_null(7);
  }
  if (after) {
    append_change_.bind_text(8, *after);
  } else {
    append_change_.bind_null(8);
  }
  append_change_.bind_int(9, now);
  append_change_.bind_text(10, kActor);
  step_once(append_change_);
}

void RawKvWriter::put_in_transaction(std::string_view ns, std::string_view key,
                                     std::string_view value) {
  const std::int64_t now = now_ms();
  id_.assign(ns);
  id_ += '/';
  id_ += key;
  std::optional<RawKvEntry> before = find(ns, key);
  if (before && before->expires_at && *before->expires_at <= now) {
    delete_.bind_text(1, ns);
    delete_.bind_text(2, key);
    step_once(delete_);
    kv_image(before_, *before);
    log("expired", "kv.expired", id_, &before_, nullptr, now);
    before.reset();
  }

  RawKvEntry e;
  e.name_space.assign(ns);
  e.key.assign(key);
  e.value.assign(value);
  e.version = before ? before->version + 1 : 1;
  e.created_at = before ? before->created_at : now;
  e.updated_at = now;
  e.revision = revision();

  upsert_.bind_text(1, e.name_space);
  upsert_.bind_text(2, e.key);
  upsert_.bind_blob(3, e.value);
  upsert_.bind_int(4, e.version);
  upsert_.bind_null(5);
  upsert_.bind_int(6, e.created_at);
  upsert_.bind_int(7, e.updated_at);
  upsert_.bind_int(8, e.revision);
  step_once(upsert_);

  kv_image(after_, e);
  if (before) kv_image(before_, *before);
  log(before ? "updated" : "created", "kv.put", id_, before ? &before_ : nullptr, &after_, now);
}

// ---- RawKvReader ------------------------------------------------------------

RawKvReader::RawKvReader(const std::filesystem::path& path)
    : conn_(path, SQLITE_OPEN_READONLY),
      select_(reader_handle(conn_), kKvSelect),
      list_inclusive_(conn_.handle(), kKvListInclusive),
      list_exclusive_(conn_.handle(), kKvListExclusive) {}

std::optional<RawKvEntry> RawKvReader::get(std::string_view ns, std::string_view key) {
  select_.bind_text(1, ns);
  select_.bind_text(2, key);
  std::optional<RawKvEntry> found;
  if (select_.step()) found = read_kv_row(select_.get());
  select_.reset();
  if (found && found->expires_at && *found->expires_at <= now_ms()) found.reset();
  return found;
}

std::vector<RawKvEntry> RawKvReader::list(std::string_view ns, std::string_view prefix,
                                          std::string_view after, std::int64_t limit) {
  const std::string end = prefix_end(prefix);
  const bool after_inside = after >= prefix;
  RawStatement& s = after_inside ? list_exclusive_ : list_inclusive_;
  s.bind_text(1, ns);
  s.bind_text(2, after_inside ? after : prefix);
  s.bind_text(3, end);
  s.bind_int(4, now_ms());
  s.bind_int(5, limit);
  std::vector<RawKvEntry> out;
  while (s.step()) out.push_back(read_kv_row(s.get()));
  s.reset();
  return out;
}

// ---- RawTorrentWriter -------------------------------------------------------

RawTorrentWriter::RawTorrentWriter(const std::filesystem::path& path, bool synchronous_full)
    : conn_(path, SQLITE_OPEN_READWRITE),
      begin_(writer_handle(conn_, synchronous_full), kBegin),
      commit_(conn_.handle(), kCommit),
      select_(conn_.handle(), kTorrentSelect),
      allocate_revision_(conn_.handle(), kAllocateRevision),
      upsert_(conn_.handle(), kTorrentUpsert),
      append_change_(conn_.handle(), kAppendChange) {}

std::optional<RawTorrent> RawTorrentWriter::find(std::string_view info_hash) {
  select_.bind_text(1, info_hash);
  std::optional<RawTorrent> found;
  if (select_.step()) found = read_torrent_row(select_.get());
  select_.reset();
  return found;
}

void RawTorrentWriter::save_all(const std::vector<RawTorrent>& torrents) {
  step_once(begin_);
  revision_ = 0;
  change_index_ = 0;
  try {
    for (const RawTorrent& t : torrents) put_in_transaction(t);
    step_once(commit_);
  } catch (...) {
    sqlite3_exec(conn_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void RawTorrentWriter::put_in_transaction(const RawTorrent& torrent) {
  const std::int64_t now = now_ms();
  const std::optional<RawTorrent> before = find(torrent.info_hash);
  if (revision_ == 0) {
    allocate_revision_.step();
    revision_ = sqlite3_column_int64(allocate_revision_.get(), 0);
    allocate_revision_.reset();
  }

  RawTorrent t = torrent;
  t.created_at = before ? before->created_at : now;
  t.updated_at = now;
  if (t.added_at == 0) t.added_at = before && before->added_at ? before->added_at : now;
  if (t.state == "completed" && t.completed_at == 0) t.completed_at = now;
  t.revision = revision_;

  upsert_.bind_text(1, t.info_hash);
  upsert_.bind_text(2, t.name);
  upsert_.bind_text(3, t.state);
  upsert_.bind_text(4, t.save_path);
  upsert_.bind_int(5, t.total_size);
  upsert_.bind_int(6, t.downloaded);
  upsert_.bind_int(7, t.uploaded);
  upsert_.bind_blob(8, t.pieces);
  upsert_.bind_text(9, t.trackers_json);
  upsert_.bind_text(10, t.file_priorities_json);
  upsert_.bind_text(11, t.limits_json);
  upsert_.bind_text(12, t.flags_json);
  upsert_.bind_int(13, t.added_at);
  upsert_.bind_int(14, t.completed_at);
  upsert_.bind_int(15, t.last_activity);
  upsert_.bind_blob(16, t.metainfo);
  upsert_.bind_text(17, t.extra_json);
  upsert_.bind_int(18, t.created_at);
  upsert_.bind_int(19, t.updated_at);
  upsert_.bind_int(20, t.revision);
  step_once(upsert_);

  const std::string topic = !before                    ? std::string("torrent.added")
                            : before->state == t.state ? std::string("torrent.updated")
                                                       : "torrent." + t.state;
  torrent_image(after_, t);
  append_change_.bind_int(1, revision_);
  append_change_.bind_int(2, change_index_++);
  append_change_.bind_text(3, "torrent");
  append_change_.bind_text(4, before ? "updated" : "created");
  append_change_.bind_text(5, topic);
  append_change_.bind_text(6, t.info_hash);
  if (before) {
    torrent_image(before_, *before);
    append_change_.bind_text(7, before_);
  } else {
    append_change_.bind_null(7);
  }
  append_change_.bind_text(8, after_);
  append_change_.bind_int(9, now);
  append_change_.bind_text(10, kActor);
  step_once(append_change_);
}

// ---- RawTorrentReader -------------------------------------------------------

RawTorrentReader::RawTorrentReader(const std::filesystem::path& path)
    : conn_(path, SQLITE_OPEN_READONLY), select_(reader_handle(conn_), kTorrentSelect) {}

std::optional<RawTorrent> RawTorrentReader::get(std::string_view info_hash) {
  select_.bind_text(1, info_hash);
  std::optional<RawTorrent> found;
  if (select_.step()) found = read_torrent_row(select_.get());
  select_.reset();
  return found;
}

// ---- Work checks ------------------------------------------------------------

TableCheck raw_table_check(const std::filesystem::path& path, std::string_view table,
                           std::string_view bytes_sql) {
  RawConnection conn(path, SQLITE_OPEN_READONLY);
  auto query = [&](const std::string& sql) {
    RawStatement s(conn.handle(), sql.c_str());
    return s.step() ? sqlite3_column_int64(s.get(), 0) : 0;
  };
  TableCheck c;
  c.rows = query(fmt::format("SELECT count(*) FROM {}", table));
  c.row_bytes = query(fmt::format("SELECT total({}) FROM {}", bytes_sql, table));
  c.changes = query("SELECT count(*) FROM change_log");
  c.revision = query(kLastRevisionSql);
  c.image_bytes =
      query("SELECT total(length(after)) + total(coalesce(length(before), 0)) FROM change_log");
  return c;
}

}  // namespace cairn_bench
