#include "util/base64.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace cairn::detail {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The two chars of every 12-bit group: one lookup per half of a 3-byte group.
constexpr std::array<char, 2 * 4096> make_pairs() {
  std::array<char, 2 * 4096> pairs{};
  for (std::size_t i = 0; i < 4096; ++i) {
    pairs[2 * i] = kAlphabet[i >> 6];
    pairs[2 * i + 1] = kAlphabet[i & 63];
  }
  return pairs;
}
constexpr std::array<char, 2 * 4096> kPairs = make_pairs();

// Decoding: for each of the four positions in a group, a char's 6 bits
// already shifted into place in the 24-bit group, or kInvalid (bits above 24)
// for a char outside the alphabet. OR-ing the four lookups gives the group
// and, in its top byte, whether any char was bad.
constexpr std::uint32_t kInvalid = 0xff000000;
using DecodeTable = std::array<std::uint32_t, 256>;
constexpr DecodeTable make_decoding(int shift) {
  DecodeTable table{};
  for (auto& v : table) v = kInvalid;
  for (std::uint32_t i = 0; i < 64; ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = i << shift;
  }
  return table;
}
constexpr std::array<DecodeTable, 4> kDecoding = {make_decoding(18), make_decoding(12),
                                                  make_decoding(6), make_decoding(0)};

inline std::uint32_t group_of(const char* p) {
  return kDecoding[0][static_cast<unsigned char>(p[0])] |
         kDecoding[1][static_cast<unsigned char>(p[1])] |
         kDecoding[2][static_cast<unsigned char>(p[2])] |
         kDecoding[3][static_cast<unsigned char>(p[3])];
}

}  // namespace

char* base64_encode_to(char* out, std::string_view bytes) noexcept {
  // Locals, not bytes[i]: `out` is a char*, which may alias anything, so
  // the compiler would otherwise reload the view after every store.
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char* const end = in + bytes.size();
  // Twelve bytes (four groups) per step: one 16-byte store of chars.
  while (end - in >= 12) {
    char group[16];
    for (int g = 0; g < 4; ++g, in += 3) {
      const std::uint32_t n = std::uint32_t{in[0]} << 16 | std::uint32_t{in[1]} << 8 | in[2];
      std::memcpy(group + 4 * g, &kPairs[2 * (n >> 12)], 2);
      std::memcpy(group + 4 * g + 2, &kPairs[2 * (n & 0xfff)], 2);
    }
    std::memcpy(out, group, sizeof group);
    out += sizeof group;
  }
  for (; end - in >= 3; in += 3, out += 4) {
    const std::uint32_t n = std::uint32_t{in[0]} << 16 | std::uint32_t{in[1]} << 8 | in[2];
    std::memcpy(out, &kPairs[2 * (n >> 12)], 2);
    std::memcpy(out + 2, &kPairs[2 * (n & 0xfff)], 2);
  }
  if (const auto rest = end - in; rest > 0) {
    std::uint32_t n = std::uint32_t{in[0]} << 16;
    if (rest == 2) n |= std::uint32_t{in[1]} << 8;
    out[0] = kAlphabet[n >> 18];
    out[1] = kAlphabet[(n >> 12) & 63];
    out[2] = rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out[3] = '=';
    out += 4;
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out(base64_encoded_size(bytes.size()), '\0');
  base64_encode_to(out.data(), bytes);
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  const int pad = (text.back() == '=') + (text[text.size() - 2] == '=');
  if (pad == 1 && text[text.size() - 2] == '=') return std::nullopt;  // "xx=x" is no padding
  std::string out(text.size() / 4 * 3 - static_cast<std::size_t>(pad), '\0');

  // Every group but the last: no branch per group, one check at the end
  // ('=' is outside the alphabet, so one in the middle is caught here).
  const std::size_t full = text.size() / 4 - 1;
  const char* in = text.data();
  char* o = out.data();
  std::uint32_t bad = 0;
  for (std::size_t g = 0; g < full; ++g, in += 4, o += 3) {
    const std::uint32_t n = group_of(in);
    bad |= n;
    o[0] = static_cast<char>(n >> 16);
    o[1] = static_cast<char>(n >> 8);
    o[2] = static_cast<char>(n);
  }
  if ((bad & kInvalid) != 0) return std::nullopt;

  // The last group, its padding read as 'A' (zero bits) then checked.
  const char last[4] = {in[0], in[1], pad == 2 ? 'A' : in[2], pad >= 1 ? 'A' : in[3]};
  const std::uint32_t n = group_of(last);
  if ((n & kInvalid) != 0) return std::nullopt;
  // Canonical form only: the bits that padding drops must be zero, so that
  // every byte string has one encoding (export -> import -> export is exact).
  if ((pad == 1 && (n & 0xff) != 0) || (pad == 2 && (n & 0xffff) != 0)) return std::nullopt;
  o[0] = static_cast<char>(n >> 16);
  if (pad < 2) o[1] = static_cast<char>(n >> 8);
  if (pad < 1) o[2] = static_cast<char>(n);
  return out;
}

}  // namespace cairn::detail
