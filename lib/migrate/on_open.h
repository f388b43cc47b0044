// Migration on open: what Registry::open and cairn::migrate() run before a
// registry is used.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>

#include "cairn/migrate.h"
#include "txn/store_context.h"

namespace cairn::detail {

// Writes a backup of the open registry to `dest` and returns where it went.
using BackupFn = std::function<std::filesystem::path(const std::filesystem::path& dest)>;

// Refuses a foreign, newer or edited database before anything is written,
// then configures the connection and applies pending migrations (up to `to`,
// default the newest). A file registry with data is first backed up through
// `backup` (Options::backup_before_migrate), beside it, named
// "<file>.pre-migrate-v<version>". The schema.migrated event commits with the
// last step and goes to ctx.on_commit after it.
MigrateResult prepare_schema(StoreContext& ctx, std::optional<int> to, const BackupFn& backup);

}  // namespace cairn::detail
