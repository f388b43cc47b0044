// JSON forms of the records (records.h). from_json is strict about types
// (an integer field refuses 1.5 and "1") and refuses unknown fields, so a
// typo or a newer exporter's field is reported instead of silently dropped.
#include <array>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>

#include "cairn/error.h"
#include "cairn/records.h"
#include "enum_names.h"

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

constexpr std::array<std::pair<BlockType, const char*>, 3> kBlockTypes = {{
    {BlockType::binary, "binary"},
    {BlockType::json, "json"},
    {BlockType::stream, "stream"},
}};

// Reads the fields of one record's JSON object, naming the record and the
// field in every error.
class FieldReader {
 public:
  FieldReader(const json& j, const char* noun, std::initializer_list<const char*> known)
      : j_(j), noun_(noun) {
    if (!j.is_object()) fail("", fmt::format("must be a JSON object, not {}", j.type_name()));
    for (const auto& [key, value] : j.items()) {
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
    std::string who = key_.empty() ? noun_ : fmt::format("{} \"{}\"", noun_, key_.substr(0, 48));
    if (field.empty()) throw Error(errc::invalid_argument, fmt::format("{}: {}", who, problem));
    throw Error(errc::invalid_argument, fmt::format("{}: {}: {}", who, field, problem));
  }

 private:
  const json* find(const char* field) const {
    auto it = j_.find(field);
    return it == j_.end() ? nullptr : &*it;
  }

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
PoolType pool_type_from_string(std::string_view s) { return value_of(kPoolTypes, s, "pool type"); }
BlockType block_type_from_string(std::string_view s) {
  return value_of(kBlockTypes, s, "block type");
}

void to_json(json& j, const App& r) {
  j = json{{"id", r.id},
           {"pools", r.pools},
           {"triggers", r.triggers},
           {"meta", r.meta},
           {"protocol_version", r.protocol_version},
           {"registered", r.registered},
           {"last_seen", r.last_seen},
           {"rehydrated", r.rehydrated}};
  put_stamps(j, r.created_at, r.updated_at, r.revision);
}

void from_json(const json& j, App& r) {
  FieldReader f(j, "app",
                {"id", "pools", "triggers", "meta", "protocol_version", "registered", "last_seen",
                 "rehydrated", "created_at", "updated_at", "revision"});
  f.key("id", r.id);
  f.strings("pools", r.pools);
  f.strings("triggers", r.triggers);
  f.any("meta", r.meta);
  f.string("protocol_version", r.protocol_version);
  f.integer("registered", r.registered);
  f.integer("last_seen", r.last_seen);
  f.boolean("rehydrated", r.rehydrated);
  read_stamps(f, r);
}

void to_json(json& j, const Pool& r) {
  j = json{{"name", r.name},
           {"type", to_string(r.type)},
           {"encrypted", r.encrypted},
           {"owners", r.owners},
           {"policies", {{"read", r.policies.read}, {"write", r.policies.write}}},
           {"description", r.description},
           {"config", r.config}};
  put_stamps(j, r.created_at, r.updated_at, r.revision);
}

void from_json(const json& j, Pool& r) {
  FieldReader f(j, "pool",
                {"name", "type", "encrypted", "owners", "policies", "description", "config",
                 "created_at", "updated_at", "revision"});
  f.key("name", r.name);
  f.enumeration("type", kPoolTypes, r.type);
  f.boolean("encrypted", r.encrypted);
  f.strings("owners", r.owners);
  if (auto it = j.find("policies"); it != j.end()) {
    if (!it->is_object()) f.fail("policies", "expected an object with read and write");
    for (const auto& [key, value] : it->items()) {
      if (key == "read") {
        f.strings_of("policies.read", value, r.policies.read);
      } else if (key == "write") {
        f.strings_of("policies.write", value, r.policies.write);
      } else {
        f.fail("policies." + key, "unknown field");
      }
    }
  }
  f.string("description", r.description);
  f.any("config", r.config);
  read_stamps(f, r);
}

void to_json(json& j, const MemoryBlock& r) {
  j = json{{"id", r.id},
           {"name", r.name},
           {"pool", r.pool},
           {"size", r.size},
           {"type", to_string(r.type)},
           {"permissions", r.permissions},
           {"version", r.version},
           {"persistent", r.persistent},
           {"encrypted", r.encrypted},
           {"config", r.config}};
  put_stamps(j, r.created_at, r.updated_at, r.revision);
}

void from_json(const json& j, MemoryBlock& r) {
  FieldReader f(j, "memory_block",
                {"id", "name", "pool", "size", "type", "permissions", "version", "persistent",
                 "encrypted", "config", "created_at", "updated_at", "revision"});
  f.key("id", r.id);
  f.string("name", r.name);
  f.string("pool", r.pool);
  f.integer("size", r.size);
  f.enumeration("type", kBlockTypes, r.type);
  f.any("permissions", r.permissions);
  f.integer("version", r.version);
  f.boolean("persistent", r.persistent);
  f.boolean("encrypted", r.encrypted);
  f.any("config", r.config);
  read_stamps(f, r);
}

void to_json(json& j, const ConfigEntry& r) {
  j = json{{"key", r.key}, {"value", r.value}};
  put_stamps(j, r.created_at, r.updated_at, r.revision);
}

void from_json(const json& j, ConfigEntry& r) {
  FieldReader f(j, "config", {"key", "value", "created_at", "updated_at", "revision"});
  f.key("key", r.key);
  f.any("value", r.value);
  read_stamps(f, r);
}

}  // namespace cairn
