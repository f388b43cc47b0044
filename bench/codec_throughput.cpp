// codec_throughput: MB/s of cairn's SHA-256 and base64 (lib/util/), beside
// OpenSSL's EVP_Digest / EVP_EncodeBlock / EVP_DecodeBlock on the same bytes
// in the same run (issue 16: which implementation to keep, by measurement).
// Only the interface common to the old and new lib/util is used, so the same
// file measures the tree before the change too:
//
//   g++ -std=c++20 -O3 -DNDEBUG -Iinclude -Ilib bench/codec_throughput.cpp \
//     lib/util/sha256.cpp lib/util/base64.cpp lib/util/error.cpp \
//     -lcrypto -lfmt -o /tmp/codec_throughput && /tmp/codec_throughput [MiB] [rounds]
//
// Also built by meson with -Dbench=true (bench/meson.build): bench/codec_throughput.
// Prints the best of N rounds (default 64 MiB, 7 rounds) for each.
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "util/base64.h"
#include "util/sha256.h"

namespace {

double best_mb_per_s(std::size_t bytes, int rounds, const std::function<void()>& work) {
  double best = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    work();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::max(best, static_cast<double>(bytes) / 1e6 / took.count());
  }
  return best;
}

void row(const char* what, double mb_s) { std::printf("%-46s %9.0f MB/s\n", what, mb_s); }

}  // namespace

int main(int argc, char** argv) {
  const std::size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  std::string data(mib << 20, '\0');
  std::mt19937_64 rng(42);
  for (char& c : data) c = static_cast<char>(rng());
  std::printf("%zu MiB of random bytes, best of %d rounds\n", mib, rounds);

  // SHA-256, streamed in 1 MiB pieces as sha256_file does.
  std::string sink;
  row("sha256: cairn::detail::Sha256 (1 MiB updates)", best_mb_per_s(data.size(), rounds, [&] {
        cairn::detail::Sha256 sha;
        for (std::size_t at = 0; at < data.size(); at += 1 << 20) {
          sha.update(data.data() + at, std::min<std::size_t>(1 << 20, data.size() - at));
        }
        sink = sha.hex();
      }));
  const std::string ours = sink;
  row("sha256: OpenSSL EVP_Digest (one call)", best_mb_per_s(data.size(), rounds, [&] {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        if (EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr) != 1) {
          throw std::runtime_error("EVP_Digest");
        }
        sink.assign(reinterpret_cast<const char*>(md), n);
      }));

  // Base64 of the same bytes.
  std::string text;
  row("base64 encode: cairn::detail::base64_encode", best_mb_per_s(data.size(), rounds, [&] {
        text = cairn::detail::base64_encode(data);
      }));
  // OpenSSL's rows allocate a fresh string per round too, as the cairn
  // functions must (they return one): the page faults of fresh memory are
  // part of both, not of one only.
  std::string openssl_text;
  row("base64 encode: OpenSSL EVP_EncodeBlock", best_mb_per_s(data.size(), rounds, [&] {
        openssl_text = std::string((data.size() + 2) / 3 * 4 + 1, '\0');
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(openssl_text.data()),
                        reinterpret_cast<const unsigned char*>(data.data()),
                        static_cast<int>(data.size()));
      }));
  openssl_text.pop_back();  // its NUL
  if (openssl_text != text) throw std::runtime_error("the two encoders disagree");

  // Decode MB/s counts the decoded bytes, as encode counts its input.
  std::optional<std::string> decoded;
  row("base64 decode: cairn::detail::base64_decode", best_mb_per_s(data.size(), rounds, [&] {
        decoded = cairn::detail::base64_decode(text);
      }));
  if (decoded != data) throw std::runtime_error("cairn's decode differs");
  std::string openssl_bytes;
  row("base64 decode: OpenSSL EVP_DecodeBlock (lax)", best_mb_per_s(data.size(), rounds, [&] {
        openssl_bytes = std::string(text.size() / 4 * 3, '\0');
        const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(openssl_bytes.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
        if (n < 0) throw std::runtime_error("EVP_DecodeBlock failed");
      }));
  if (openssl_bytes.compare(0, data.size(), data) != 0) throw std::runtime_error("openssl decode");
  std::printf("(sha256 of the bytes: %s)\n", ours.c_str());
}
