// The table columns of `cairn ls` per kind. Members are the records' JSON
// names (records.h); times are the registry's UTC milliseconds.

#include <vector>

#include "table.h"

namespace cairn::cli {

std::vector<Column> record_columns(Kind kind) {
  using Cell = Column::Cell;
  const Column revision{"REVISION", "revision", Cell::number};
  const Column updated{"UPDATED", "updated_at", Cell::time};
  switch (kind) {
    case Kind::app:
      return {{"ID", "id"},
              {"POOLS", "pools", Cell::list},
              {"PROTOCOL", "protocol_version", Cell::text, 16},
              {"LAST SEEN", "last_seen", Cell::time},
              revision,
              updated};
    case Kind::pool:
      return {{"NAME", "name"},
              {"TYPE", "type"},
              {"OWNERS", "owners", Cell::list},
              {"DESCRIPTION", "description", Cell::text, 40},
              revision,
              updated};
    case Kind::memory_block:
      return {{"ID", "id"},
              {"NAME", "name"},
              {"POOL", "pool"},
              {"TYPE", "type"},
              {"SIZE", "size", Cell::number},
              {"VERSION", "version", Cell::number},
              revision,
              updated};
    case Kind::config:
      return {{"KEY", "key"}, {"VALUE", "value", Cell::text, 48}, revision, updated};
    case Kind::torrent:
      return {{"INFO HASH", "info_hash", Cell::text, 64},
              {"NAME", "name"},
              {"STATE", "state"},
              {"SIZE", "total_size", Cell::number},
              {"DOWNLOADED", "downloaded", Cell::number},
              revision,
              updated};
    case Kind::kv:
      return {{"KEY", "key"},
              {"VERSION", "version", Cell::number},
              {"EXPIRES", "expires_at", Cell::time},
              revision,
              updated};
    case Kind::trigger:  // no revision: triggers are not in the change log
      return {{"ID", "id"},
              {"DESTINATION", "destination"},
              {"ORIGIN APP", "origin_app_id"},
              {"POOL", "pool"},
              {"DISPATCHED TO", "dispatched_to"},
              {"COMPLETED", "completed"},
              {"EXPIRES", "expires_at", Cell::time}};
    case Kind::torrent_session:  // one record: `get`, not `ls`
    case Kind::registry:
      break;
  }
  return {};
}

}  // namespace cairn::cli
