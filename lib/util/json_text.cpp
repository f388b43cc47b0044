#include "util/json_text.h"

#include <charconv>

#include "util/base64.h"
#include "util/json_reader.h"
#include "util/utf8.h"

namespace cairn::detail {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Deeper values are left to nlohmann (whose dump recurses as deep as this).
constexpr int kMaxDepth = 128;

void append_value(std::string& out, const nlohmann::json& v, int depth) {
  if (depth > kMaxDepth) {
    out += v.dump();
    return;
  }
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out += "null";
      return;
    case nlohmann::json::value_t::boolean:
      append_json_bool(out, v.get<bool>());
      return;
    case nlohmann::json::value_t::number_integer:
      append_json_int(out, v.get<std::int64_t>());
      return;
    case nlohmann::json::value_t::number_unsigned:
      append_json_uint(out, v.get<std::uint64_t>());
      return;
    case nlohmann::json::value_t::string:
      append_json_string(out, v.get_ref<const std::string&>());
      return;
    case nlohmann::json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : v) {
        if (!first) out += ',';
        first = false;
        append_value(out, item, depth + 1);
      }
      out += ']';
      return;
    }
    case nlohmann::json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, key);
        out += ':';
        append_value(out, item, depth + 1);
      }
      out += '}';
      return;
    }
    default:  // floats (nlohmann's own shortest form), binary, discarded
      out += v.dump();
      return;
  }
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  const std::size_t start_size = out.size();
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  bool high = false;
  std::size_t copied = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') {
      high = high || c >= 0x80;
      continue;
    }
    out.append(s.data() + copied, i - copied);
    copied = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(escape, sizeof escape);
      }
    }
  }
  out.append(s.data() + copied, s.size() - copied);
  out += '"';
  if (high && !valid_utf8(s)) {
    // nlohmann refuses invalid UTF-8 (type_error 316): let it say so.
    out.resize(start_size);
    out += nlohmann::json(std::string(s)).dump();
  }
}

void append_json_int(std::string& out, std::int64_t v) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
  out.append(buffer, end);
}

void append_json_uint(std::string& out, std::uint64_t v) {
  char buffer[24];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
  out.append(buffer, end);
}

void append_json(std::string& out, const nlohmann::json& v) { append_value(out, v, 0); }

void append_json_strings(std::string& out, const std::vector<std::string>& strings) {
  out += '[';
  for (std::size_t i = 0; i < strings.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, strings[i]);
  }
  out += ']';
}

void append_json_ints(std::string& out, const std::vector<std::int64_t>& ints) {
  out += '[';
  for (std::size_t i = 0; i < ints.size(); ++i) {
    if (i > 0) out += ',';
    append_json_int(out, ints[i]);
  }
  out += ']';
}

void append_json_base64(std::string& out, std::string_view bytes) {
  const std::size_t start = out.size();
  out.resize(start + base64_encoded_size(bytes.size()) + 2);
  char* p = out.data() + start;
  *p++ = '"';
  p = base64_encode_to(p, bytes);
  *p = '"';
}

std::optional<std::vector<std::vector<std::string>>> read_json_string_arrays(
    std::string_view text) {
  JsonScanner s(text);
  std::vector<std::vector<std::string>> out;
  if (!s.consume('[')) return std::nullopt;
  if (!s.consume(']')) {
    do {
      if (!s.consume('[')) return std::nullopt;
      auto& inner = out.emplace_back();
      if (s.consume(']')) continue;
      do {
        if (!s.string(inner.emplace_back())) return std::nullopt;
      } while (s.consume(','));
      if (!s.consume(']')) return std::nullopt;
    } while (s.consume(','));
    if (!s.consume(']')) return std::nullopt;
  }
  if (!s.at_end()) return std::nullopt;
  return out;
}

std::optional<std::vector<std::int64_t>> read_json_ints(std::string_view text) {
  JsonScanner s(text);
  std::vector<std::int64_t> out;
  if (!s.consume('[')) return std::nullopt;
  if (!s.consume(']')) {
    do {
      if (!s.integer(out.emplace_back())) return std::nullopt;
    } while (s.consume(','));
    if (!s.consume(']')) return std::nullopt;
  }
  if (!s.at_end()) return std::nullopt;
  return out;
}

// ---- JsonScanner ------------------------------------------------------------

void JsonScanner::skip_space() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    ++pos_;
  }
}

char JsonScanner::peek() {
  skip_space();
  return pos_ < text_.size() ? text_[pos_] : '\0';
}

bool JsonScanner::consume(char c) {
  skip_space();
  if (pos_ >= text_.size() || text_[pos_] != c) return false;
  ++pos_;
  return true;
}

bool JsonScanner::literal(std::string_view word) {
  skip_space();
  if (text_.substr(pos_, word.size()) != word) return false;
  pos_ += word.size();
  return true;
}

bool JsonScanner::key(std::string_view name) {
  skip_space();
  if (text_.size() - pos_ < name.size() + 2 || text_[pos_] != '"' ||
      text_.substr(pos_ + 1, name.size()) != name || text_[pos_ + 1 + name.size()] != '"') {
    return false;
  }
  pos_ += name.size() + 2;
  return consume(':');
}

bool JsonScanner::string(std::string& out) {
  skip_space();
  out.clear();
  const char* p = text_.data() + pos_;
  if (!read_json_string(p, text_.data() + text_.size(), out)) return false;
  pos_ = static_cast<std::size_t>(p - text_.data());
  return true;
}

bool JsonScanner::integer(std::int64_t& out) {
  skip_space();
  std::size_t i = pos_;
  const bool negative = i < text_.size() && text_[i] == '-';
  if (negative) ++i;
  const std::size_t digits_start = i;
  while (i < text_.size() && text_[i] >= '0' && text_[i] <= '9') ++i;
  const std::size_t digits = i - digits_start;
  // No digits, a leading zero, more than 18 digits (may overflow), or a
  // fraction or exponent: not an integer this reader takes.
  if (digits == 0 || digits > 18 || (digits > 1 && text_[digits_start] == '0')) return false;
  if (i < text_.size() && (text_[i] == '.' || text_[i] == 'e' || text_[i] == 'E')) return false;
  std::int64_t value = 0;
  for (std::size_t k = digits_start; k < i; ++k) value = value * 10 + (text_[k] - '0');
  out = negative ? -value : value;
  pos_ = i;
  return true;
}

bool JsonScanner::boolean(bool& out) {
  if (literal("true")) {
    out = true;
    return true;
  }
  if (literal("false")) {
    out = false;
    return true;
  }
  return false;
}

bool JsonScanner::at_end() {
  skip_space();
  return pos_ == text_.size();
}

}  // namespace cairn::detail
