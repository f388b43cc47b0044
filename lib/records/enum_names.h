// Enum <-> name tables: one array of {value, "name"} pairs per enum, looked up
// both ways. Used for the names that JSON, SQL rows and the CLI carry.
#pragma once

#include <string_view>

#include <fmt/format.h>

#include "cairn/error.h"

namespace cairn::detail {

template <class Table, class Enum>
const char* name_of(const Table& table, Enum value) noexcept {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

// Throws Error(invalid_argument) naming `what` and the (shortened) text.
template <class Table>
auto value_of(const Table& table, std::string_view text, const char* what) {
  for (const auto& [v, name] : table) {
    if (text == name) return v;
  }
  throw Error(errc::invalid_argument, fmt::format("unknown {} \"{}\"", what, text.substr(0, 32)));
}

}  // namespace cairn::detail
