// UTF-8 well-formedness, for the JSON reader and writer and the stores'
// validation (stores/validate.h).
#pragma once

#include <string_view>

namespace cairn::detail {

// True when `s` is well-formed UTF-8: no overlong forms, no surrogates, no
// code points past U+10FFFF.
bool valid_utf8(std::string_view s) noexcept;

}  // namespace cairn::detail
