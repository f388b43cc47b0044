// SHA-256 (FIPS 180-4), for backup manifests, through OpenSSL's libcrypto
// (EVP digests: it picks the CPU's SHA extensions or vector code itself).
// Streaming: update() any number of times, then hex().
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace cairn::detail {

// Owns its digest context; one thread at a time. Throws std::bad_alloc when
// libcrypto cannot allocate, Error(io_error) should libcrypto refuse a call.
class Sha256 {
 public:
  Sha256();

  void update(const void* data, std::size_t size);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest as 64 lowercase hex digits. Ends the computation.
  std::string hex();

 private:
  struct FreeContext {
    void operator()(evp_md_ctx_st* ctx) const noexcept;
  };
  std::unique_ptr<evp_md_ctx_st, FreeContext> ctx_;
};

// The SHA-256 of a file's bytes. Throws Error(io_error).
std::string sha256_file(const std::filesystem::path& path);

}  // namespace cairn::detail
