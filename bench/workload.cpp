#include "workload.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cairn_bench {
namespace {

constexpr const char* kProtocolVersion = "1.4";
constexpr const char* kTriggersJson = R"(["on-start","on-stop"])";

std::string host_of(std::int64_t index) {
  return fmt::format("10.{}.{}.{}", (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff);
}

std::int64_t port_of(std::int64_t index) { return 7000 + index % 1000; }

const char* zone_of(std::int64_t index) { return index % 2 == 0 ? "zone-a" : "zone-b"; }

// splitmix64: deterministic bytes from an index.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void append_bytes(std::string& out, std::uint64_t seed, std::size_t n) {
  std::uint64_t state = seed;
  while (n > 0) {
    std::uint64_t word = mix(state++);
    for (int b = 0; b < 8 && n > 0; ++b, --n) {
      out += static_cast<char>(word & 0xff);
      word >>= 8;
    }
  }
}

constexpr std::int64_t kEpochMs = 1'700'000'000'000;
constexpr std::int64_t kPieceLength = 256 * 1024;
const char* const kTrackers[2][2] = {
    {"udp://tracker.opentrackr.org:1337/announce", "udp://open.stealth.si:80/announce"},
    {"https://tracker.example.org:443/announce", nullptr}};

// What both forms of torrent `index` at save `round` share.
struct TorrentParts {
  std::string hash, name, save_path, pieces, metainfo;
  std::int64_t total_size = 0, downloaded = 0, uploaded = 0;
  std::int64_t added_at = 0, last_activity = 0;
  std::vector<std::int64_t> priorities{};
  std::int64_t download_rate = 0, upload_rate = 0, max_connections = 0, max_uploads = 0;
  bool sequential = false;
  std::string category{};
};

TorrentParts torrent_parts(std::int64_t index, std::int64_t round) {
  TorrentParts p;
  p.hash = torrent_hash(index);
  p.name = fmt::format("debian-12.{}.{}-amd64-DVD-{}.iso", index % 13, index % 7, index);
  p.save_path = fmt::format("/srv/torrents/downloads/{}", index % 16);
  p.total_size = (std::int64_t{1} << 30) + (index % 4096) * (std::int64_t{1} << 20);
  p.downloaded = std::min(p.total_size, round * (std::int64_t{64} << 20) + index);
  p.uploaded = round * (std::int64_t{32} << 20) + index * 7;
  p.added_at = kEpochMs + index * 1000;
  p.last_activity = kEpochMs + 86'400'000 + round * 60'000 + index;
  p.priorities = {4, 4, 4, 1, 0, 7};
  p.download_rate = 0;
  p.upload_rate = 512 * 1024;
  p.max_connections = 200;
  p.max_uploads = 8;
  p.sequential = index % 10 == 0;
  p.category = index % 2 == 0 ? "linux-iso" : "datasets";

  // The bitfield: the first pieces downloaded, the rest pseudo-random.
  append_bytes(p.pieces, static_cast<std::uint64_t>(index) * 7919 + 1, kPiecesBytes);
  for (std::size_t i = 0; i < kPiecesBytes / 4; ++i) p.pieces[i] = static_cast<char>(0xff);

  // A bencoded .torrent: the announce list, then the info dictionary whose
  // "pieces" (20-byte SHA-1 hashes) fill it up to kMetainfoBytes.
  const std::string header = fmt::format(
      "d8:announce{}:{}13:announce-listll{}:{}{}:{}el{}:{}ee13:creation datei{}e4:infod6:lengthi{}"
      "e4:name{}:{}12:piece lengthi{}e6:pieces",
      std::strlen(kTrackers[0][0]), kTrackers[0][0], std::strlen(kTrackers[0][0]), kTrackers[0][0],
      std::strlen(kTrackers[0][1]), kTrackers[0][1], std::strlen(kTrackers[1][0]), kTrackers[1][0],
      p.added_at / 1000, p.total_size, p.name.size(), p.name, kPieceLength);
  // header + "<n>:" + n bytes + "ee" == kMetainfoBytes, with n a multiple of 20.
  std::size_t n = kMetainfoBytes - header.size() - 2;
  n -= fmt::formatted_size("{}:", n);
  n -= n % 20;
  p.metainfo = header;
  fmt::format_to(std::back_inserter(p.metainfo), "{}:", n);
  append_bytes(p.metainfo, static_cast<std::uint64_t>(index) * 104729 + 3, n);
  p.metainfo += "ee";
  p.metainfo.resize(kMetainfoBytes, 'x');  // padding after the dictionary, if n was rounded
  return p;
}

}  // namespace

std::string app_id(const char* prefix, std::int64_t index) {
  return fmt::format("{}-{:07}", prefix, index);
}

std::int64_t pool_count(std::int64_t total) {
  return std::max<std::int64_t>(1, total / kAppsPerPool);
}

