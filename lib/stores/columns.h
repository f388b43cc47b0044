// A record kind's SQL, rows, change-log image and validation, all made from
// its field table (records/fields.h): column i of every statement is field i
// of the table, and a column is named as its field.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "records/fields.h"
#include "stores/record_table.h"
#include "stores/validate.h"
#include "util/json_text.h"

namespace cairn::detail {

// "a, b, c", each name after `prefix` ("t." for a join).
template <class Fields>
std::string column_list(const Fields& fields, std::string_view prefix = {}) {
  std::string out;
  for_each_field(fields, [&](const auto& f, std::size_t i) {
    if (i > 0) out += ", ";
    out += prefix;
    out += f.name;
  });
  return out;
}

// The statements every kind has. The strings live as long as the program
// (the codecs keep them in statics): the statement cache is keyed by address.
struct TableSql {
  std::string columns;  // column_list(fields)
  std::string select;   // one row by id
  std::string upsert;   // insert, or replace every column of the row with that id
  std::string remove;   // by id
  std::string list;     // WHERE id > ? ORDER BY id LIMIT ?
  std::string count;
};

template <class Fields>
TableSql table_sql(std::string_view table, const Fields& fields) {
  const std::string id = id_name(fields);
  TableSql sql;
  sql.columns = column_list(fields);
  const std::string t(table);
  sql.select = "SELECT " + sql.columns + " FROM " + t + " WHERE " + id + " = ?";
  std::string values;
  std::string updates;
  for_each_field(fields, [&](const auto& f, std::size_t i) {
    values += i > 0 ? ", ?" : "?";
    if (f.rule == Rule::id) return;
    if (!updates.empty()) updates += ", ";
    updates += std::string(f.name) + " = excluded." + f.name;
  });
  sql.upsert = "INSERT INTO " + t + " (" + sql.columns + ") VALUES (" + values + ") ON CONFLICT (" +
               id + ") DO UPDATE SET " + updates;
  sql.remove = "DELETE FROM " + t + " WHERE " + id + " = ?";
  sql.list =
      "SELECT " + sql.columns + " FROM " + t + " WHERE " + id + " > ? ORDER BY " + id + " LIMIT ?";
  sql.count = "SELECT count(*) FROM " + t;
  return sql;
}

// ---- One column, by the field's type ----

inline void read_column(const db::Statement& s, int i, std::string& out) { out = text_column(s, i); }
inline void read_column(const db::Statement& s, int i, std::int64_t& out) { out = s.column_int(i); }
inline void read_column(const db::Statement& s, int i, bool& out) { out = s.column_int(i) != 0; }
inline void read_column(const db::Statement& s, int i, std::vector<std::string>& out) {
  out = keys_column(s, i);
}
inline void read_column(const db::Statement& s, int i, nlohmann::json& out) {
  out = json_column(s, i);
}
inline void read_column(const db::Statement& s, int i, PoolType& out) {
  out = pool_type_from_string(s.column_text(i));
}
inline void read_column(const db::Statement& s, int i, BlockType& out) {
  out = block_type_from_string(s.column_text(i));
}
inline void read_column(const db::Statement& s, int i, PoolPolicies& out) {
  const nlohmann::json policies = json_column(s, i);
  out.read = policies.at("read").get<std::vector<std::string>>();
  out.write = policies.at("write").get<std::vector<std::string>>();
}

// Appends the value as nlohmann::json(record).dump() writes it.
inline void append_value(std::string& out, const std::string& v) { append_json_string(out, v); }
inline void append_value(std::string& out, std::int64_t v) { append_json_int(out, v); }
inline void append_value(std::string& out, bool v) { append_json_bool(out, v); }
inline void append_value(std::string& out, const std::vector<std::string>& v) {
  append_json_strings(out, v);
}
inline void append_value(std::string& out, const nlohmann::json& v) { append_json(out, v); }
inline void append_value(std::string& out, PoolType v) { append_json_string(out, to_string(v)); }
inline void append_value(std::string& out, BlockType v) { append_json_string(out, to_string(v)); }
inline void append_value(std::string& out, const PoolPolicies& v) {
  out += "{\"read\":";
  append_json_strings(out, v.read);
  out += ",\"write\":";
  append_json_strings(out, v.write);
  out += '}';
}

template <class T>
void bind_column(db::Statement& s, int i, const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    s.bind_text(i, v);
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    s.bind_int(i, v);
  } else if constexpr (std::is_same_v<T, bool>) {
    s.bind_int(i, v ? 1 : 0);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    s.bind_text(i, keys_text(v));  // validated keys: nothing to escape
  } else if constexpr (std::is_enum_v<T>) {
    s.bind_text(i, to_string(v));
  } else {
    std::string text;  // JSON: free-form values and the policies
    append_value(text, v);
    s.bind_text(i, text);
  }
}

