// The whole public API of cairn.
#pragma once

#include "cairn/backup.h"
#include "cairn/error.h"
#include "cairn/events.h"
#include "cairn/migrate.h"
#include "cairn/options.h"
#include "cairn/records.h"
#include "cairn/registry.h"
#include "cairn/stats.h"
#include "cairn/stores.h"
#include "cairn/transfer.h"
#include "cairn/tx.h"
#include "cairn/version.h"
