// The known keys of the torrent session document, as one table: the JSON
// form (lib/records/records.cpp) and the validation (lib/stores/torrent_session.cpp)
// both walk it, so a key added here is read, written and checked.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string_view>
#include <variant>

#include "cairn/records.h"

namespace cairn::detail {

struct SessionField {
  const char* name;
  std::variant<std::int64_t TorrentSession::*, bool TorrentSession::*,
               std::string TorrentSession::*, double TorrentSession::*>
      member;
  // Integers and numbers: the allowed range. Strings: the largest size.
  double min = 0;
  double max = 0;
};

inline constexpr double kNoMax = std::numeric_limits<double>::max();
inline constexpr double kMaxPathBytes = 4096;

inline const std::array<SessionField, 31>& session_fields() {
  using S = TorrentSession;
  static const std::array<SessionField, 31> fields = {{
      {"download_dir", &S::download_dir, 0, kMaxPathBytes},
      {"incomplete_dir", &S::incomplete_dir, 0, kMaxPathBytes},
      {"incomplete_dir_enabled", &S::incomplete_dir_enabled},
      {"peer_port", &S::peer_port, 1, 65535},
      {"peer_port_random_on_start", &S::peer_port_random_on_start},
      {"port_forwarding_enabled", &S::port_forwarding_enabled},
      {"peer_limit_global", &S::peer_limit_global, 0, 1'000'000},
      {"peer_limit_per_torrent", &S::peer_limit_per_torrent, 0, 1'000'000},
      {"speed_limit_down", &S::speed_limit_down, 0, kNoMax},
      {"speed_limit_down_enabled", &S::speed_limit_down_enabled},
      {"speed_limit_up", &S::speed_limit_up, 0, kNoMax},
      {"speed_limit_up_enabled", &S::speed_limit_up_enabled},
      {"alt_speed_down", &S::alt_speed_down, 0, kNoMax},
      {"alt_speed_up", &S::alt_speed_up, 0, kNoMax},
      {"alt_speed_enabled", &S::alt_speed_enabled},
      {"encryption", &S::encryption, 0, 2},
      {"download_queue_size", &S::download_queue_size, 0, 1'000'000},
      {"download_queue_enabled", &S::download_queue_enabled},
      {"seed_queue_size", &S::seed_queue_size, 0, 1'000'000},
      {"seed_queue_enabled", &S::seed_queue_enabled},
      {"ratio_limit", &S::ratio_limit, 0, 1e9},
      {"ratio_limit_enabled", &S::ratio_limit_enabled},
      {"idle_seeding_limit", &S::idle_seeding_limit, 0, kNoMax},
      {"idle_seeding_limit_enabled", &S::idle_seeding_limit_enabled},
      {"dht_enabled", &S::dht_enabled},
      {"pex_enabled", &S::pex_enabled},
      {"lpd_enabled", &S::lpd_enabled},
      {"utp_enabled", &S::utp_enabled},
      {"start_added_torrents", &S::start_added_torrents},
      {"rename_partial_files", &S::rename_partial_files},
      {"cache_size_mb", &S::cache_size_mb, 0, 1'000'000},
  }};
  return fields;
}

inline const SessionField* find_session_field(std::string_view name) {
  for (const auto& field : session_fields()) {
    if (name == field.name) return &field;
  }
  return nullptr;
}

}  // namespace cairn::detail
