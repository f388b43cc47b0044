// TorrentSessionStore: the session configuration, one typed document.
#include <cmath>

#include "cairn/stores.h"
#include "records/torrent_session_fields.h"
#include "stores/record_table.h"
#include "stores/transfer.h"

namespace cairn {
namespace detail {
namespace {

// The one row's key: the table holds at most this row.
constexpr std::string_view kSessionKey = "session";

struct TorrentSessionCodec {
  using Record = TorrentSession;
  static constexpr Kind kind = Kind::torrent_session;
  static constexpr const char* noun = "torrent_session";

  static constexpr const char* kSelect =
      "SELECT document, created_at, updated_at, revision FROM torrent_session WHERE id = ?";
  static constexpr const char* kUpsert =
      "INSERT INTO torrent_session (id, document, created_at, updated_at, revision) "
      "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET document = excluded.document, "
      "created_at = excluded.created_at, updated_at = excluded.updated_at, revision = excluded.revision";

  static std::string_view key(const TorrentSession&) { return kSessionKey; }

  // The stored document leaves the stamps to their columns.
  static nlohmann::json document(const TorrentSession& s) {
    nlohmann::json j = s;
    j.erase("created_at");
    j.erase("updated_at");
    j.erase("revision");
    return j;
  }
  static std::string image(const TorrentSession& s) { return nlohmann::json(s).dump(); }

  static TorrentSession read_row(const db::Statement& s) {
    TorrentSession session = json_column(s, 0).get<TorrentSession>();
    session.created_at = s.column_int(1);
    session.updated_at = s.column_int(2);
    session.revision = s.column_int(3);
    return session;
  }

  static void bind_row(db::Statement& s, const TorrentSession& session) {
    s.bind_text(1, kSessionKey)
        .bind_text(2, document(session).dump())
        .bind_int(3, session.created_at)
        .bind_int(4, session.updated_at)
        .bind_int(5, session.revision);
  }

  static void validate(const TorrentSession& session, const Options& options) {
    const RecordName name(noun, kSessionKey);
    for (const auto& field : session_fields()) {
      std::visit(
          [&](auto member) {
            const auto& value = session.*member;
            using T = std::remove_cvref_t<decltype(value)>;
            if constexpr (std::is_same_v<T, std::int64_t>) {
              if (static_cast<double>(value) < field.min || static_cast<double>(value) > field.max) {
                name.fail(field.name, fmt::format("{} is outside {}..{}", value, field.min,
                                                  field.max == kNoMax ? "" : fmt::format("{}", field.max)));
              }
            } else if constexpr (std::is_same_v<T, double>) {
              if (!std::isfinite(value) || value < field.min || value > field.max) {
                name.fail(field.name, fmt::format("{} is outside {}..{}", value, field.min, field.max));
              }
            } else if constexpr (std::is_same_v<T, std::string>) {
              check_text(name, field.name, value, static_cast<std::size_t>(field.max));
            }
          },
          field.member);
    }
    // The unknown keys are kept as they are, within the free-form limits.
    check_json(name, "extra", session.extra, options);
    for (const auto& [key, value] : session.extra.items()) {
      if (find_session_field(key) || key == "created_at" || key == "updated_at" ||
          key == "revision") {
        name.fail("extra", fmt::format("\"{}\" is a known key; set the field instead",
                                       key.substr(0, 48)));
      }
    }
  }

  static const char* topic(Op) { return "torrent_session.changed"; }
  static void stamp(TorrentSession&, const TorrentSession*) {}
  static void before_write(Writer&, const TorrentSession&) {}
  static void after_write(Writer&, const TorrentSession&, const TorrentSession*) {}
};

void export_session(db::Connection& conn, Timestamp, const RecordSink& sink) {
  if (auto session = find_row<TorrentSessionCodec>(conn, kSessionKey)) {
    nlohmann::json j = *session;
    j.erase("revision");
    sink(std::move(j));
  }
}

}  // namespace

const KindTransfer kTorrentSessionTransfer{Kind::torrent_session, &export_session,
                                           &import_json<TorrentSessionCodec>};
}  // namespace detail

using detail::TorrentSessionCodec;

std::optional<TorrentSession> TorrentSessionStore::find() const {
  return detail::find_record<TorrentSessionCodec>(*ctx_, detail::kSessionKey);
}
TorrentSession TorrentSessionStore::load() const {
  auto found = find();
  return found ? std::move(*found) : TorrentSession{};
}
TorrentSession TorrentSessionStore::save(TorrentSession session, Expect expect) {
  return detail::put_record<TorrentSessionCodec>(*ctx_, std::move(session), expect);
}

}  // namespace cairn
