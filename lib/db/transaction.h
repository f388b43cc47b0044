// db::Transaction: one transaction on one connection, as a scope. It is
// rolled back when the scope is left without commit() (an exception, an
// early return), and a failed COMMIT is rolled back too, so no connection is
// ever left inside a transaction it no longer knows about. Like SQLiteCpp's
// Transaction, with two things cairn needs: BEGIN IMMEDIATE for writers, and
// joining a transaction the caller already holds.
#pragma once

#include "db/connection.h"

namespace cairn::db {

enum class Begin {
  deferred,   // BEGIN: a read transaction until the first write
  immediate,  // BEGIN IMMEDIATE: takes the write lock now (writers never deadlock)
};

enum class Nesting {
  begin,  // always BEGIN (an error if one is open: SQLite has no nesting)
  join,   // when a transaction is already open, be part of it: commit() and
          // the rollback are then left to whoever opened it
};

class Transaction {
 public:
  explicit Transaction(Connection& conn, Begin begin = Begin::deferred,
                       Nesting nesting = Nesting::begin);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // COMMIT (nothing when joined). When it fails, the transaction is rolled
  // back before the error is thrown.
  void commit();

 private:
  Connection& conn_;
  bool active_;  // ours, and neither committed nor rolled back yet
};

}  // namespace cairn::db
