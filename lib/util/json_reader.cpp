#include "util/json_reader.h"

#include <cfenv>
#include <charconv>
#include <cstdint>
#include <string>
#include <system_error>

#include "util/utf8.h"

namespace cairn::detail {
namespace {

using json = nlohmann::json;

// \uXXXX at p (past the "\u") outside the surrogate range, as UTF-8.
bool unicode_escape(const char*& p, const char* end, std::string& out) {
  if (end - p < 4) return false;
  std::uint32_t cp = 0;
  for (int i = 0; i < 4; ++i) {
    const char h = *p++;
    cp <<= 4;
    if (h >= '0' && h <= '9') {
      cp |= static_cast<std::uint32_t>(h - '0');
    } else if (h >= 'a' && h <= 'f') {
      cp |= static_cast<std::uint32_t>(h - 'a' + 10);
    } else if (h >= 'A' && h <= 'F') {
      cp |= static_cast<std::uint32_t>(h - 'A' + 10);
    } else {
      return false;
    }
  }
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return true;
}

// Deeper text is rare and goes to nlohmann's parser, which keeps its own stack.
constexpr int kMaxDepth = 128;

// One pass over compact JSON. Every method returns false, without throwing,
// when the text leaves the shape it reads; the caller then falls back.
class CompactReader {
 public:
  explicit CompactReader(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()) {}

  bool read(json& out) { return value(out, 0) && p_ == end_; }

 private:
  bool value(json& out, int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{': return object(out, depth);
      case '[': return array(out, depth);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = std::move(s);
        return true;
      }
      case 't': return literal("true", out, json(true));
      case 'f': return literal("false", out, json(false));
      case 'n': return literal("null", out, json(nullptr));
      default: return number(out);
    }
  }

  bool object(json& out, int depth) {
    if (depth >= kMaxDepth) return false;
    ++p_;  // '{'
    out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      std::string key;
      if (p_ == end_ || *p_ != '"' || !string(key)) return false;
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      // A repeated key keeps its last value, as nlohmann's parser does.
      if (!value(members[std::move(key)], depth + 1)) return false;
      if (p_ == end_) return false;
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      if (*p_ != ',') return false;
      ++p_;
    }
  }

  bool array(json& out, int depth) {
    if (depth >= kMaxDepth) return false;
    ++p_;  // '['
    out = json::array();
    auto& items = out.get_ref<json::array_t&>();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      items.emplace_back();
      if (!value(items.back(), depth + 1)) return false;
      if (p_ == end_) return false;
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      if (*p_ != ',') return false;
      ++p_;
    }
  }

  bool string(std::string& out) { return read_json_string(p_, end_, out); }

  bool literal(std::string_view word, json& out, json value) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    out = std::move(value);
    return true;
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? as nlohmann stores it: a
  // negative integer as int64, a non-negative one as uint64, an integer that
  // fits neither and anything with a fraction or exponent as a double.
  bool number(json& out) {
    const char* start = p_;
    const char* q = p_;
    auto digits = [&] {
      const char* from = q;
      while (q != end_ && *q >= '0' && *q <= '9') ++q;
      return q - from;
    };
    const bool negative = q != end_ && *q == '-';
    if (negative) ++q;
    if (q == end_) return false;
    if (*q == '0') {
      ++q;
    } else if (digits() == 0) {
      return false;
    }
    bool integral = true;
    if (q != end_ && *q == '.') {
      ++q;
      if (digits() == 0) return false;
      integral = false;
    }
    if (q != end_ && (*q == 'e' || *q == 'E')) {
      ++q;
      if (q != end_ && (*q == '+' || *q == '-')) ++q;
      if (digits() == 0) return false;
      integral = false;
    }
    if (integral) {
      if (negative) {
        std::int64_t v = 0;
        if (std::from_chars(start, q, v).ec == std::errc{}) {
          out = v;
          p_ = q;
          return true;
        }
      } else {
        std::uint64_t v = 0;
        if (std::from_chars(start, q, v).ec == std::errc{}) {
          out = v;
          p_ = q;
          return true;
        }
      }
    }
    // from_chars rounds to nearest whatever the thread's rounding mode (GCC PR
    // 107468), strtod, which nlohmann uses, follows it: another mode takes the
    // fallback, as does a value out of range.
    if (std::fegetround() != FE_TONEAREST) return false;
    double d = 0;
    const auto [end, ec] = std::from_chars(start, q, d);
    if (ec != std::errc{} || end != q) return false;
    out = d;
    p_ = q;
    return true;
  }

  const char* p_;
  const char* end_;
};

}  // namespace

bool read_json_string(const char*& p, const char* end, std::string& out) {
  if (p == end || *p != '"') return false;
  const std::size_t start = out.size();
  ++p;
  const char* run = p;  // start of the bytes not yet copied
  bool high = false;    // bytes >= 0x80 seen: UTF-8 to check
  while (p != end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      out.append(run, p);
      ++p;
      return !high || valid_utf8(std::string_view(out).substr(start));
    }
    if (c < 0x20) return false;  // a raw control character: not JSON
    if (c >= 0x80) high = true;
    if (c != '\\') {
      ++p;
      continue;
    }
    out.append(run, p);
    if (++p == end) return false;
    switch (*p++) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u':
        if (!unicode_escape(p, end, out)) return false;
        break;
      default: return false;
    }
    run = p;
  }
  return false;
}

bool read_compact_json(std::string_view text, nlohmann::json& out) {
  return CompactReader(text).read(out);
}

nlohmann::json parse_stored_json(std::string_view text) {
  json out;
  if (read_compact_json(text, out)) return out;
  return json::parse(text);
}

}  // namespace cairn::detail
