// TorrentStore: torrents by info hash, with go-i2p-bt's state hooks as topics.
#include <algorithm>
#include <type_traits>

#include "cairn/stores.h"
#include "records/records_json.h"
#include "stores/record_table.h"
#include "stores/transfer.h"
#include "util/json_text.h"

namespace cairn {
namespace detail {
namespace {

constexpr std::size_t kMaxNameBytes = 1024;
constexpr std::size_t kMaxSavePathBytes = 4096;
constexpr std::size_t kMaxPiecesBytes = 2u << 20;    // 16M pieces
constexpr std::size_t kMaxTrackerUrls = 1000;
constexpr std::size_t kMaxTrackerUrlBytes = 2048;
constexpr std::size_t kMaxFiles = 1'000'000;
constexpr std::int64_t kMaxBytes = std::int64_t{1} << 60;

// TorrentState's rules (records.h), as a table: kAllowed[from][to].
constexpr bool kAllowed[5][5] = {
    //            added  started stopped completed removed
    /* added */ {true, true, true, false, true},
    /* started */ {false, true, true, true, true},
    /* stopped */ {false, true, true, false, true},
    /* completed */ {false, true, true, true, true},
    /* removed */ {false, false, false, false, true},
};

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// ---- The JSON columns and the image, written and read by hand ---------------
// Every torrent write stores five JSON columns and logs one or two images,
// and every read parses the columns: through nlohmann::json these were a
// third of a get's instructions and a fifth of a save's. The text is the same
// (json_text.h); a column that is not in the form written here takes
// nlohmann's parser, as before.

void append_trackers(std::string& out, const std::vector<std::vector<std::string>>& tiers) {
  out += '[';
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    if (i > 0) out += ',';
    append_json_strings(out, tiers[i]);
  }
  out += ']';
}

// {"name":value,...} over one of records_json.h's field tables (limits or
// flags), byte for byte what nlohmann writes: `append` writes one value.
template <class Fields, class Struct, class Append>
void append_fields(std::string& out, const Fields& fields, const Struct& value, Append append) {
  char separator = '{';
  for (const auto& field : fields) {
    out += separator;
    separator = ',';
    out += '"';
    out += field.name;
    out += "\":";
    append(out, value.*field.member);
  }
  out += '}';
}

void append_limits(std::string& out, const TorrentLimits& limits) {
  append_fields(out, kTorrentLimitFields, limits, append_json_int);
}
void append_flags(std::string& out, const TorrentFlags& flags) {
  append_fields(out, kTorrentFlagFields, flags, append_json_bool);
}

// The same form read back, in the same order; nullopt for any other text.
// `read` is the scanner's reader of one value.
template <class Struct, class Fields, class Read>
std::optional<Struct> read_fields(std::string_view text, const Fields& fields, Read read) {
  JsonScanner s(text);
  Struct value;
  if (!s.consume('{')) return std::nullopt;
  for (const auto& field : fields) {
    if (&field != &fields.front() && !s.consume(',')) return std::nullopt;
    if (!s.key(field.name) || !(s.*read)(value.*field.member)) return std::nullopt;
  }
  if (!s.consume('}') || !s.at_end()) return std::nullopt;
  return value;
}

// Any other text of the fields: through nlohmann, each by name.
template <class Struct, class Fields>
Struct fields_from_json(const nlohmann::json& j, const Fields& fields) {
  Struct value;
  for (const auto& field : fields) {
    using Member = std::remove_reference_t<decltype(value.*field.member)>;
    value.*field.member = j.at(field.name).template get<Member>();
  }
  return value;
}

// The columns, by the readers above or, for any other text, as before.
std::vector<std::vector<std::string>> trackers_column(const db::Statement& s, int column) {
  if (auto tiers = read_json_string_arrays(s.column_text(column))) return std::move(*tiers);
  return json_column(s, column).get<std::vector<std::vector<std::string>>>();
}

std::vector<std::int64_t> priorities_column(const db::Statement& s, int column) {
  if (auto priorities = read_json_ints(s.column_text(column))) return std::move(*priorities);
  return json_column(s, column).get<std::vector<std::int64_t>>();
}

TorrentLimits limits_column(const db::Statement& s, int column) {
  if (auto limits = read_fields<TorrentLimits>(s.column_text(column), kTorrentLimitFields,
                                               &JsonScanner::integer)) {
    return *limits;
  }
  return fields_from_json<TorrentLimits>(json_column(s, column), kTorrentLimitFields);
}

TorrentFlags flags_column(const db::Statement& s, int column) {
  if (auto flags = read_fields<TorrentFlags>(s.column_text(column), kTorrentFlagFields,
                                             &JsonScanner::boolean)) {
    return *flags;
  }
  return fields_from_json<TorrentFlags>(json_column(s, column), kTorrentFlagFields);
}

struct TorrentCodec {
  using Record = Torrent;
  using Query = TorrentQuery;
  static constexpr Kind kind = Kind::torrent;
  static constexpr const char* noun = "torrent";

#define CAIRN_TORRENT_COLUMNS                                                                 \
  "info_hash, name, state, save_path, total_size, downloaded, uploaded, pieces, trackers, " \
  "file_priorities, limits, flags, added_at, completed_at, last_activity, metainfo, extra, "   \
  "created_at, updated_at, revision"

