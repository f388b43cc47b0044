// The raw side of the KV and torrent scenarios: what KvStore and TorrentStore
// do, written directly against the sqlite3 C API with prepared statements,
// on the same schema (migrations/0003_torrents_kv.sql, copied from a registry
// cairn created) and with the same pragmas as the raw app writer and reader.
//
// A KV put is, as in lib/stores/kv.cpp and lib/txn/store_context.cpp:
//   BEGIN IMMEDIATE                                   (one per put, or per batch)
//   SELECT the entry by (namespace, key)              (version, created_at, the before image)
//   DELETE it and log kv.expired when it had expired  (never, in these scenarios)
//   SELECT the newest revision + 1                   (once per transaction)
//   INSERT ... ON CONFLICT (namespace, key) DO UPDATE
//   INSERT INTO change_log (..., after = the entry as JSON, value in base64, ...)
//   COMMIT
// A torrent save_all is one transaction of, per torrent: SELECT by info hash
// (created_at, added_at, the before image), the upsert, and the change-log row
// (before and after images without the metainfo, as cairn writes them).
// Reads are one SELECT by key, or one keyset page of a prefix (the same range
// query as KvStore::list), with the TTL checked.
//
// What it leaves out is what cairn adds on top: validation, the state
// machine's checks, nlohmann::json for the JSON columns and images, the
// savepoints, the event list and the reader-connection pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raw_sqlite.h"
#include "workload.h"

namespace cairn_bench {

class RawKvWriter {
 public:
  RawKvWriter(const std::filesystem::path& path, bool synchronous_full);

  // One entry in a transaction of its own.
  void put(std::string_view ns, std::string_view key, std::string_view value);
  // Several in one transaction: begin(), put_in_transaction()..., commit().
  void begin();
  void put_in_transaction(std::string_view ns, std::string_view key, std::string_view value);
  void commit();

 private:
  std::optional<RawKvEntry> find(std::string_view ns, std::string_view key);
  std::int64_t revision();
  void log(const char* op, const char* topic, const std::string& id, const std::string* before,
           const std::string* after, std::int64_t now);

  RawConnection conn_;
  RawStatement begin_, commit_, select_, delete_, allocate_revision_, upsert_, append_change_;
  std::int64_t revision_ = 0;
  std::int64_t change_index_ = 0;
  std::string id_, after_, before_;
};

class RawKvReader {
 public:
  explicit RawKvReader(const std::filesystem::path& path);

  // Absent or expired: nullopt.
  std::optional<RawKvEntry> get(std::string_view ns, std::string_view key);
  // Live entries whose key starts with `prefix` (not empty, not all 0xff),
  // after `after` (exclusive; "" for the first page), at most `limit`.
  std::vector<RawKvEntry> list(std::string_view ns, std::string_view prefix, std::string_view after,
                               std::int64_t limit);

 private:
  RawConnection conn_;
  RawStatement select_, list_inclusive_, list_exclusive_;
};

class RawTorrentWriter {
 public:
  RawTorrentWriter(const std::filesystem::path& path, bool synchronous_full);

  // Every torrent in one transaction (go-i2p-bt's SaveAllTorrents).
  void save_all(const std::vector<RawTorrent>& torrents);

 private:
  std::optional<RawTorrent> find(std::string_view info_hash);
  void put_in_transaction(const RawTorrent& torrent);

  RawConnection conn_;
  RawStatement begin_, commit_, select_, allocate_revision_, upsert_, append_change_;
  std::int64_t revision_ = 0;
  std::int64_t change_index_ = 0;
  std::string after_, before_;
};

class RawTorrentReader {
 public:
  explicit RawTorrentReader(const std::filesystem::path& path);
  std::optional<RawTorrent> get(std::string_view info_hash);

 private:
  RawConnection conn_;
  RawStatement select_;
};

// Row and byte counts of one table of a registry file, to check that both
// sides did the same work: its rows, the bytes of `bytes_sql` summed over
// them, the change-log rows, the revision and the bytes of the images.
struct TableCheck {
  std::int64_t rows = 0, row_bytes = 0, changes = 0, revision = 0, image_bytes = 0;
  bool operator==(const TableCheck&) const = default;
};
TableCheck raw_table_check(const std::filesystem::path& path, std::string_view table,
                           std::string_view bytes_sql);

}  // namespace cairn_bench
