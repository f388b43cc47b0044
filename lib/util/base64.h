// Base64 (RFC 4648 section 4, with padding) for the binary fields of records
// in JSON: torrent pieces and metainfo, KV values. One encoder and one strict
// decoder; append_json_base64 (util/json_text.h) writes through the encoder.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::detail {

// The length of the padded encoding of `size` bytes.
constexpr std::size_t base64_encoded_size(std::size_t size) { return (size + 2) / 3 * 4; }

// Writes the encoding of `bytes` at `out`, which must have room for
// base64_encoded_size(bytes.size()) chars, and returns the end of what it wrote.
char* base64_encode_to(char* out, std::string_view bytes) noexcept;

std::string base64_encode(std::string_view bytes);

// The decoded bytes, or nullopt when `text` is not canonical padded base64:
// a length that is not a multiple of 4, a char outside the alphabet
// (whitespace and line breaks included), '=' anywhere but at the end, or
// nonzero bits under the padding (so every byte string has one encoding).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace cairn::detail
