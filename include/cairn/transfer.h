// Export and import: what Registry::export_records and import_records take
// and return. The format (JSON Lines, a header line, then one
// {"kind": ..., "record": ...} per line) is described there.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "cairn/events.h"
#include "cairn/export.h"

CAIRN_API_BEGIN
namespace cairn {

struct ExportOptions {
  // Only these kinds (app, pool, memory_block, config, torrent_session,
  // torrent, kv). Empty: every durable kind.
  std::vector<Kind> kinds{};
  // Called on the exporting thread after each record is written, with the
  // number written so far (for a progress display; the total is not counted
  // up front). What it throws ends the export and reaches the caller.
  // Default: none.
  std::function<void(std::size_t written)> progress{};
};

struct ImportOptions {
  // Called on the importing thread as the import goes: while it reads and
  // checks its input, once per line, with (lines read, 0); then while it
  // writes, once per record, with (records written, records to write). What
  // it throws ends the import with nothing written and reaches the caller.
  // Default: none.
  std::function<void(std::size_t done, std::size_t total)> progress{};
};

struct ImportResult {
  std::size_t lines = 0;    // lines read, the header included
  std::size_t records = 0;  // records written
  Revision revision = 0;    // the import's revision (0: nothing written)
};

}  // namespace cairn
CAIRN_API_END
