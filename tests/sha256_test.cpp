// The SHA-256 of backup manifests (lib/util/sha256.h): the FIPS 180-4
// test vectors through both the portable code and the CPU's SHA extensions
// (when this machine has them), and the two agreeing on random data fed in
// random pieces (CAIRN_SEED=N replays a run; the seed is printed).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>

#include <doctest/doctest.h>

#include "util/sha256.h"

namespace {

using cairn::detail::Sha256;

std::string digest(std::string_view data, Sha256::Code code) {
  Sha256 sha(code);
  sha.update(data);
  return sha.hex();
}

std::uint64_t choose_seed() {
  if (const char* env = std::getenv("CAIRN_SEED"); env != nullptr && *env != '\0') {
    return std::stoull(env);
  }
  return std::random_device{}();
}

}  // namespace

TEST_CASE("sha256: the FIPS 180-4 examples, portable and accelerated") {
  MESSAGE("SHA extensions on this machine: " << std::string(cairn::detail::sha256_accelerated() ? "yes" : "no"));
  const std::string million_a(1'000'000, 'a');
  const struct {
    std::string_view input;
    const char* expected;
  } vectors[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
      {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrl"
       "mnopqrsmnopqrstnopqrstu",
       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
      {million_a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.input.size());
    CHECK(digest(v.input, Sha256::Code::portable) == v.expected);
    CHECK(digest(v.input, Sha256::Code::best) == v.expected);
  }
}

TEST_CASE("sha256: accelerated and portable agree on random data in random pieces") {
  const std::uint64_t seed = choose_seed();
  MESSAGE("seed " << seed << " (replay: CAIRN_SEED=" << seed << ")");
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    std::string data(rng() % 5000, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    Sha256 best(Sha256::Code::best), portable(Sha256::Code::portable);
    std::size_t at = 0;
    while (at < data.size()) {
      const std::size_t piece = std::min<std::size_t>(data.size() - at, rng() % 200);
      best.update(data.data() + at, piece);
      portable.update(data.data() + at, piece);
      at += piece;
    }
    CAPTURE(data.size());
    const std::string a = best.hex();
    CHECK(a == portable.hex());
    CHECK(a == digest(data, Sha256::Code::portable));
  }
}
