// Differential fuzzing of parse_stored_json (lib/util/json_reader.h) against
// nlohmann::json::parse, which it must match exactly: for every input,
// either both throw a json::exception with the same id, or both give a value
// with the same dump and the same type at every level. The input is read as it is (damaged stored text) and,
// when nlohmann accepts it, re-dumped compactly (the form cairn writes),
// which is the fast path's own shape.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "util/json_reader.h"

namespace {

using nlohmann::json;

// The value's types, depth first: "o" object, "u" unsigned, "i" integer...
// (5u and 5 dump alike; a subscriber may still ask is_number_unsigned()).
void append_types(const json& j, std::string& out) {
  out += static_cast<char>('a' + static_cast<int>(j.type()));
  if (j.is_structured()) {
    for (const auto& item : j) append_types(item, out);
  }
}

// The dump and the types, or "!<id>" for a json::exception.
std::string outcome(std::string_view text, bool stored) {
  try {
    const json j = stored ? cairn::detail::parse_stored_json(text) : json::parse(text);
    std::string out = j.dump();
    out += " types ";
    append_types(j, out);
    return out;
  } catch (const json::exception& e) {
    return "!" + std::to_string(e.id);
  }
}

void compare(std::string_view text) {
  const std::string expected = outcome(text, false);
  const std::string got = outcome(text, true);
  fuzz::check(got == expected, "parse_stored_json gave " + got + ", nlohmann::json::parse " +
                                   expected + " for: " + std::string(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  compare(text);
  try {
    compare(json::parse(text).dump());
  } catch (const json::exception&) {
    // Not JSON: the first comparison covered it.
  }
  return 0;
}
