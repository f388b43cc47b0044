#include "util/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include <fmt/format.h>

#include "cairn/error.h"

namespace cairn::detail {
namespace {

// libcrypto fails a digest call only on a broken context or a provider that
// refuses SHA-256 (a FIPS configuration without it): not the caller's fault,
// and nothing to hash with.
[[noreturn]] void refused(const char* call) {
  throw Error(errc::io_error, fmt::format("sha256: libcrypto's {} failed", call));
}

}  // namespace

void Sha256::FreeContext::operator()(evp_md_ctx_st* ctx) const noexcept { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_) throw std::bad_alloc();
  if (EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) refused("EVP_DigestInit_ex");
}

void Sha256::update(const void* data, std::size_t size) {
  if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) refused("EVP_DigestUpdate");
}

std::string Sha256::hex() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_.get(), digest.data(), &size) != 1) refused("EVP_DigestFinal_ex");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * std::size_t{size}, '\0');
  for (unsigned int i = 0; i < size; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

std::string sha256_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(errc::io_error, fmt::format("open {}: {}", path.string(), std::strerror(errno)));
  }
  Sha256 sha;
  std::vector<char> buffer(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(errc::io_error, fmt::format("read {}: {}", path.string(), std::strerror(err)));
    }
    if (n == 0) break;
    sha.update(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return sha.hex();
}

}  // namespace cairn::detail
