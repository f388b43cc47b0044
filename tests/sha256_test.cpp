// The SHA-256 of backup manifests (lib/util/sha256.h, libcrypto's EVP
// digest): the FIPS 180-4 test vectors, and agreement on random data fed in
// random pieces with a reference implementation kept in this file only
// (CAIRN_SEED=N replays a run; the seed is printed).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "util/sha256.h"

namespace {

using cairn::detail::Sha256;

std::string digest(std::string_view data) {
  Sha256 sha;
  sha.update(data);
  return sha.hex();
}

// FIPS 180-4 section 6.2, written plainly from the standard: slow, and
// independent of the library's code. Only the differential test uses it.
std::string reference_sha256(std::string_view message) {
  static constexpr std::array<std::uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2,
  };
  auto rotr = [](std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  // Padding (5.1.1): 0x80, zeros to 56 mod 64, the length in bits big-endian.
  std::string m(message);
  m += '\x80';
  while (m.size() % 64 != 56) m += '\0';
  const std::uint64_t bits = std::uint64_t{message.size()} * 8;
  for (int i = 7; i >= 0; --i) m += static_cast<char>(bits >> (8 * i));

  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  for (std::size_t block = 0; block < m.size(); block += 64) {
    std::array<std::uint32_t, 64> w{};
    for (std::size_t t = 0; t < 16; ++t) {
      for (std::size_t b = 0; b < 4; ++b) {
        w[t] = w[t] << 8 | static_cast<unsigned char>(m[block + 4 * t + b]);
      }
    }
    for (std::size_t t = 16; t < 64; ++t) {
      const std::uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const std::uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = s1 + w[t - 7] + s0 + w[t - 16];
    }
    auto [a, b, c, d, e, f, g, hh] = h;
    for (std::size_t t = 0; t < 64; ++t) {
      const std::uint32_t t1 =
          hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[t] + w[t];
      const std::uint32_t t2 =
          (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    const std::array<std::uint32_t, 8> add = {a, b, c, d, e, f, g, hh};
    for (std::size_t i = 0; i < 8; ++i) h[i] += add[i];
  }
  std::string out;
  for (const std::uint32_t word : h) out += fmt::format("{:08x}", word);
  return out;
}

std::uint64_t choose_seed() {
  if (const char* env = std::getenv("CAIRN_SEED"); env != nullptr && *env != '\0') {
    return std::stoull(env);
  }
  return std::random_device{}();
}

const std::string kMillionA(1'000'000, 'a');
const struct {
  std::string_view input;
  const char* expected;
} kFipsVectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
     "mnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {kMillionA, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

}  // namespace

TEST_CASE("sha256: the FIPS 180-4 examples") {
  for (const auto& v : kFipsVectors) {
    CAPTURE(v.input.size());
    CHECK(digest(v.input) == v.expected);
  }
}

TEST_CASE("sha256: the test's reference gives the FIPS 180-4 examples too") {
  // The differential test below is only as good as its reference.
  for (const auto& v : kFipsVectors) {
    if (v.input.size() > 1000) continue;  // the million a's: slow, and the short ones suffice
    CAPTURE(v.input.size());
    CHECK(reference_sha256(v.input) == v.expected);
  }
}

TEST_CASE("sha256: agrees with the reference on random data in random pieces") {
  const std::uint64_t seed = choose_seed();
  MESSAGE("seed " << seed << " (replay: CAIRN_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    // Every length around the 64-byte block and 56-byte padding edges, then random ones.
    std::string data(round < 140 ? static_cast<std::size_t>(round) : rng() % 5000, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    Sha256 pieces;
    std::size_t at = 0;
    while (at < data.size()) {
      const std::size_t piece = std::min<std::size_t>(data.size() - at, rng() % 200);
      pieces.update(data.data() + at, piece);
      at += piece;
    }
    CAPTURE(data.size());
    const std::string expected = reference_sha256(data);
    CHECK(pieces.hex() == expected);
    CHECK(digest(data) == expected);
  }
}
