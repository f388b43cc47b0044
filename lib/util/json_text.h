// JSON text written and read without building nlohmann::json values, for the
// hot paths of the stores (change-log images, the torrents' JSON columns).
//
// The writers give exactly the bytes of nlohmann::json's dump() (no indent,
// ensure_ascii false, strict UTF-8), and throw what it throws: a string that
// is not valid UTF-8 is handed to nlohmann, which refuses it. The readers
// accept only the text the writers produce (plus JSON whitespace) and say so
// by returning nullopt for anything else; their callers then take
// nlohmann's parser, so that every other input, damaged or hand-written,
// reads and fails exactly as before.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cairn::detail {

// ---- Writing: each appends to `out` what nlohmann's dump() writes ----------

void append_json_string(std::string& out, std::string_view s);  // json(s).dump()
void append_json_int(std::string& out, std::int64_t v);          // json(v).dump()
void append_json_uint(std::string& out, std::uint64_t v);
inline void append_json_bool(std::string& out, bool v) { out += v ? "true" : "false"; }
// v.dump(), for any value (floats and binary values are left to nlohmann).
void append_json(std::string& out, const nlohmann::json& v);
// json(strings).dump() and json(integers).dump().
void append_json_strings(std::string& out, const std::vector<std::string>& strings);
void append_json_ints(std::string& out, const std::vector<std::int64_t>& ints);
// The base64 of `bytes` (detail::base64_encode_to), as a JSON string.
void append_json_base64(std::string& out, std::string_view bytes);

// ---- Reading: nullopt when the text is not in the expected form ------------

// [["a","b"],["c"]]
std::optional<std::vector<std::vector<std::string>>> read_json_string_arrays(std::string_view text);
// [1,-2,3]: integers that fit in 18 digits.
std::optional<std::vector<std::int64_t>> read_json_ints(std::string_view text);

// Any other stored JSON text: parse_stored_json (json_reader.h).

// A cursor over JSON text, for readers of fixed shapes: every method skips
// whitespace first and returns false, consuming nothing useful, when the
// text does not continue as asked.
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : text_(text) {}

  bool consume(char c);
  // "name": (the key, then the colon)
  bool key(std::string_view name);
  // A string, as nlohmann reads it (read_json_string: surrogate escapes are
  // left to nlohmann).
  bool string(std::string& out);
  // An integer of at most 18 digits (no fraction or exponent).
  bool integer(std::int64_t& out);
  bool boolean(bool& out);
  // `word` as it is (true, false, null).
  bool literal(std::string_view word);
  // Only whitespace is left.
  bool at_end();
  // The next character after whitespace, or '\0' at the end.
  char peek();

 private:
  void skip_space();
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace cairn::detail
