// Stats: what Registry::stats reports about a registry and its subscribers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/options.h"
#include "cairn/records.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

struct SubscriberStats {
  std::string name{};              // empty for an anonymous subscription
  Revision delivered = 0;        // last revision handled
  Revision lag = 0;              // revisions behind the registry's last one
  std::int64_t events_delivered = 0;
  std::int64_t handler_failures = 0;
  std::int64_t resyncs = 0;
};

struct Stats {
  std::string path{};               // ":memory:" for an in-memory registry
  int schema_version = 0;
  std::int64_t database_bytes = 0;
  std::int64_t wal_bytes = 0;
  std::int64_t page_size = 0;
  std::int64_t page_count = 0;
  std::int64_t freelist_pages = 0;
  std::int64_t apps = 0, pools = 0, memory_blocks = 0, config_entries = 0;
  std::int64_t torrents = 0, kv_entries = 0;  // kv_entries counts expired ones not yet purged
  std::int64_t triggers = 0;                  // live, in this process
  Revision last_revision = 0;
  Revision oldest_revision = 0;   // oldest revision kept in the change log (0: empty)
  std::int64_t statements_cached = 0;
  // Write transactions this process committed, and the SQLite COMMITs (each
  // one fsync under Synchronous::full) that made them durable: fewer when
  // concurrent writers were committed together (group commit).
  std::int64_t transactions_committed = 0;
  std::int64_t commits = 0;
  std::int64_t writers_waiting = 0;  // threads of this process waiting to write, now
  std::vector<SubscriberStats> subscribers{};
  std::int64_t events_delivered = 0;   // over every subscriber, this process
  std::int64_t handler_failures = 0;
  // The last backup this process took (scheduled or not); empty path: none.
  std::string last_backup_path{};
  Timestamp last_backup_at = 0;
  std::int64_t last_backup_duration_ms = 0;
  // Conditions an operator should look at, one sentence each: the WAL past
  // Options::journal_size_limit (a reader holds an old snapshot).
  std::vector<std::string> warnings{};
};

void to_json(nlohmann::json& j, const Stats& s);

}  // namespace cairn
CAIRN_API_END
