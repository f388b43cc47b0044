#include "stores/validate.h"

#include <fmt/format.h>

#include "cairn/error.h"
#include "util/json_text.h"
#include "util/utf8.h"

namespace cairn::detail {
namespace {

constexpr std::size_t kMaxKeyBytes = 128;
constexpr std::size_t kShownKeyBytes = 48;

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '@' || c == '/' || c == '-';
}

// Depth of a JSON value: a scalar is 0, [] and {} are 1. Iterative.
int json_depth(const nlohmann::json& root, int limit) {
  struct Frame {
    const nlohmann::json* value;
    int depth;
  };
  std::vector<Frame> stack{{&root, 0}};
  int deepest = 0;
  while (!stack.empty()) {
    auto [value, depth] = stack.back();
    stack.pop_back();
    if (!value->is_structured()) continue;
    const int here = depth + 1;
    deepest = std::max(deepest, here);
    if (deepest > limit) return deepest;
    for (const auto& child : *value) stack.push_back({&child, here});
  }
  return deepest;
}

// Every string (keys included) is valid UTF-8. Iterative, like json_depth.
bool json_utf8(const nlohmann::json& root) {
  std::vector<const nlohmann::json*> stack{&root};
  while (!stack.empty()) {
    const nlohmann::json* value = stack.back();
    stack.pop_back();
    if (value->is_string()) {
      if (!valid_utf8(value->get_ref<const std::string&>())) return false;
    } else if (value->is_object()) {
      for (const auto& [key, child] : value->items()) {
        if (!valid_utf8(key)) return false;
        stack.push_back(&child);
      }
    } else if (value->is_array()) {
      for (const auto& child : *value) stack.push_back(&child);
    }
  }
  return true;
}

}  // namespace

std::string RecordName::str() const {
  std::string shown;
  for (unsigned char c : key_.substr(0, kShownKeyBytes)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      shown += static_cast<char>(c);
    } else {
      shown += fmt::format("\\x{:02x}", c);
    }
  }
  if (key_.size() > kShownKeyBytes) shown += fmt::format("... ({} bytes)", key_.size());
  return fmt::format("{} \"{}\"", noun_, shown);
}

void RecordName::fail(std::string_view field, std::string_view problem) const {
  throw Error(errc::invalid_argument, fmt::format("{}: {}: {}", str(), field, problem));
}

std::string key_problem(std::string_view key) {
  if (key.empty()) return "must not be empty";
  if (key.size() > kMaxKeyBytes) {
    return fmt::format("{} bytes, longer than {}", key.size(), kMaxKeyBytes);
  }
  if (key.front() == '.' || key.front() == '/') return "must not start with '.' or '/'";
  for (char c : key) {
    if (!key_char(c)) {
      return fmt::format("byte 0x{:02x} is not allowed (only A-Z a-z 0-9 . _ : @ / -)",
                         static_cast<unsigned char>(c));
    }
  }
  return {};
}

void check_key(const RecordName& rec, std::string_view field, std::string_view key) {
  if (auto problem = key_problem(key); !problem.empty()) rec.fail(field, problem);
}

void check_keys(const RecordName& rec, std::string_view field, const std::vector<std::string>& keys,
                bool allow_star) {
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (allow_star && keys[i] == "*") continue;
    if (auto problem = key_problem(keys[i]); !problem.empty()) {
      rec.fail(fmt::format("{}[{}]", field, i), problem);
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (keys[j] == keys[i]) rec.fail(fmt::format("{}[{}]", field, i), "duplicate entry");
    }
  }
}

void check_text(const RecordName& rec, std::string_view field, std::string_view text,
                std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    rec.fail(field, fmt::format("{} bytes, longer than {}", text.size(), max_bytes));
  }
  if (!valid_utf8(text)) rec.fail(field, "not valid UTF-8");
}

void check_range(const RecordName& rec, std::string_view field, std::int64_t value,
                 std::int64_t min, std::int64_t max) {
  if (value < min || value > max) {
    rec.fail(field, fmt::format("{} is outside {}..{}", value, min, max));
  }
}

void check_json(const RecordName& rec, std::string_view field, const nlohmann::json& value,
                const Options& options, bool any_type) {
  if (!any_type && !value.is_object()) {
    rec.fail(field, fmt::format("must be a JSON object, not {}", value.type_name()));
  }
  if (json_depth(value, options.max_json_depth) > options.max_json_depth) {
    rec.fail(field, fmt::format("nesting deeper than {} levels", options.max_json_depth));
  }
  if (!json_utf8(value)) rec.fail(field, "a string is not valid UTF-8");
  std::string text;
  append_json(text, value);
  const std::size_t bytes = text.size();
  if (bytes > options.max_json_bytes) {
    rec.fail(field, fmt::format("{} bytes serialized, more than {}", bytes, options.max_json_bytes));
  }
}

}  // namespace cairn::detail
