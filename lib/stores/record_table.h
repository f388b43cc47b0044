// The verbs every store shares, written once over a Codec that knows one
// record kind's table. A Codec provides:
//
//   using Record, Query;  static constexpr Kind kind;  const char* noun;
//   static std::string_view key(const Record&);
//   kSelect (one row by key), kUpsert, kDelete: SQL constants
//   static Record read_row(const db::Statement&);   // columns of kSelect
//   static void bind_row(db::Statement&, const Record&);  // parameters of kUpsert
//   static std::string image(const Record&);  // nlohmann::json(record).dump(), byte for byte
//   static void validate(const Record&, const Options&);
//   static const char* topic(Op);
//   static void stamp(Record&, const Record* before);    // kind-specific fields
//   static void before_write(Writer&, const Record&);    // references, before the row
//   static void after_write(Writer&, const Record&, const Record* before);  // side tables
//   static void after_remove(Writer&, const Record& before);  // optional: side tables
//   static db::Statement list(db::Connection&, const Query&);
//   static db::Statement count(db::Connection&, const Query&);
#pragma once

#include <algorithm>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/records.h"
#include "stores/validate.h"
#include "txn/store_context.h"
#include "util/json_reader.h"

namespace cairn::detail {

// Whether a write may replace an existing record.
enum class WriteMode { upsert, create_only };

// Who sets a written record's timestamps and derived fields (versions,
// registered...): the registry, as on every normal write, or the record
// itself, as an import brings it (then C::stamp and its rules do not run).
enum class Stamping { registry, keep };

inline std::int64_t sql_limit(std::size_t limit) {
  return limit == 0 ? -1 : static_cast<std::int64_t>(limit);
}

// Throws errc::conflict unless `expect` holds for a record whose current
// revision is `current` (0: absent).
inline void check_expect(const RecordName& name, Revision current, Expect expect) {
  if (!expect.revision || *expect.revision == current) return;
  throw Error(errc::conflict,
              fmt::format("{}: expected {}, found {}", name.str(),
                          *expect.revision == 0 ? std::string("no record")
                                                : fmt::format("revision {}", *expect.revision),
                          current == 0 ? std::string("no record")
                                       : fmt::format("revision {}", current)));
}

// C::read_row, for a row that the registry wrote and validated: a row that
// does not parse (bad JSON, an unknown enum name) was damaged on disk or by
// hand, and is reported as errc::corrupt, never as a parser's exception.
template <class C>
typename C::Record read_stored_row(const db::Statement& stmt) {
  try {
    return C::read_row(stmt);
  } catch (const nlohmann::json::exception& e) {
    throw Error(errc::corrupt,
                fmt::format("a stored {} row is damaged: {}", C::noun, e.what()));
  } catch (const Error& e) {
    if (e.code() != errc::invalid_argument) throw;
    throw Error(errc::corrupt, fmt::format("a stored {} row is damaged: {}", C::noun, e.what()));
  }
}

template <class C>
std::optional<typename C::Record> find_row(db::Connection& conn, std::string_view key) {
  db::Statement stmt = conn.prepare(C::kSelect);
  stmt.bind_text(1, key);
  if (!stmt.step()) return std::nullopt;
  return read_stored_row<C>(stmt);
}

template <class C>
std::optional<typename C::Record> find_record(const StoreContext& ctx, std::string_view key) {
  return ctx.read([&](db::Connection& conn) { return find_row<C>(conn, key); });
}

template <class C>
typename C::Record get_record(const StoreContext& ctx, std::string_view key) {
  auto found = find_record<C>(ctx, key);
  if (!found) throw Error(errc::not_found, fmt::format("{}: not found", RecordName(C::noun, key).str()));
  return std::move(*found);
}

// Steps 3 of the write path for one validated record: stamp, write the row,
// add the change-log row. Runs inside ctx.write().
template <class C>
typename C::Record write_row(Writer& w, typename C::Record r, const typename C::Record* before,
                             Stamping stamping = Stamping::registry) {
  if (stamping == Stamping::registry) {
    r.created_at = before ? before->created_at : w.now();
    r.updated_at = w.now();
    C::stamp(r, before);
  } else {
    if (r.created_at == 0) r.created_at = w.now();
    if (r.updated_at == 0) r.updated_at = r.created_at;
  }
  r.revision = w.revision();
  C::before_write(w, r);
  db::Statement stmt = w.db().prepare(C::kUpsert);
  C::bind_row(stmt, r);
  stmt.run();
  C::after_write(w, r, before);
  const Op op = before ? Op::updated : Op::created;
  const char* topic = nullptr;
  if constexpr (requires { C::topic_for(r, before); }) {
    topic = C::topic_for(r, before);  // the topic depends on the change (torrent states)
  } else {
    topic = C::topic(op);
  }
  w.record(C::kind, op, topic, C::key(r),
           before ? std::optional<std::string>(C::image(*before)) : std::nullopt, C::image(r));
  return r;
}

// An imported record: validated, then written as it is (Stamping::keep) over
// any record with its key. Runs inside ctx.write().
template <class C>
typename C::Record import_row(Writer& w, typename C::Record r) {
  C::validate(r, w.options());
  auto before = find_row<C>(w.db(), C::key(r));
  return write_row<C>(w, std::move(r), before ? &*before : nullptr, Stamping::keep);
}

// Removes one existing record and records the change. Runs inside ctx.write().
template <class C>
void remove_row(Writer& w, const typename C::Record& before) {
  db::Statement stmt = w.db().prepare(C::kDelete);
  stmt.bind_text(1, C::key(before));
  stmt.run();
  if constexpr (requires { C::after_remove(w, before); }) C::after_remove(w, before);
  w.record(C::kind, Op::removed, C::topic(Op::removed), C::key(before), C::image(before),
           std::nullopt);
}

template <class C>
typename C::Record put_record(StoreContext& ctx, typename C::Record r, Expect expect,
                              WriteMode mode = WriteMode::upsert) {
  C::validate(r, ctx.options());
  return ctx.write([&](Writer& w) {
    const RecordName name(C::noun, C::key(r));
    auto before = find_row<C>(w.db(), C::key(r));
    if (before && mode == WriteMode::create_only) {
      throw Error(errc::already_exists, fmt::format("{}: already exists", name.str()));
    }
    check_expect(name, before ? before->revision : 0, expect);
    return write_row<C>(w, std::move(r), before ? &*before : nullptr);
  });
}

// put_many's checks, before any SQL: every record is valid, and no key comes
// twice (the second would silently replace the first in the same revision).
template <class C>
void check_batch(const std::vector<typename C::Record>& records, const Options& options) {
  std::unordered_set<std::string_view> keys;
  keys.reserve(records.size());
  for (const auto& r : records) {
    C::validate(r, options);
    if (!keys.insert(C::key(r)).second) {
      throw Error(errc::invalid_argument, fmt::format("{}: appears twice in one put_many",
                                                      RecordName(C::noun, C::key(r)).str()));
    }
  }
}

// Upserts every record in one transaction (a savepoint of the caller's) under
// one revision, each with its own change-log row: all are checked before any
// is written, and a failure writes none. An empty batch opens no transaction.
template <class C>
std::vector<typename C::Record> put_many_records(StoreContext& ctx,
                                                 std::vector<typename C::Record> records) {
  if (records.empty()) return {};
  check_batch<C>(records, ctx.options());
  return ctx.write([&](Writer& w) {
    std::vector<typename C::Record> stored;
    stored.reserve(records.size());
    for (auto& r : records) {
      auto before = find_row<C>(w.db(), C::key(r));
      stored.push_back(write_row<C>(w, std::move(r), before ? &*before : nullptr));
    }
    return stored;
  });
}

template <class C>
typename C::Record update_record(StoreContext& ctx, std::string_view key,
                                 const std::function<void(typename C::Record&)>& edit,
                                 Expect expect) {
  return ctx.write([&](Writer& w) {
    const RecordName name(C::noun, key);
    auto before = find_row<C>(w.db(), key);
    if (!before) throw Error(errc::not_found, fmt::format("{}: not found", name.str()));
    check_expect(name, before->revision, expect);
    typename C::Record edited = *before;
    edit(edited);
    if (C::key(edited) != key) {
      throw Error(errc::invalid_argument,
                  fmt::format("{}: the key cannot be changed by update", name.str()));
    }
    C::validate(edited, ctx.options());
    return write_row<C>(w, std::move(edited), &*before);
  });
}

template <class C>
bool remove_record(StoreContext& ctx, std::string_view key, Expect expect) {
  return ctx.write([&](Writer& w) {
    auto before = find_row<C>(w.db(), key);
    check_expect(RecordName(C::noun, key), before ? before->revision : 0, expect);
    if (!before) return false;
    remove_row<C>(w, *before);
    return true;
  });
}

// Export: every record of the kind on `conn`, by key, in pages.
template <class C>
void export_rows(db::Connection& conn, Timestamp, const std::function<void(nlohmann::json&&)>& sink) {
  constexpr std::size_t kPage = 500;
  typename C::Query query;
  query.limit = kPage;
  for (;;) {
    std::size_t n = 0;
    db::Statement stmt = C::list(conn, query);
    while (stmt.step()) {
      const auto record = read_stored_row<C>(stmt);
      query.after = std::string(C::key(record));
      nlohmann::json j = record;
      j.erase("revision");
      sink(std::move(j));
      ++n;
    }
    if (n < kPage) return;
  }
}

// Import: one record's JSON form, checked and written as it is.
template <class C>
void import_json(Writer& w, const nlohmann::json& j) {
  import_row<C>(w, j.get<typename C::Record>());
}

template <class C>
std::vector<typename C::Record> list_records(const StoreContext& ctx,
                                             const typename C::Query& query) {
  return ctx.read([&](db::Connection& conn) {
    db::Statement stmt = C::list(conn, query);
    std::vector<typename C::Record> out;
    while (stmt.step()) out.push_back(read_stored_row<C>(stmt));
    return out;
  });
}

template <class C>
std::size_t count_records(const StoreContext& ctx, const typename C::Query& query) {
  return ctx.read([&](db::Connection& conn) {
    db::Statement stmt = C::count(conn, query);
    return stmt.step() ? static_cast<std::size_t>(stmt.column_int(0)) : 0;
  });
}

// Column helpers for the codecs.
inline nlohmann::json json_column(const db::Statement& stmt, int column) {
  return parse_stored_json(stmt.column_text(column));
}
inline std::vector<std::string> strings_column(const db::Statement& stmt, int column) {
  return json_column(stmt, column).get<std::vector<std::string>>();
}

// A JSON array of validated keys, ["a","b"]: keys never need escaping, so it
// is written and read without a JSON parser.
inline std::string keys_text(const std::vector<std::string>& keys) {
  std::string out = "[";
  for (const auto& key : keys) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += key;
    out += '"';
  }
  return out + "]";
}

inline std::vector<std::string> keys_column(const db::Statement& stmt, int column) {
  const std::string_view text = stmt.column_text(column);
  // Anything not written by keys_text (an escape, odd spacing) takes the parser.
  if (text.size() < 2 || text.front() != '[' || text.back() != ']' ||
      std::ranges::any_of(text, [](char c) { return c == '\\' || c == ' '; })) {
    return strings_column(stmt, column);
  }
  std::vector<std::string> keys;
  std::string_view rest = text.substr(1, text.size() - 2);
  while (!rest.empty()) {
    const auto end = rest.find('"', 1);
    if (rest.front() != '"' || end == std::string_view::npos) return strings_column(stmt, column);
    keys.emplace_back(rest.substr(1, end - 1));
    rest.remove_prefix(end + 1);
    if (!rest.empty()) {
      if (rest.front() != ',') return strings_column(stmt, column);
      rest.remove_prefix(1);
    }
  }
  return keys;
}
inline std::string text_column(const db::Statement& stmt, int column) {
  return std::string(stmt.column_text(column));
}

}  // namespace cairn::detail
