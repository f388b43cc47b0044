// The JSON text writers and readers of lib/util/json_text.h, against nlohmann::json.
//
// White-box: the KV and torrent stores write their change-log images and
// JSON columns with these instead of nlohmann::json, so each must give
// nlohmann's bytes (writers) and values (readers), and throw where it throws,
// on far more inputs than a store test can reach.
#include <doctest/doctest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"
#include "util/base64.h"
#include "util/json_reader.h"
#include "util/json_text.h"

namespace {

using nlohmann::json;
using test::same;
using namespace std::string_literals;


std::string written(const json& v) {
  std::string out = "prefix:";
  cairn::detail::append_json(out, v);
  return out.substr(7);
}

// nlohmann's dump of a string, or "<throws>" when it refuses it.
std::string nlohmann_string(const std::string& s) {
  try {
    return json(s).dump();
  } catch (const json::type_error&) {
    return "<throws>";
  }
}

std::string our_string(const std::string& s) {
  std::string out = "x";
  try {
    cairn::detail::append_json_string(out, s);
  } catch (const json::type_error&) {
    return "<throws>";
  }
  return out.substr(1);
}

// Random strings from pieces that matter to a JSON writer: plain text,
// quotes, backslashes, every control byte, DEL, valid 2-, 3- and 4-byte
// UTF-8, and bytes that are not UTF-8 (lone continuation bytes, truncated
// sequences, overlongs, surrogates).
std::vector<std::string> tricky_strings(std::size_t n) {
  std::vector<std::string> pieces = {"a",          "hello world", "\"",         "\\",
                                     "/",          "\x7f",        "\xc3\xa9",   "\xe2\x82\xac",
                                     "\xf0\x9d\x84\x9e", "\x80",  "\xc3",       "\xe2\x82",
                                     "\xc0\xaf",   "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"};
  for (int c = 0; c < 0x20; ++c) pieces.push_back(std::string(1, static_cast<char>(c)));
  std::mt19937 rng(7);
  std::vector<std::string> out = {"", "plain", "\"quoted\" \\ and \\\"", "tab\there\nnew\r\f\b"};
  for (int c = 0; c < 256; ++c) out.push_back(std::string(1, static_cast<char>(c)));
  for (std::size_t i = 0; i < n; ++i) {
    std::string s;
    const std::size_t parts = rng() % 12;
    for (std::size_t k = 0; k < parts; ++k) s += pieces[rng() % pieces.size()];
    out.push_back(std::move(s));
  }
  return out;
}

// Values of every type, as the stores meet them in free-form fields.
std::vector<json> tricky_values() {
  std::vector<json> values = {
      json(),
      json(true),
      json(false),
      json(0),
      json(-1),
      json(std::numeric_limits<std::int64_t>::min()),
      json(std::numeric_limits<std::int64_t>::max()),
      json(std::numeric_limits<std::uint64_t>::max()),
      json(0.0),
      json(-0.0),
      json(1.5),
      json(0.1),
      json(1e300),
      json(-2.5e-300),
      json(123456789.0),
      json("text \"q\" \\ \n \x01 \x1f \xc3\xa9 \xf0\x9d\x84\x9e"),
      json::object(),
      json::array(),
      json::binary({1, 2, 3}),
      json{{"z", 1}, {"a", {{"nested", {1, 2.5, "x\"y\n", nullptr, true}}}}, {"", json::array()}},
      json{{"\xc3\xa9t\xc3\xa9", {{"k\"ey", -5}, {"\\", 7u}}}},
      json::array({json::array({json::array()}), json::object(), "s", 1, -1, 1.25}),
  };
  json deep = json::array();
  for (int i = 0; i < 300; ++i) deep = json::array({deep, i});
  values.push_back(deep);
  return values;
}

}  // namespace

TEST_CASE("json_text: strings are written as nlohmann writes them, invalid UTF-8 refused alike") {
  for (const auto& s : tricky_strings(5000)) {
    CAPTURE(json::binary(std::vector<std::uint8_t>(s.begin(), s.end())).dump());
    CHECK(our_string(s) == nlohmann_string(s));
  }
  std::string big(1 << 20, 'a');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>(i % 0x20);
  CHECK(our_string(big) == nlohmann_string(big));
}

TEST_CASE("json_text: values are written as nlohmann's dump writes them") {
  for (const auto& v : tricky_values()) {
    CAPTURE(v.dump().substr(0, 200));
    CHECK(written(v) == v.dump());
  }
  SUBCASE("keys and strings with every kind of byte") {
    for (const auto& s : tricky_strings(500)) {
      if (nlohmann_string(s) == "<throws>") continue;
      const json v = {{s, s}, {"k", json::array({s, 1})}};
      CHECK(written(v) == v.dump());
    }
  }
  SUBCASE("integer and string lists") {
    const std::vector<std::int64_t> ints = {0, -1, 7, std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::int64_t>::max()};
    std::string out;
    cairn::detail::append_json_ints(out, ints);
    CHECK(out == json(ints).dump());
    out.clear();
    cairn::detail::append_json_ints(out, {});
    CHECK(out == "[]");
    const std::vector<std::string> strings = {"", "a\"b", "\xe2\x82\xac", "\x01"};
    out.clear();
    cairn::detail::append_json_strings(out, strings);
    CHECK(out == json(strings).dump());
  }
}