  static constexpr const char* kSelect =
      "SELECT " CAIRN_TORRENT_COLUMNS " FROM torrents WHERE info_hash = ?";
  static constexpr const char* kUpsert =
      "INSERT INTO torrents (" CAIRN_TORRENT_COLUMNS
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
  static constexpr const char* kDelete = "DELETE FROM torrents WHERE info_hash = ?";
  static constexpr const char* kList = "SELECT " CAIRN_TORRENT_COLUMNS
                                       " FROM torrents WHERE info_hash > ? "
                                       "ORDER BY info_hash LIMIT ?";
  static constexpr const char* kListByState = "SELECT " CAIRN_TORRENT_COLUMNS
                                              " FROM torrents WHERE state = ? AND info_hash > ? "
                                              "ORDER BY info_hash LIMIT ?";
#undef CAIRN_TORRENT_COLUMNS
  static constexpr const char* kCount = "SELECT count(*) FROM torrents";
  static constexpr const char* kCountByState = "SELECT count(*) FROM torrents WHERE state = ?";

  static std::string_view key(const Torrent& t) { return t.info_hash; }

  // Events carry the metainfo's size, not its bytes (records_json.h): this is
  // torrent_to_json(j, t, false) and j.dump(), byte for byte (keys sorted),
  // without building the JSON object.
  static std::string image(const Torrent& t) {
    std::string out;
    out.reserve(640 + t.name.size() + t.save_path.size() + t.pieces.size() / 3 * 4);
    out += "{\"added_at\":";
    append_json_int(out, t.added_at);
    out += ",\"completed_at\":";
    append_json_int(out, t.completed_at);
    out += ",\"created_at\":";
    append_json_int(out, t.created_at);
    out += ",\"downloaded\":";
    append_json_int(out, t.downloaded);
    out += ",\"extra\":";
    append_json(out, t.extra);
    out += ",\"file_priorities\":";
    append_json_ints(out, t.file_priorities);
    out += ",\"flags\":";
    append_flags(out, t.flags);
    out += ",\"info_hash\":";
    append_json_string(out, t.info_hash);
    out += ",\"last_activity\":";
    append_json_int(out, t.last_activity);
    out += ",\"limits\":";
    append_limits(out, t.limits);
    out += ",\"metainfo_bytes\":";
    append_json_uint(out, t.metainfo.size());
    out += ",\"name\":";
    append_json_string(out, t.name);
    out += ",\"pieces_base64\":";
    append_json_base64(out, t.pieces);
    out += ",\"revision\":";
    append_json_int(out, t.revision);
    out += ",\"save_path\":";
    append_json_string(out, t.save_path);
    out += ",\"state\":";
    append_json_string(out, to_string(t.state));
    out += ",\"total_size\":";
    append_json_int(out, t.total_size);
    out += ",\"trackers\":";
    append_trackers(out, t.trackers);
    out += ",\"updated_at\":";
    append_json_int(out, t.updated_at);
    out += ",\"uploaded\":";
    append_json_int(out, t.uploaded);
    out += '}';
    return out;
  }

  static Torrent read_row(const db::Statement& s) {
    return Torrent{
        .info_hash = text_column(s, 0),
        .name = text_column(s, 1),
        .state = torrent_state_from_string(s.column_text(2)),
        .save_path = text_column(s, 3),
        .total_size = s.column_int(4),
        .downloaded = s.column_int(5),
        .uploaded = s.column_int(6),
        .pieces = std::string(s.column_blob(7)),
        .trackers = trackers_column(s, 8),
        .file_priorities = priorities_column(s, 9),
        .limits = limits_column(s, 10),
        .flags = flags_column(s, 11),
        .added_at = s.column_int(12),
        .completed_at = s.column_int(13),
        .last_activity = s.column_int(14),
        .metainfo = std::string(s.column_blob(15)),
        .extra = parse_stored_json(s.column_text(16)),
        .created_at = s.column_int(17),
        .updated_at = s.column_int(18),
        .revision = s.column_int(19),
    };
  }

