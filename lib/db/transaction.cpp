#include "db/transaction.h"

namespace cairn::db {

Transaction::Transaction(Connection& conn, Begin begin, Nesting nesting)
    : conn_(conn), active_(!(nesting == Nesting::join && conn.in_transaction())) {
  if (active_) conn_.exec(begin == Begin::immediate ? "BEGIN IMMEDIATE" : "BEGIN");
}

Transaction::~Transaction() {
  if (active_) conn_.try_exec("ROLLBACK");
}

void Transaction::commit() {
  if (!active_) return;
  active_ = false;
  try {
    conn_.exec("COMMIT");
  } catch (...) {
    conn_.try_exec("ROLLBACK");  // a failed COMMIT may leave it open
    throw;
  }
}

}  // namespace cairn::db
