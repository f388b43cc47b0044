// JSON forms that the library uses beyond records.h's to_json.
#pragma once

#include <nlohmann/json.hpp>

#include "cairn/records.h"

namespace cairn::detail {

// A torrent's JSON form, with the metainfo (up to 16 MiB) as base64, or, when
// with_metainfo is false, only its size as "metainfo_bytes": what change
// events carry, so that a counter update does not copy the .torrent file
// into the change log twice.
void torrent_to_json(nlohmann::json& j, const Torrent& r, bool with_metainfo);

}  // namespace cairn::detail
