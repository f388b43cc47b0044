// Output formats for the commands a person reads (ls, stats, backup list,
// migrate status): `--format table|json|jsonl`, and the table itself.
//
// JSON and JSON Lines are for scripts and never change shape; the table is
// for people: aligned columns, readable UTC times, long values cut with an
// ellipsis, no colours.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.h"

namespace cairn::cli {

enum class Format { table, json, jsonl };  // in the order of kFormatNames

// The values --format takes, in the order --help and completion list them.
inline constexpr std::array<std::string_view, 3> kFormatNames = {"table", "json", "jsonl"};

// Adds `--format FORMAT` to `sub`; `piped` is the default when stdout is not
// a terminal, as the command passes it to output_format(), for --help.
// CLI11 checks the value while parsing: an unknown one is a usage error
// (exit 2) naming it and the allowed ones.
void add_format_option(CLI::App& sub, std::optional<std::string>& format, Format piped);

// The format to print in: --format when given, json with --json (an alias
// for --format json; both together must agree), else `table` when stdout is
// a terminal and `piped` when it is not.
Format output_format(const Globals& globals, const std::optional<std::string>& format,
                     Format piped);

// A column of a table: which member of each row it shows, and how.
struct Column {
  enum class Cell {
    text,    // strings as they are, anything else as compact JSON
    time,    // UTC milliseconds since the epoch, as "2026-12-07 17:03:12Z"; 0: "-"
    number,  // right-aligned
    list,    // an array's items joined by ","
  };
  std::string header;
  std::string member;  // the JSON member of the row; absent: "-"
  Cell cell = Cell::text;
  std::size_t max_width = 32;  // longer cells end in "…"
  bool keep_end = false;       // cut the start instead ("…/backups/x.db"): for paths
};

// A header line and one line per row, columns two spaces apart. Control
// characters and bad UTF-8 in the data print escaped, so a value cannot move
// the cursor or break the table.
void print_table(const std::vector<Column>& columns, const std::vector<nlohmann::json>& rows);

// The columns of `cairn ls KIND --format table`: the key, then the fields a
// person scans a list for, then revision and last update (record_columns.cpp).
std::vector<Column> record_columns(Kind kind);

// "2026-12-07 17:03:12Z" for UTC milliseconds since the epoch.
std::string utc_time(std::int64_t ms);

}  // namespace cairn::cli