// ---- A whole record ----

template <class R, class Fields>
R read_columns(const db::Statement& s, const Fields& fields) {
  R r;
  for_each_field(fields, [&](const auto& f, std::size_t i) {
    read_column(s, static_cast<int>(i), r.*f.member);
  });
  return r;
}

template <class R, class Fields>
void bind_columns(db::Statement& s, const R& r, const Fields& fields) {
  for_each_field(fields, [&](const auto& f, std::size_t i) {
    bind_column(s, static_cast<int>(i) + 1, r.*f.member);
  });
}

// nlohmann::json(r).dump(), byte for byte (the table is in its key order),
// without building the JSON object: the image is written on every write.
template <class R, class Fields>
std::string image_of(const R& r, const Fields& fields) {
  std::string out = "{";
  for_each_field(fields, [&](const auto& f, std::size_t i) {
    if (i > 0) out += ',';
    out += '"';
    out += f.name;  // field names need no escaping
    out += "\":";
    append_value(out, r.*f.member);
  });
  out += '}';
  return out;
}

template <class F, class T>
void check_field(const RecordName& name, const F& f, const T& v, const Options& options) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (f.rule == Rule::id || f.rule == Rule::key) check_key(name, f.name, v);
    if (f.rule == Rule::text) check_text(name, f.name, v, static_cast<std::size_t>(f.max));
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (f.rule == Rule::range) check_range(name, f.name, v, f.min, f.max);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (f.rule == Rule::keys) check_keys(name, f.name, v);
  } else if constexpr (std::is_same_v<T, nlohmann::json>) {
    if (f.rule == Rule::json_object || f.rule == Rule::json_any) {
      check_json(name, f.name, v, options, /*any_type=*/f.rule == Rule::json_any);
    }
  } else if constexpr (std::is_enum_v<T>) {
    // A value outside the enum (a cast from a bad integer) has no name.
    if (f.rule == Rule::enumeration && std::string_view(to_string(v)) == "unknown") {
      name.fail(f.name, fmt::format("unknown value {}", static_cast<int>(v)));
    }
  } else if constexpr (std::is_same_v<T, PoolPolicies>) {
    const std::string field(f.name);
    check_keys(name, field + ".read", v.read, /*allow_star=*/true);
    check_keys(name, field + ".write", v.write, /*allow_star=*/true);
  }
}

// Every field's rule, the id first (a bad id is reported before anything
// else). Errors name the record and the field (validate.h).
template <class R, class Fields>
void validate_fields(const R& r, const Fields& fields, const char* noun, const Options& options) {
  std::string_view id;
  for_each_field(fields, [&](const auto& f, std::size_t) {
    if constexpr (std::is_same_v<typename std::decay_t<decltype(f)>::Type, std::string>) {
      if (f.rule == Rule::id) id = r.*f.member;
    }
  });
  const RecordName name(noun, id);
  for_each_field(fields, [&](const auto& f, std::size_t) {
    if (f.rule == Rule::id) check_field(name, f, r.*f.member, options);
  });
  for_each_field(fields, [&](const auto& f, std::size_t) {
    if (f.rule != Rule::id) check_field(name, f, r.*f.member, options);
  });
}

// The part of a Codec (record_table.h) that a field table determines, once
// for every kind that has one: the statements, and reading, binding, logging
// and validating a record. A codec derives from TableCodec<itself> and gives
// kTable (the SQL table), kFields (its field table), Record and noun.
//
// The statements live in a function-local static, built on first use: the
// constants below and a codec's own statements (built from sql().columns)
// may then be initialized in any order.
template <class Derived>
struct TableCodec {
  static const TableSql& sql() {
    static const TableSql statements = table_sql(Derived::kTable, Derived::kFields);
    return statements;
  }
  static inline const char* const kSelect = sql().select.c_str();
  static inline const char* const kUpsert = sql().upsert.c_str();
  static inline const char* const kDelete = sql().remove.c_str();
  static inline const char* const kList = sql().list.c_str();
  static inline const char* const kCount = sql().count.c_str();

  static auto read_row(const db::Statement& s) {
    return read_columns<typename Derived::Record>(s, Derived::kFields);
  }
  static void bind_row(db::Statement& s, const auto& r) { bind_columns(s, r, Derived::kFields); }
  static std::string image(const auto& r) { return image_of(r, Derived::kFields); }
  static void validate(const auto& r, const Options& options) {
    validate_fields(r, Derived::kFields, Derived::noun, options);
  }
};

}  // namespace cairn::detail
