// Export and import: what Registry::export_records and import_records take
// and return. The format (JSON Lines, a header line, then one
// {"kind": ..., "record": ...} per line) is described there.
#pragma once

#include <cstddef>
#include <vector>

#include "cairn/events.h"
#include "cairn/records.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

struct ExportOptions {
  // Only these kinds (app, pool, memory_block, config, torrent_session,
  // torrent, kv). Empty: every durable kind.
  std::vector<Kind> kinds{};
};

struct ImportResult {
  std::size_t lines = 0;    // lines read, the header included
  std::size_t records = 0;  // records written
  Revision revision = 0;    // the import's revision (0: nothing written)
};

}  // namespace cairn
CAIRN_API_END
