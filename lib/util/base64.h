// Base64 (RFC 4648, with padding) for the binary fields of records in JSON:
// torrent pieces and metainfo, KV values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cairn::detail {

std::string base64_encode(std::string_view bytes);

// The decoded bytes, or nullopt when `text` is not canonical padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace cairn::detail