  // The JSON columns go into one buffer (one allocation, not five); SQLite
  // copies bound text, so the buffer may go when this returns.
  static void bind_row(db::Statement& s, const Torrent& t) {
    std::string text;
    text.reserve(256);
    std::size_t ends[5] = {};
    append_trackers(text, t.trackers);
    ends[0] = text.size();
    append_json_ints(text, t.file_priorities);
    ends[1] = text.size();
    append_limits(text, t.limits);
    ends[2] = text.size();
    append_flags(text, t.flags);
    ends[3] = text.size();
    append_json(text, t.extra);
    ends[4] = text.size();
    const std::string_view all = text;
    auto column = [&](int k) {
      const std::size_t begin = k == 0 ? 0 : ends[k - 1];
      return all.substr(begin, ends[k] - begin);
    };
    s.bind_text(1, t.info_hash)
        .bind_text(2, t.name)
        .bind_text(3, to_string(t.state))
        .bind_text(4, t.save_path)
        .bind_int(5, t.total_size)
        .bind_int(6, t.downloaded)
        .bind_int(7, t.uploaded)
        .bind_blob_borrowed(8, t.pieces.data(), t.pieces.size())
        .bind_text(9, column(0))
        .bind_text(10, column(1))
        .bind_text(11, column(2))
        .bind_text(12, column(3))
        .bind_int(13, t.added_at)
        .bind_int(14, t.completed_at)
        .bind_int(15, t.last_activity)
        .bind_blob_borrowed(16, t.metainfo.data(), t.metainfo.size())
        .bind_text(17, column(4))
        .bind_int(18, t.created_at)
        .bind_int(19, t.updated_at)
        .bind_int(20, t.revision);
  }

  static void validate(const Torrent& t, const Options& options) {
    const RecordName name(noun, t.info_hash);
    if ((t.info_hash.size() != 40 && t.info_hash.size() != 64) || !lower_hex(t.info_hash)) {
      name.fail("info_hash", "must be 40 (v1) or 64 (v2) lowercase hex digits");
    }
    check_text(name, "name", t.name, kMaxNameBytes);
    check_text(name, "save_path", t.save_path, kMaxSavePathBytes);
    if (t.save_path.find('\0') != std::string::npos) name.fail("save_path", "contains a NUL byte");
    check_range(name, "state", static_cast<int>(t.state), 0,
                static_cast<int>(TorrentState::removed));
    check_range(name, "total_size", t.total_size, 0, kMaxBytes);
    check_range(name, "downloaded", t.downloaded, 0, kMaxBytes);
    check_range(name, "uploaded", t.uploaded, 0, kMaxBytes);
    if (t.pieces.size() > kMaxPiecesBytes) {
      name.fail("pieces", fmt::format("{} bytes, longer than {}", t.pieces.size(), kMaxPiecesBytes));
    }
    std::size_t urls = 0;
    for (const auto& tier : t.trackers) {
      for (const auto& url : tier) {
        if (++urls > kMaxTrackerUrls) {
          name.fail("trackers", fmt::format("more than {} URLs", kMaxTrackerUrls));
        }
        if (url.empty()) name.fail("trackers", "an empty URL");
        check_text(name, "trackers", url, kMaxTrackerUrlBytes);
      }
    }
    if (t.file_priorities.size() > kMaxFiles) {
      name.fail("file_priorities", fmt::format("more than {} files", kMaxFiles));
    }
    for (const std::int64_t p : t.file_priorities) check_range(name, "file_priorities", p, 0, 7);
    check_range(name, "limits.download_rate", t.limits.download_rate, 0, kMaxBytes);
    check_range(name, "limits.upload_rate", t.limits.upload_rate, 0, kMaxBytes);
    check_range(name, "limits.max_connections", t.limits.max_connections, 0, INT32_MAX);
    check_range(name, "limits.max_uploads", t.limits.max_uploads, 0, INT32_MAX);
    check_range(name, "added_at", t.added_at, 0, INT64_MAX);
    check_range(name, "completed_at", t.completed_at, 0, INT64_MAX);
    check_range(name, "last_activity", t.last_activity, 0, INT64_MAX);
    if (t.metainfo.size() > kMaxMetainfoBytes) {
      name.fail("metainfo",
                fmt::format("{} bytes, longer than {}", t.metainfo.size(), kMaxMetainfoBytes));
    }
    check_json(name, "extra", t.extra, options);
  }

