// Export and import: every durable record as JSON Lines (Lampo's
// migrate-between-backends), for moving data between registries and for
// other tools to read. The format:
//
//   {"format":"cairn-export","version":1}
//   {"kind":"pool","record":{...}}         one record per line, without its
//   {"kind":"app","record":{...}}          revision, kinds in kExportOrder,
//   ...                                    each ordered by key
//
// Exporting one registry, importing into an empty one and exporting again
// gives the same bytes: records keep their timestamps and versions.
#pragma once

#include <cstddef>
#include <iosfwd>

#include "cairn/transfer.h"
#include "txn/store_context.h"

namespace cairn::detail {

std::size_t export_jsonl(StoreContext& ctx, std::ostream& out, const ExportOptions& options);
ImportResult import_jsonl(StoreContext& ctx, std::istream& in, const ImportOptions& options);

}  // namespace cairn::detail
