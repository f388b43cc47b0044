// Base64 of the records' binary fields (lib/util/base64.h): the RFC 4648
// vectors, the strictness of the decoder (one canonical text per byte
// string), and a randomized round trip (CAIRN_SEED=N replays a run; the seed
// is printed).
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "util/base64.h"

namespace {

using cairn::detail::base64_decode;
using cairn::detail::base64_encode;

std::uint64_t choose_seed() {
  if (const char* env = std::getenv("CAIRN_SEED"); env != nullptr && *env != '\0') {
    return std::stoull(env);
  }
  return std::random_device{}();
}

}  // namespace

TEST_CASE("base64: the RFC 4648 section 10 vectors, both ways") {
  const struct {
    std::string_view bytes, text;
  } vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.bytes);
    CHECK(base64_encode(v.bytes) == v.text);
    CHECK(base64_decode(v.text) == std::string(v.bytes));
  }
}

TEST_CASE("base64: every byte value, and the whole alphabet") {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  const std::string text = base64_encode(all);
  CHECK(text.substr(0, 16) == "AAECAwQFBgcICQoL");
  CHECK(text.substr(text.size() - 8) == "/P3+/w==");
  CHECK(base64_decode(text) == all);
  // 0x00 0x10 0x83 ... encodes to the alphabet in order.
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto bytes = base64_decode(alphabet);
  REQUIRE(bytes.has_value());
  CHECK(bytes->size() == 48);
  CHECK(base64_encode(*bytes) == alphabet);
}

TEST_CASE("base64: the decoder accepts canonical padded text only") {
  SUBCASE("a length that is not a multiple of 4") {
    for (const char* text : {"Z", "Zg", "Zg=", "Zm9vY", "Zm9vYg", "Zm9vYg="}) {
      CAPTURE(text);
      CHECK_FALSE(base64_decode(text).has_value());
    }
  }
  SUBCASE("chars outside the alphabet, in every position of a group") {
    for (const char bad : {'!', '-', '_', '.', '@', '\0', '\x80', '\xff'}) {
      for (std::size_t at = 0; at < 8; ++at) {
        std::string text = "Zm9vYmFy";
        text[at] = bad;
        CAPTURE(text);
        CHECK_FALSE(base64_decode(text).has_value());
      }
    }
  }
  SUBCASE("whitespace and line breaks anywhere") {
    for (const char* text : {" Zm9vYmFy", "Zm9v YmFy", "Zm9v\nYmFy", "Zm9vYmFy\n", "Zm9v\r\nYmE=",
                             "Zm9\tv", "Zm8 "}) {
      CAPTURE(text);
      CHECK_FALSE(base64_decode(text).has_value());
    }
  }
  SUBCASE("padding anywhere but at the end") {
    for (const char* text : {"====", "Z===", "Zg==Zm8=", "Zm8=Zm9v", "Zm=v", "Z=9v", "=m9v",
                             "Zm9v=m9v", "Zm9vYm=y"}) {
      CAPTURE(text);
      CHECK_FALSE(base64_decode(text).has_value());
    }
  }
  SUBCASE("nonzero bits under the padding") {
    // "Zg==" is canonical for "f"; "Zh==" ... "Zv==" decode to "f" too in a
    // lax decoder. Likewise "Zm8=" against "Zm9=".
    for (const char* text : {"Zh==", "Zi==", "Zv==", "Z/==", "Zm9=", "Zm/=", "AB==", "AAB="}) {
      CAPTURE(text);
      CHECK_FALSE(base64_decode(text).has_value());
    }
    CHECK(base64_decode("AA==") == std::string(1, '\0'));
    CHECK(base64_decode("AAA=") == std::string(2, '\0'));
  }
  SUBCASE("the URL-safe alphabet is another encoding") {
    CHECK(base64_decode("-_8=") == std::nullopt);
    CHECK(base64_decode("+/8=") == std::string("\xfb\xff", 2));
  }
}

TEST_CASE("base64: random bytes round-trip, and every corruption of one char is refused or exact") {
  const std::uint64_t seed = choose_seed();
  MESSAGE("seed " << seed << " (replay: CAIRN_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(round < 64 ? static_cast<std::size_t>(round) : rng() % 3000, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string text = base64_encode(bytes);
    CAPTURE(bytes.size());
    REQUIRE(text.size() == cairn::detail::base64_encoded_size(bytes.size()));
    REQUIRE(base64_decode(text) == bytes);
    if (text.empty()) continue;
    // One char replaced by any byte: either refused, or a different string
    // whose canonical encoding is exactly the corrupted text.
    std::string corrupted = text;
    corrupted[rng() % corrupted.size()] = static_cast<char>(rng());
    CAPTURE(corrupted);
    if (const auto decoded = base64_decode(corrupted)) {
      CHECK(base64_encode(*decoded) == corrupted);
    }
  }
}
