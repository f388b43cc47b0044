// JSON forms of the records (records.h). from_json is strict about types
// (an integer field refuses 1.5 and "1") and refuses unknown fields, so a
// typo or a newer exporter's field is reported instead of silently dropped.
#include <array>
#include <initializer_list>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/records.h"
#include "records/enum_names.h"
#include "records/fields.h"
#include "records/records_json.h"
#include "records/torrent_session_fields.h"
#include "util/base64.h"

namespace cairn {
namespace {

using detail::name_of;
using detail::value_of;

using nlohmann::json;

constexpr std::array<std::pair<PoolType, const char*>, 3> kPoolTypes = {{
    {PoolType::local, "local"},
    {PoolType::global, "global"},
    {PoolType::encrypted, "encrypted"},
}};

constexpr std::array<std::pair<TorrentState, const char*>, 5> kTorrentStates = {{
    {TorrentState::added, "added"},
    {TorrentState::started, "started"},
    {TorrentState::stopped, "stopped"},
    {TorrentState::completed, "completed"},
    {TorrentState::removed, "removed"},
}};

constexpr std::array<std::pair<BlockType, const char*>, 3> kBlockTypes = {{
    {BlockType::binary, "binary"},
    {BlockType::json, "json"},
    {BlockType::stream, "stream"},
}};

// The deepest nesting from_json accepts. Options::max_json_depth (32 by
// default) is checked by the stores; this bound only keeps a copy of hostile
// input from exhausting the stack.
constexpr int kMaxNesting = 512;

// Whether `j` nests deeper than `limit`, measured without recursion.
bool deeper_than(const json& j, int limit) {
  std::vector<std::pair<const json*, int>> todo{{&j, 1}};
  while (!todo.empty()) {
    const auto [value, depth] = todo.back();
    todo.pop_back();
    if (!value->is_structured()) continue;
    if (depth > limit) return true;
    for (const auto& child : *value) {
      if (child.is_structured()) todo.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

// Reads the fields of one record's JSON object, naming the record and the
// field in every error.
class FieldReader {
 public:
  // Unknown fields are refused unless refuse_unknown is false (the torrent
  // session keeps them).
  FieldReader(const json& j, std::string noun, std::initializer_list<const char*> known,
              bool refuse_unknown = true)
      : FieldReader(j, std::move(noun), std::span(known.begin(), known.size()), refuse_unknown) {}
  FieldReader(const json& j, std::string noun, std::span<const char* const> known,
              bool refuse_unknown = true)
      : j_(j), noun_(std::move(noun)) {
    if (!j.is_object()) fail("", fmt::format("must be a JSON object, not {}", j.type_name()));
    // Copying a value is recursive in nlohmann::json: refuse absurd nesting
    // before any field is copied (the stores' own limit is far lower).
    if (deeper_than(j, kMaxNesting)) {
      fail("", fmt::format("nested deeper than {} levels", kMaxNesting));
    }
    for (const auto& [key, value] : j.items()) {
      if (!refuse_unknown) break;
      bool found = false;
      for (const char* k : known) found = found || key == k;
      if (!found) fail(key, "unknown field");
    }
  }

  // The record's key, read first so that later errors can name it.
  void key(const char* field, std::string& out) {
    string(field, out);
    key_ = out;
  }

  void string(const char* field, std::string& out) {
    if (const json* v = find(field)) {
      if (!v->is_string()) wrong_type(field, "a string", *v);
      out = v->get<std::string>();
    }
  }

  void integer(const char* field, std::int64_t& out) {
    if (const json* v = find(field)) {
      if (!v->is_number_integer()) wrong_type(field, "an integer", *v);
      if (v->is_number_unsigned() && v->get<std::uint64_t>() > INT64_MAX) {
        fail(field, "out of range");
      }
      out = v->get<std::int64_t>();
    }
  }

  void boolean(const char* field, bool& out) {
    if (const json* v = find(field)) {
      if (!v->is_boolean()) wrong_type(field, "true or false", *v);
      out = v->get<bool>();
    }
  }

  void strings(const char* field, std::vector<std::string>& out) {
    if (const json* v = find(field)) strings_of(field, *v, out);
  }

  void strings_of(const std::string& field, const json& v, std::vector<std::string>& out) {
    if (!v.is_array()) wrong_type(field, "an array of strings", v);
    out.clear();
    for (const auto& item : v) {
      if (!item.is_string()) wrong_type(field, "an array of strings", v);
      out.push_back(item.get<std::string>());
    }
  }

  // Base64 text in JSON, bytes in the record.
  void binary(const char* field, std::string& out) {
    if (const json* v = find(field)) {
      if (!v->is_string()) wrong_type(field, "a base64 string", *v);
      auto bytes = detail::base64_decode(v->get_ref<const std::string&>());
      if (!bytes) fail(field, "not valid base64");
      out = std::move(*bytes);
    }
  }

  void integers(const char* field, std::vector<std::int64_t>& out) {
    if (const json* v = find(field)) {
      if (!v->is_array()) wrong_type(field, "an array of integers", *v);
      out.clear();
      for (const auto& item : *v) {
        if (!item.is_number_integer() ||
            (item.is_number_unsigned() && item.get<std::uint64_t>() > INT64_MAX)) {
          wrong_type(field, "an array of integers", *v);
        }
        out.push_back(item.get<std::int64_t>());
      }
    }
  }

  void number(const char* field, double& out) {
    if (const json* v = find(field)) {
      if (!v->is_number()) wrong_type(field, "a number", *v);
      out = v->get<double>();
    }
  }

  // An integer, or null for "absent".
  void optional_integer(const char* field, std::optional<std::int64_t>& out) {
    if (const json* v = find(field)) {
      if (v->is_null()) {
        out.reset();
        return;
      }
      std::int64_t value = 0;
      integer(field, value);
      out = value;
    }
  }

  // The object at `field`, read by a reader that names this record.
  template <class Fn>
  void object(const char* field, std::initializer_list<const char*> known, Fn&& read) {
    if (const json* v = find(field)) {
      if (!v->is_object()) wrong_type(field, "an object", *v);
      FieldReader inner(*v, who() + ": " + field, known);
      read(inner);
    }
  }

  void any(const char* field, json& out) {
    if (const json* v = find(field)) out = *v;
  }

  template <class Table, class Enum>
  void enumeration(const char* field, const Table& table, Enum& out) {
    if (const json* v = find(field)) {
      if (!v->is_string()) wrong_type(field, "a string", *v);
      const auto& name = v->get_ref<const std::string&>();
      for (const auto& [value, text] : table) {
        if (name == text) {
          out = value;
          return;
        }
      }
      fail(field, fmt::format("unknown value \"{}\"", name.substr(0, 32)));
    }
  }

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    if (field.empty()) throw Error(errc::invalid_argument, fmt::format("{}: {}", who(), problem));
    throw Error(errc::invalid_argument, fmt::format("{}: {}: {}", who(), field, problem));
  }

  std::string who() const {
    return key_.empty() ? noun_ : fmt::format("{} \"{}\"", noun_, key_.substr(0, 48));
  }

  const json* find(const char* field) const {
    auto it = j_.find(field);
    return it == j_.end() ? nullptr : &*it;
  }

 private:

  [[noreturn]] void wrong_type(const std::string& field, const char* expected,
                               const json& v) const {
    fail(field, fmt::format("expected {}, got {}", expected, v.type_name()));
  }

  const json& j_;
  std::string noun_;
  std::string key_;
};

void put_stamps(json& j, Timestamp created_at, Timestamp updated_at, Revision revision) {
  j["created_at"] = created_at;
  j["updated_at"] = updated_at;
  j["revision"] = revision;
}

template <class Record>
void read_stamps(FieldReader& r, Record& rec) {
  r.integer("created_at", rec.created_at);
  r.integer("updated_at", rec.updated_at);
  r.integer("revision", rec.revision);
}

}  // namespace

const char* to_string(PoolType t) noexcept { return name_of(kPoolTypes, t); }
const char* to_string(BlockType t) noexcept { return name_of(kBlockTypes, t); }
const char* to_string(TorrentState s) noexcept { return name_of(kTorrentStates, s); }
TorrentState torrent_state_from_string(std::string_view s) {
  return value_of(kTorrentStates, s, "torrent state");
}
PoolType pool_type_from_string(std::string_view s) { return value_of(kPoolTypes, s, "pool type"); }
BlockType block_type_from_string(std::string_view s) {
  return value_of(kBlockTypes, s, "block type");
}

// ---- The kinds with a field table (records/fields.h) ----

namespace {

template <class T>
json json_value(const T& v) {
  return json(v);
}
json json_value(PoolType t) { return to_string(t); }
json json_value(BlockType t) { return to_string(t); }
json json_value(const PoolPolicies& p) { return json{{"read", p.read}, {"write", p.write}}; }

template <class R, class Fields>
void table_to_json(json& j, const R& r, const Fields& fields) {
  j = json::object();
  detail::for_each_field(fields, [&](const auto& f, std::size_t) { j[f.name] = json_value(r.*f.member); });
}

void read_field(FieldReader& f, const char* name, std::string& out) { f.string(name, out); }
void read_field(FieldReader& f, const char* name, std::int64_t& out) { f.integer(name, out); }
void read_field(FieldReader& f, const char* name, bool& out) { f.boolean(name, out); }
void read_field(FieldReader& f, const char* name, std::vector<std::string>& out) {
  f.strings(name, out);
}
void read_field(FieldReader& f, const char* name, json& out) { f.any(name, out); }
void read_field(FieldReader& f, const char* name, PoolType& out) {
  f.enumeration(name, kPoolTypes, out);
}
void read_field(FieldReader& f, const char* name, BlockType& out) {
  f.enumeration(name, kBlockTypes, out);
}
void read_field(FieldReader& f, const char* name, PoolPolicies& out) {
  const json* v = f.find(name);
  if (!v) return;
  if (!v->is_object()) f.fail(name, "expected an object with read and write");
  for (const auto& [key, value] : v->items()) {
    if (key == "read") {
      f.strings_of(std::string(name) + ".read", value, out.read);
    } else if (key == "write") {
      f.strings_of(std::string(name) + ".write", value, out.write);
    } else {
      f.fail(std::string(name) + "." + key, "unknown field");
    }
  }
}

// Strict: unknown fields are refused, and the id is read first so that every
// later error names the record.
template <class R, class Fields>
void table_from_json(const json& j, R& r, const char* noun, const Fields& fields) {
  const auto names = std::apply([](const auto&... f) { return std::array{f.name...}; }, fields);
  FieldReader reader(j, noun, names);
  detail::for_each_field(fields, [&](const auto& f, std::size_t) {
    if (f.rule == detail::Rule::id) {
      if constexpr (std::is_same_v<typename std::decay_t<decltype(f)>::Type, std::string>) {
        reader.key(f.name, r.*f.member);
      }
    }
  });
  detail::for_each_field(fields, [&](const auto& f, std::size_t) {
    if (f.rule != detail::Rule::id) read_field(reader, f.name, r.*f.member);
  });
}

}  // namespace

void to_json(json& j, const App& r) { table_to_json(j, r, detail::kAppFields); }
void from_json(const json& j, App& r) { table_from_json(j, r, "app", detail::kAppFields); }
void to_json(json& j, const Pool& r) { table_to_json(j, r, detail::kPoolFields); }
void from_json(const json& j, Pool& r) { table_from_json(j, r, "pool", detail::kPoolFields); }
void to_json(json& j, const MemoryBlock& r) { table_to_json(j, r, detail::kMemoryBlockFields); }
void from_json(const json& j, MemoryBlock& r) {
  table_from_json(j, r, "memory_block", detail::kMemoryBlockFields);
}
void to_json(json& j, const ConfigEntry& r) { table_to_json(j, r, detail::kConfigFields); }
// A config entry without "value" is refused rather than stored as null: a
// missing field is most likely a mistake. An explicit "value": null is a
// JSON value like any other (the field is json_any) and is kept.
void from_json(const json& j, ConfigEntry& r) {
  table_from_json(j, r, "config", detail::kConfigFields);
  if (!j.contains("value")) {
    throw Error(errc::invalid_argument,
                fmt::format("config \"{}\": value: missing (a config entry needs a value; "
                            "null is written as \"value\": null)",
                            r.key.substr(0, 48)));
  }
}

void to_json(json& j, const Torrent& r) { detail::torrent_to_json(j, r, true); }

json detail::torrent_limits_json(const TorrentLimits& limits) {
  json j = json::object();
  for (const auto& field : kTorrentLimitFields) j[field.name] = limits.*field.member;
  return j;
}

json detail::torrent_flags_json(const TorrentFlags& flags) {
  json j = json::object();
  for (const auto& field : kTorrentFlagFields) j[field.name] = flags.*field.member;
  return j;
}

void detail::torrent_to_json(json& j, const Torrent& r, bool with_metainfo) {
  j = json{{"info_hash", r.info_hash},
           {"name", r.name},
           {"state", to_string(r.state)},
           {"save_path", r.save_path},
           {"total_size", r.total_size},
           {"downloaded", r.downloaded},
           {"uploaded", r.uploaded},
           {"pieces_base64", detail::base64_encode(r.pieces)},
           {"trackers", r.trackers},
           {"file_priorities", r.file_priorities},
           {"limits", detail::torrent_limits_json(r.limits)},
           {"flags", detail::torrent_flags_json(r.flags)},
           {"added_at", r.added_at},
           {"completed_at", r.completed_at},
           {"last_activity", r.last_activity},
           {"extra", r.extra}};
  if (with_metainfo) {
    j["metainfo_base64"] = detail::base64_encode(r.metainfo);
  } else {
    j["metainfo_bytes"] = r.metainfo.size();
  }
  put_stamps(j, r.created_at, r.updated_at, r.revision);
}

void from_json(const json& j, Torrent& r) {
  FieldReader f(j, "torrent",
                {"info_hash", "name", "state", "save_path", "total_size", "downloaded", "uploaded",
                 "pieces_base64", "trackers", "file_priorities", "limits", "flags", "added_at",
                 "completed_at", "last_activity", "metainfo_base64", "extra", "created_at",
                 "updated_at", "revision"});
  f.key("info_hash", r.info_hash);
  f.string("name", r.name);
  f.enumeration("state", kTorrentStates, r.state);
  f.string("save_path", r.save_path);
  f.integer("total_size", r.total_size);
  f.integer("downloaded", r.downloaded);
  f.integer("uploaded", r.uploaded);
  f.binary("pieces_base64", r.pieces);
  if (auto it = j.find("trackers"); it != j.end()) {
    if (!it->is_array()) f.fail("trackers", "expected an array of tiers (arrays of URLs)");
    r.trackers.clear();
    for (const auto& tier : *it) {
      r.trackers.emplace_back();
      f.strings_of("trackers", tier, r.trackers.back());
    }
  }
  f.integers("file_priorities", r.file_priorities);
  f.object("limits", {"download_rate", "upload_rate", "max_connections", "max_uploads"},
           [&](FieldReader& l) {
             l.integer("download_rate", r.limits.download_rate);
             l.integer("upload_rate", r.limits.upload_rate);
             l.integer("max_connections", r.limits.max_connections);
             l.integer("max_uploads", r.limits.max_uploads);
           });
  f.object("flags",
           {"paused", "auto_managed", "sequential_download", "seed_mode", "super_seeding",
            "upload_mode", "share_mode"},
           [&](FieldReader& fl) {
             fl.boolean("paused", r.flags.paused);
             fl.boolean("auto_managed", r.flags.auto_managed);
             fl.boolean("sequential_download", r.flags.sequential_download);
             fl.boolean("seed_mode", r.flags.seed_mode);
             fl.boolean("super_seeding", r.flags.super_seeding);
             fl.boolean("upload_mode", r.flags.upload_mode);
             fl.boolean("share_mode", r.flags.share_mode);
           });
  f.integer("added_at", r.added_at);
  f.integer("completed_at", r.completed_at);
  f.integer("last_activity", r.last_activity);
  f.binary("metainfo_base64", r.metainfo);
  f.any("extra", r.extra);
  read_stamps(f, r);
}

void to_json(json& j, const TorrentSession& r) {
  j = r.extra.is_object() ? r.extra : json::object();
  for (const auto& field : detail::session_fields()) {
    std::visit([&](auto member) { j[field.name] = r.*member; }, field.member);
  }
  put_stamps(j, r.created_at, r.updated_at, r.revision);
}

void from_json(const json& j, TorrentSession& r) {
  if (!j.is_object()) {
    throw Error(errc::invalid_argument,
                fmt::format("torrent_session: must be a JSON object, not {}", j.type_name()));
  }
  FieldReader f(j, "torrent_session", {}, /*refuse_unknown=*/false);
  r.extra = json::object();
  for (const auto& [key, value] : j.items()) {
    if (key == "created_at") {
      f.integer("created_at", r.created_at);
    } else if (key == "updated_at") {
      f.integer("updated_at", r.updated_at);
    } else if (key == "revision") {
      f.integer("revision", r.revision);
    } else if (const auto* known = detail::find_session_field(key)) {
      std::visit(
          [&](auto member) {
            using T = std::remove_reference_t<decltype(r.*member)>;
            if constexpr (std::is_same_v<T, bool>) {
              f.boolean(known->name, r.*member);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
              f.integer(known->name, r.*member);
            } else if constexpr (std::is_same_v<T, double>) {
              f.number(known->name, r.*member);
            } else {
              f.string(known->name, r.*member);
            }
          },
          known->member);
    } else {
      r.extra[key] = value;
    }
  }
}

void to_json(json& j, const KvEntry& r) {
  j = json{{"namespace", r.name_space},
           {"key", r.key},
           {"value_base64", detail::base64_encode(r.value)},
           {"version", r.version}};
  if (r.expires_at) j["expires_at"] = *r.expires_at;
  put_stamps(j, r.created_at, r.updated_at, r.revision);
}

void from_json(const json& j, KvEntry& r) {
  FieldReader f(j, "kv", {"namespace", "key", "value_base64", "version", "expires_at",
                          "created_at", "updated_at", "revision"});
  f.string("namespace", r.name_space);
  f.key("key", r.key);
  f.binary("value_base64", r.value);
  f.integer("version", r.version);
  f.optional_integer("expires_at", r.expires_at);
  read_stamps(f, r);
}

void to_json(json& j, const Trigger& r) {
  j = json{{"id", r.id},
           {"origin_app_id", r.origin_app_id},
           {"origin_connection_id", r.origin_connection_id},
           {"destination", r.destination},
           {"pool", r.pool},
           {"process", r.process},
           {"ttl_ms", r.ttl_ms},
           {"expires_at", r.expires_at},
           {"dispatched_to", r.dispatched_to},
           {"completed", r.completed},
           {"created_at", r.created_at},
           {"updated_at", r.updated_at}};
}

void from_json(const json& j, Trigger& r) {
  FieldReader f(j, "trigger",
                {"id", "origin_app_id", "origin_connection_id", "destination", "pool", "process",
                 "ttl_ms", "expires_at", "dispatched_to", "completed", "created_at",
                 "updated_at"});
  f.key("id", r.id);
  f.string("origin_app_id", r.origin_app_id);
  f.string("origin_connection_id", r.origin_connection_id);
  f.string("destination", r.destination);
  f.string("pool", r.pool);
  f.string("process", r.process);
  f.integer("ttl_ms", r.ttl_ms);
  f.integer("expires_at", r.expires_at);
  f.string("dispatched_to", r.dispatched_to);
  f.boolean("completed", r.completed);
  f.integer("created_at", r.created_at);
  f.integer("updated_at", r.updated_at);
}

}  // namespace cairn
