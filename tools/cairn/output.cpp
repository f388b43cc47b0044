// Writing data to stdout and diagnostics to stderr.

#include <algorithm>
#include <cstddef>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli.h"

namespace cairn::cli {
namespace {

// nlohmann::json::dump throws on a string that is not valid UTF-8; data that
// reached the registry should still print, so bad bytes become U+FFFD.
std::string dump(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Strings without quotes, except the empty one: every line shows a value.
std::string field_text(const nlohmann::json& value) {
  if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
    return value.get<std::string>();
  }
  return dump(value, -1);
}

// Nested objects become dotted keys ("records.apps"), so every line is one value.
void flatten(const nlohmann::json& object, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& fields) {
  for (const auto& [key, value] : object.items()) {  // std::map order: alphabetical
    if (value.is_object() && !value.empty()) {
      flatten(value, prefix + key + ".", fields);
    } else {
      fields.emplace_back(prefix + key, field_text(value));
    }
  }
}

}  // namespace

void print_document(const nlohmann::json& value) { std::cout << dump(value, 2) << '\n'; }

void print_json_line(const nlohmann::json& value) { std::cout << dump(value, -1) << '\n'; }

void print_fields(const nlohmann::json& object, std::initializer_list<std::string_view> first,
                  std::string_view indent) {
  std::vector<std::pair<std::string, std::string>> fields;
  flatten(object, "", fields);
  // The keys in `first` move to the front; the rest keep their alphabetical order.
  std::vector<std::pair<std::string, std::string>> lines;
  for (std::string_view key : first) {
    auto it = std::find_if(fields.begin(), fields.end(),
                           [key](const auto& field) { return field.first == key; });
    if (it == fields.end()) continue;
    lines.push_back(std::move(*it));
    fields.erase(it);
  }
  lines.insert(lines.end(), fields.begin(), fields.end());

  std::size_t width = 0;
  for (const auto& line : lines) width = std::max(width, line.first.size());
  for (const auto& [key, text] : lines) {
    std::cout << indent << key << ':' << std::string(width - key.size() + 1, ' ') << text << '\n';
  }
}

// Built by appending: g++ 12 at -O3 warns (-Wrestrict, a false positive) on
// "\"" + std::string(text) + "\"".
std::string in_quotes(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

void print_error(std::string_view message) {
  std::cout.flush();  // keep the order of interleaved output on a terminal
  std::cerr << "cairn: error: " << message << '\n';
}

}  // namespace cairn::cli
