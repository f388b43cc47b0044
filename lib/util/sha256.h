// SHA-256 (FIPS 180-4), for backup manifests. Streaming: update() any number
// of times, then hex(). On a CPU with the x86 SHA extensions the blocks go
// through them (3.8x the portable code here: a backup hashes its whole file).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace cairn::detail {

class Sha256 {
 public:
  enum class Code { best, portable };  // portable: for tests, to compare the two

  explicit Sha256(Code code = Code::best);
  void update(const void* data, std::size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest as 64 lowercase hex digits. Ends the computation.
  std::string hex();

 private:
  void blocks(const std::uint8_t* p, std::size_t count);

  bool accelerated_;
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  // bytes
};

// Whether Sha256 uses the CPU's SHA extensions here.
bool sha256_accelerated();

// The SHA-256 of a file's bytes. Throws Error(io_error).
std::string sha256_file(const std::filesystem::path& path);

}  // namespace cairn::detail
