// The library's version and the newest registry schema it knows.
#pragma once

#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

// The version of this library ("0.1.0") and the newest schema it knows.
const char* version() noexcept;
int latest_schema_version() noexcept;

}  // namespace cairn
CAIRN_API_END