std::string pool_name_at(std::int64_t pool) { return fmt::format("pool-{:06}", pool); }

std::string pool_name(std::int64_t index, std::int64_t total) {
  return pool_name_at(index % pool_count(total));
}

cairn::App make_app(const char* prefix, std::int64_t index, std::int64_t total) {
  return cairn::App{
      .id = app_id(prefix, index),
      .pools = {pool_name(index, total)},
      .triggers = {"on-start", "on-stop"},
      .meta = {{"host", host_of(index)}, {"port", port_of(index)}, {"zone", zone_of(index)}},
      .protocol_version = kProtocolVersion,
  };
}

RawApp make_raw_app(const char* prefix, std::int64_t index, std::int64_t total) {
  RawApp a;
  a.id = app_id(prefix, index);
  a.pools = {pool_name(index, total)};
  a.pools_json = fmt::format(R"(["{}"])", a.pools.front());
  a.triggers_json = kTriggersJson;
  // Keys in the order nlohmann::json writes them (sorted), so both sides
  // store the same bytes.
  a.meta_json = fmt::format(R"({{"host":"{}","port":{},"zone":"{}"}})", host_of(index),
                            port_of(index), zone_of(index));
  a.protocol_version = kProtocolVersion;
  return a;
}

// ---- Key-value entries ----------------------------------------------------

std::string kv_prefix(std::int64_t bucket) { return fmt::format("b{:04}/", bucket); }

std::string kv_key(std::string_view tag, std::int64_t index, std::int64_t per_prefix) {
  return fmt::format("{}{}k{:07}", kv_prefix(index / per_prefix), tag, index % per_prefix);
}

std::string kv_value(std::int64_t index) {
  std::string v;
  v.reserve(kKvValueBytes);
  append_bytes(v, static_cast<std::uint64_t>(index) + 0x5eed, kKvValueBytes);
  return v;
}

// ---- Torrents ---------------------------------------------------------------

std::string torrent_hash(std::int64_t index) {
  const auto i = static_cast<std::uint64_t>(index);
  return fmt::format("{:016x}{:016x}{:08x}", mix(i), mix(i ^ 0xabcdef), mix(i + 77) & 0xffffffff);
}

cairn::Torrent make_torrent(std::int64_t index, std::int64_t round) {
  TorrentParts p = torrent_parts(index, round);
  return cairn::Torrent{
      .info_hash = std::move(p.hash),
      .name = std::move(p.name),
      .state = cairn::TorrentState::started,
      .save_path = std::move(p.save_path),
      .total_size = p.total_size,
      .downloaded = p.downloaded,
      .uploaded = p.uploaded,
      .pieces = std::move(p.pieces),
      .trackers = {{kTrackers[0][0], kTrackers[0][1]}, {kTrackers[1][0]}},
      .file_priorities = p.priorities,
      .limits = {.download_rate = p.download_rate,
                 .upload_rate = p.upload_rate,
                 .max_connections = p.max_connections,
                 .max_uploads = p.max_uploads},
      .flags = {.sequential_download = p.sequential},
      .added_at = p.added_at,
      .last_activity = p.last_activity,
      .metainfo = std::move(p.metainfo),
      .extra = {{"category", p.category}, {"tags", {"mirror", "verified"}}},
  };
}

RawTorrent make_raw_torrent(std::int64_t index, std::int64_t round) {
  TorrentParts p = torrent_parts(index, round);
  RawTorrent t;
  t.info_hash = std::move(p.hash);
  t.name = std::move(p.name);
  t.state = "started";
  t.save_path = std::move(p.save_path);
  t.total_size = p.total_size;
  t.downloaded = p.downloaded;
  t.uploaded = p.uploaded;
  t.pieces = std::move(p.pieces);
  // The JSON columns as nlohmann::json writes them (objects with sorted
  // keys), so both sides store the same bytes.
  t.trackers_json =
      fmt::format(R"([["{}","{}"],["{}"]])", kTrackers[0][0], kTrackers[0][1], kTrackers[1][0]);
  t.file_priorities_json = fmt::format("[{}]", fmt::join(p.priorities, ","));
  t.limits_json = fmt::format(
      R"({{"download_rate":{},"max_connections":{},"max_uploads":{},"upload_rate":{}}})",
      p.download_rate, p.max_connections, p.max_uploads, p.upload_rate);
  t.flags_json = fmt::format(
      R"({{"auto_managed":true,"paused":false,"seed_mode":false,"sequential_download":{},)"
      R"("share_mode":false,"super_seeding":false,"upload_mode":false}})",
      p.sequential);
  t.added_at = p.added_at;
  t.last_activity = p.last_activity;
  t.metainfo = std::move(p.metainfo);
  t.extra_json = fmt::format(R"({{"category":"{}","tags":["mirror","verified"]}})", p.category);
  return t;
}

}  // namespace cairn_bench
