// What export and import (lib/stores/export.cpp) need from each durable
// kind: all its records as JSON, read on the caller's connection (inside one
// read transaction, so an export is one snapshot), and one imported record
// written as it is (timestamps and versions kept; Stamping::keep).
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "cairn/events.h"
#include "db/connection.h"
#include "txn/store_context.h"

namespace cairn::detail {

// Receives one record's JSON form, without its revision.
using RecordSink = std::function<void(nlohmann::json&& record)>;

struct KindTransfer {
  Kind kind;
  void (*export_all)(db::Connection& conn, Timestamp now, const RecordSink& sink);
  void (*import_one)(Writer& w, const nlohmann::json& record);
};

// One per durable kind, defined beside its codec.
extern const KindTransfer kAppTransfer;
extern const KindTransfer kPoolTransfer;
extern const KindTransfer kMemoryBlockTransfer;
extern const KindTransfer kConfigTransfer;
extern const KindTransfer kTorrentSessionTransfer;
extern const KindTransfer kTorrentTransfer;
extern const KindTransfer kKvTransfer;

}  // namespace cairn::detail
