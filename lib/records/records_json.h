// JSON forms that the library uses beyond records.h's to_json.
#pragma once

#include <array>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "cairn/records.h"

namespace cairn::detail {

// A torrent's JSON form, with the metainfo (up to 16 MiB) as base64, or, when
// with_metainfo is false, only its size as "metainfo_bytes": what change
// events carry, so that a counter update does not copy the .torrent file
// into the change log twice.
void torrent_to_json(nlohmann::json& j, const Torrent& r, bool with_metainfo);

// The members of a torrent's limits and flags objects, by their JSON names,
// in the order nlohmann::json writes them (sorted). The one list behind the
// JSON form (torrent_to_json), the stored columns and the change-log image
// (lib/stores/torrents.cpp).
struct TorrentLimitField {
  const char* name = nullptr;
  std::int64_t TorrentLimits::*member = nullptr;
};
inline constexpr std::array<TorrentLimitField, 4> kTorrentLimitFields = {{
    {"download_rate", &TorrentLimits::download_rate},
    {"max_connections", &TorrentLimits::max_connections},
    {"max_uploads", &TorrentLimits::max_uploads},
    {"upload_rate", &TorrentLimits::upload_rate},
}};

struct TorrentFlagField {
  const char* name = nullptr;
  bool TorrentFlags::*member = nullptr;
};
inline constexpr std::array<TorrentFlagField, 7> kTorrentFlagFields = {{
    {"auto_managed", &TorrentFlags::auto_managed},
    {"paused", &TorrentFlags::paused},
    {"seed_mode", &TorrentFlags::seed_mode},
    {"sequential_download", &TorrentFlags::sequential_download},
    {"share_mode", &TorrentFlags::share_mode},
    {"super_seeding", &TorrentFlags::super_seeding},
    {"upload_mode", &TorrentFlags::upload_mode},
}};

// The limits and flags as JSON objects, from the tables above.
nlohmann::json torrent_limits_json(const TorrentLimits& limits);
nlohmann::json torrent_flags_json(const TorrentFlags& flags);

}  // namespace cairn::detail
