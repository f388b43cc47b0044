// parse_stored_json (lib/util/json_reader.h) reads back the JSON cairn wrote, on
// every read of a record and every change-log image. It must give exactly
// what nlohmann::json::parse gives for the same text: the same values with
// the same number types (a subscriber may ask is_number_unsigned()), the
// same dump, and the same exception wherever nlohmann throws one. This test
// compares the two on hand-picked edge cases, on damaged text, and on
// random documents (CAIRN_SEED=N replays a run; the seed is printed).
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "util/json_reader.h"

namespace {

using nlohmann::json;
using cairn::detail::parse_stored_json;
using test::same;

// Both parsers on `text`: both throw the same kind of json::exception (its
// id: 101 a parse error, 406 a number out of range...), or both give the
// same value.
void check_text(const std::string& text) {
  CAPTURE(text);
  json expected;
  int expected_error = 0;
  try {
    expected = json::parse(text);
  } catch (const json::exception& e) {
    expected_error = e.id;
  }
  if (expected_error != 0) {
    int got_error = 0;
    try {
      (void)parse_stored_json(text);
    } catch (const json::exception& e) {
      got_error = e.id;
    }
    CHECK(got_error == expected_error);
    return;
  }
  json got;
  REQUIRE_NOTHROW(got = parse_stored_json(text));
  CHECK(same(got, expected));
  CHECK(got.dump() == expected.dump());
}

std::uint64_t choose_seed() {
  if (const char* env = std::getenv("CAIRN_SEED"); env != nullptr && *env != '\0') {
    return std::stoull(env);
  }
  return std::random_device{}();
}

// A random document of every JSON type, with strings that need escapes.
json random_value(std::mt19937_64& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  static const std::vector<std::string> pieces = {
      "a", "host", "", "\"", "\\", "/", "\n", "\t", std::string(1, '\0'), "\x01", "\x1f", "\x7f",
      "é", "日本", "😀", "\xef\xbf\xbf", " ", "{}", "[1,2]", "true"};
  auto random_string = [&] {
    std::string s;
    const int n = pick(5);
    for (int i = 0; i < n; ++i) s += pieces[static_cast<std::size_t>(pick(static_cast<int>(pieces.size())))];
    return s;
  };
  const int kind = depth >= 6 ? pick(7) : pick(9);
  switch (kind) {
    case 0: return nullptr;
    case 1: return pick(2) == 0;
    case 2: return static_cast<std::int64_t>(rng()) >> pick(64);
    case 3: return rng() >> pick(64);
    case 4: {
      const double mantissa = static_cast<double>(static_cast<std::int64_t>(rng() >> 11)) /
                              static_cast<double>(1ull << 30);
      return mantissa * std::pow(10.0, pick(40) - 20);
    }
    case 5: return random_string();
    case 6: return pick(2) == 0 ? json::array() : json::object();
    case 7: {
      json a = json::array();
      for (int i = pick(5); i > 0; --i) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int i = pick(5); i > 0; --i) o[random_string()] = random_value(rng, depth + 1);
      return o;
    }
  }
}

}  // namespace

TEST_CASE("stored JSON: edge cases read exactly as nlohmann reads them") {
  for (const char* text : {
           "{}", "[]", "null", "true", "false", "0", "-0", "1", "-1", "0.5", "-0.0", "1e5",
           "1E+5", "1e-5", "2.5E-3", "123456789012345678", "9223372036854775807",
           "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
           "18446744073709551615", "18446744073709551616", "1e308", "1e309", "1e-400",
           "4.9406564584124654e-324", "0.1", "3.141592653589793", "\"\"", "\"a\\\"b\"",
           "\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0000\\u001f\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
           "\"\\uD83D\\uDE00\"", "\"\\ud83d\"", "\"é日本😀\"", R"({"a":1,"b":[true,false,null]})",
           R"({"b":1,"a":2})", R"({"a":1,"a":2})", R"([[[[[]]]]])", R"({"":{"":{"":""}}})",
           R"({"meta":{"host":"10.0.0.1","port":8080,"zone":"eu-1"}})"}) {
    check_text(text);
  }
}

TEST_CASE("stored JSON: another rounding mode reads doubles as nlohmann does") {
  const int mode = std::fegetround();
  REQUIRE(std::fesetround(FE_UPWARD) == 0);
  check_text("1e23");
  check_text("[2.5e-308,0.1,3.141592653589793]");
  std::fesetround(mode);
}

TEST_CASE("stored JSON: text outside the compact form still reads (whitespace, deep nesting)") {
  check_text(" {\"a\" : 1 } ");
  check_text("[1, 2, 3]");
  check_text("{\"a\":1}\n");
  check_text(std::string(1000, '[') + std::string(1000, ']'));
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "{\"k\":";
  deep += "1" + std::string(300, '}');
  check_text(deep);
}

TEST_CASE("stored JSON: damaged text throws what nlohmann throws") {
  for (const char* text : {
           "", "{", "}", "[", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}",
           "tru", "nul", "falsey", "01", "-", "-a", "1.", ".5", "+1", "1e", "1e+", "0x10",
           "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\uZZZZ\"", "\"\x01\"", "\"\xff\"",
           "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "1 2", "[1]]", "{}{}",
           "NaN", "Infinity", "\"\\ud800\"", "\"\\udc00\\ud800\""}) {
    check_text(text);
  }
}

TEST_CASE("stored JSON: random documents round-trip through both parsers alike") {
  const std::uint64_t seed = choose_seed();
  MESSAGE("seed " << seed << " (replay: CAIRN_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  int fast = 0;
  for (int i = 0; i < 5000; ++i) {
    const json doc = random_value(rng, 0);
    check_text(doc.dump());
    check_text(doc.dump(1));  // with whitespace: the fallback
    // The compact form is the fast path's own, except a double it cannot
    // convert exactly (none here: they are finite and in range).
    json out;
    fast += cairn::detail::read_compact_json(doc.dump(), out) ? 1 : 0;
  }
  CHECK(fast == 5000);  // else the comparisons above only tested nlohmann against itself
}