  static const char* topic(Op op) {
    return op == Op::removed ? "torrent.removed" : "torrent.updated";
  }

  // go-i2p-bt's hooks: a new torrent is "added" whatever its state; a state
  // change is named after the new state; anything else is an update.
  static const char* topic_for(const Torrent& t, const Torrent* before) {
    if (!before) return "torrent.added";
    if (before->state == t.state) return "torrent.updated";
    switch (t.state) {
      case TorrentState::started: return "torrent.started";
      case TorrentState::stopped: return "torrent.stopped";
      case TorrentState::completed: return "torrent.completed";
      case TorrentState::removed: return "torrent.removed";
      case TorrentState::added: break;
    }
    return "torrent.updated";
  }

  // The state machine runs here, where the stored state is known.
  // updated_at is this write's time.
  static void stamp(Torrent& t, const Torrent* before) {
    const RecordName name(noun, t.info_hash);
    if (!before && t.state == TorrentState::removed) {
      name.fail("state", "a torrent cannot be created in state removed");
    }
    if (before &&
        !kAllowed[static_cast<int>(before->state)][static_cast<int>(t.state)]) {
      name.fail("state", fmt::format("cannot go from {} to {}", to_string(before->state),
                                     to_string(t.state)));
    }
    if (t.added_at == 0) t.added_at = before && before->added_at ? before->added_at : t.updated_at;
    if (t.state == TorrentState::completed && t.completed_at == 0) t.completed_at = t.updated_at;
  }
  static void before_write(Writer&, const Torrent&) {}
  static void after_write(Writer&, const Torrent&, const Torrent*) {}

  static db::Statement list(db::Connection& c, const TorrentQuery& q) {
    int i = 1;
    db::Statement s = c.prepare(q.state ? kListByState : kList);
    if (q.state) s.bind_text(i++, to_string(*q.state));
    s.bind_text(i++, q.after);
    s.bind_int(i, sql_limit(q.limit));
    return s;
  }
  static db::Statement count(db::Connection& c, const TorrentQuery& q) {
    db::Statement s = c.prepare(q.state ? kCountByState : kCount);
    if (q.state) s.bind_text(1, to_string(*q.state));
    return s;
  }
};

}  // namespace

const KindTransfer kTorrentTransfer{Kind::torrent, &export_rows<TorrentCodec>, &import_json<TorrentCodec>};
}  // namespace detail

using detail::TorrentCodec;

std::optional<Torrent> TorrentStore::find(std::string_view info_hash) const {
  return detail::find_record<TorrentCodec>(*ctx_, info_hash);
}
Torrent TorrentStore::get(std::string_view info_hash) const {
  return detail::get_record<TorrentCodec>(*ctx_, info_hash);
}
Torrent TorrentStore::create(Torrent torrent) {
  return detail::put_record<TorrentCodec>(*ctx_, std::move(torrent), {},
                                          detail::WriteMode::create_only);
}
Torrent TorrentStore::put(Torrent torrent, Expect expect) {
  return detail::put_record<TorrentCodec>(*ctx_, std::move(torrent), expect);
}
Torrent TorrentStore::update(std::string_view info_hash,
                             const std::function<void(Torrent&)>& edit, Expect expect) {
  return detail::update_record<TorrentCodec>(*ctx_, info_hash, edit, expect);
}
bool TorrentStore::remove(std::string_view info_hash, Expect expect) {
  return detail::remove_record<TorrentCodec>(*ctx_, info_hash, expect);
}
std::vector<Torrent> TorrentStore::list(const TorrentQuery& query) const {
  return detail::list_records<TorrentCodec>(*ctx_, query);
}
std::size_t TorrentStore::count(const TorrentQuery& query) const {
  return detail::count_records<TorrentCodec>(*ctx_, query);
}
std::vector<Torrent> TorrentStore::put_many(std::vector<Torrent> torrents) {
  return detail::put_many_records<TorrentCodec>(*ctx_, std::move(torrents));
}
std::vector<Torrent> TorrentStore::save_all(std::vector<Torrent> torrents) {
  return put_many(std::move(torrents));
}
std::vector<Torrent> TorrentStore::load_all() const { return list(); }

}  // namespace cairn