TEST_CASE("json_text: base64 is detail::base64_encode's, quoted") {
  std::mt19937 rng(11);
  std::vector<std::size_t> sizes;
  for (std::size_t n = 0; n < 100; ++n) sizes.push_back(n);
  sizes.push_back(1u << 20);
  sizes.push_back((1u << 20) + 1);
  for (const std::size_t n : sizes) {
    std::string bytes(n, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    std::string out = "{";
    cairn::detail::append_json_base64(out, bytes);
    CHECK(out == "{\"" + cairn::detail::base64_encode(bytes) + "\"");
  }
}

TEST_CASE("json_text: what append_json writes, parse_stored_json reads as nlohmann reads it") {
  SUBCASE("texts append_json wrote") {
    for (const auto& v : tricky_values()) {
      if (v.is_binary()) continue;  // no JSON text reads back as binary
      std::string text;
      cairn::detail::append_json(text, v);
      CAPTURE(text.substr(0, 200));
      CHECK(same(cairn::detail::parse_stored_json(text), json::parse(text)));
    }
  }
  SUBCASE("texts written by hand") {
    const std::vector<std::string> texts = {
        " { \"a\" : [ 1 , -2 , 0 ] ,\n\t\"b\" : { } , \"c\":[ ] } \r\n",
        R"({"a":1,"a":"later wins","b":{"x":1,"x":{"y":2}}})",
        R"(["\"\\\/\b\f\n\r\t", "\u00e9", "\ud834\udd1e", "a\u0000b"])",
        R"([-0, 0, 18, 123456789012345678, 1234567890123456789, -9223372036854775808])",
        R"([18446744073709551615, 18446744073709551616, 1.0, 1e5, 1E-5, -0.0, 2.5])",
        "\"caf\xc3\xa9 \xf0\x9d\x84\x9e\"",
        "[true,false,null,\"true\"]",
        "7",
        "-7",
        "\"\"",
        "{\"\":\"\"}",
    };
    for (const auto& text : texts) {
      CAPTURE(text);
      CHECK(same(cairn::detail::parse_stored_json(text), json::parse(text)));
    }
    std::string deep;
    for (int i = 0; i < 1000; ++i) deep += "[";
    for (int i = 0; i < 1000; ++i) deep += "]";
    CHECK(same(cairn::detail::parse_stored_json(deep), json::parse(deep)));
  }
  SUBCASE("texts nlohmann refuses") {
    const std::vector<std::string> texts = {
        "",       " ",       "{",          "[1,]",      "[1 2]",    "01",         "1.",
        "-",      "--1",     "tru",        "nul",       "truex",    "[nulll]",    "\"\x01\"",
        "\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "[1] x", "{\"a\" 1}", "{\"a\":}", "\"\\x\"",
        "\"abc",  "{1:2}",   "[\"a\"b]",   "\"\\u12\"", "{\"a\":1,}", "[01]",     "+1",
    };
    for (const auto& text : texts) {
      CAPTURE(text);
      CHECK_THROWS_AS(json::parse(text), json::parse_error);
      CHECK_THROWS_AS(cairn::detail::parse_stored_json(text), json::parse_error);
    }
  }
}

TEST_CASE("json_text: the column readers take their own form and leave the rest to nlohmann") {
  using cairn::detail::read_json_ints;
  using cairn::detail::read_json_string_arrays;
  SUBCASE("what the writers write reads back") {
    const std::vector<std::vector<std::vector<std::string>>> tiers_cases = {
        {},
        {{}},
        {{"udp://a:1/announce", "udp://b:2/announce"}, {"https://c/announce"}},
        {{"a\"b\\c\n", "\xc3\xa9\xe2\x82\xac"}, {}, {""}},
    };
    for (const auto& tiers : tiers_cases) {
      const std::string text = json(tiers).dump();
      CAPTURE(text);
      const auto got = read_json_string_arrays(text);
      REQUIRE(got.has_value());
      CHECK(*got == tiers);
    }
    const std::vector<std::vector<std::int64_t>> int_cases = {
        {}, {0}, {4, 4, 4, 1, 0, 7}, {-1, 999999999999999999, -999999999999999999}};
    for (const auto& ints : int_cases) {
      const std::string text = json(ints).dump();
      CAPTURE(text);
      const auto got = read_json_ints(text);
      REQUIRE(got.has_value());
      CHECK(*got == ints);
    }
  }
  SUBCASE("whitespace and escapes read as nlohmann reads them") {
    for (const std::string tiers :
         {" [ [ \"a\\/b\" , \"\\\"\" ] , [ ] ] ", "[[\"a\\u0041\\u00e9\\u20ac\\u0000\"]]"}) {
      CAPTURE(tiers);
      CHECK(*read_json_string_arrays(tiers) ==
            json::parse(tiers).get<std::vector<std::vector<std::string>>>());
    }
    const std::string ints = " [ 1 , -2 ]\n";
    CHECK(*read_json_ints(ints) == json::parse(ints).get<std::vector<std::int64_t>>());
  }
  SUBCASE("anything else is not theirs") {
    for (const std::string text :
         {"", "[", "[[]", "[[\"\\ud834\\udd1e\"]]", "[[1]]", "[\"a\"]", "[[\"a\"]] x", "[[\"\x01\"]]",
          "[[\"\xff\"]]", "{}", "[[\"a\",]]"}) {
      CAPTURE(text);
      CHECK_FALSE(read_json_string_arrays(text).has_value());
    }
    for (const std::string text : {"", "[", "[1.5]", "[01]", "[1e3]", "[1234567890123456789]",
                                   "[\"1\"]", "[true]", "[1,]", "[1] 2", "{}", "[-]"}) {
      CAPTURE(text);
      CHECK_FALSE(read_json_ints(text).has_value());
    }
  }
}
