// --format and the table printer of table.h.

#include "table.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

namespace cairn::cli {
namespace {

std::string format_list() {
  std::string list;
  for (std::size_t i = 0; i < kFormatNames.size(); ++i) {
    list += i == 0 ? "" : (i + 1 == kFormatNames.size() ? " or " : ", ");
    list += kFormatNames[i];
  }
  return list;
}

Format format_named(std::string_view name) {
  if (name == "json") return Format::json;
  if (name == "jsonl") return Format::jsonl;
  return Format::table;
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Code points, which is what a terminal shows for the text we print (wide
// East Asian characters count as one: a table of them is off by a little).
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return !is_continuation(static_cast<unsigned char>(c));
  }));
}

// The bytes of the first `width` code points of `text`.
std::size_t prefix_bytes(std::string_view text, std::size_t width) {
  std::size_t at = 0;
  for (std::size_t seen = 0; at < text.size(); ++at) {
    if (!is_continuation(static_cast<unsigned char>(text[at])) && seen++ == width) break;
  }
  return at;
}

std::string fit(std::string text, std::size_t max_width, bool keep_end) {
  const std::size_t width = display_width(text);
  if (max_width == 0 || width <= max_width) return text;
  const std::string ellipsis = "\u2026";
  if (keep_end) return ellipsis + text.substr(prefix_bytes(text, width - max_width + 1));
  text.resize(prefix_bytes(text, max_width - 1));
  while (!text.empty() && text.back() == ' ') text.pop_back();  // "longer than…"
  return text + ellipsis;
}

// JSON's escaping makes any string safe to print on one line: control
// characters become \n, \u001b..., and bad UTF-8 becomes U+FFFD.
std::string safe_text(const std::string& text) {
  const std::string quoted =
      nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return quoted.substr(1, quoted.size() - 2);
}

std::string compact(const nlohmann::json& value) {
  if (value.is_string()) return safe_text(value.get<std::string>());
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string cell_text(const Column& column, const nlohmann::json& row) {
  if (!row.is_object() || !row.contains(column.member) || row[column.member].is_null()) return "-";
  const nlohmann::json& value = row[column.member];
  switch (column.cell) {
    case Column::Cell::time:
      if (!value.is_number_integer()) break;
      return value.get<std::int64_t>() == 0 ? "-" : utc_time(value.get<std::int64_t>());
    case Column::Cell::list:
      if (!value.is_array()) break;
      {
        std::string joined;
        for (const nlohmann::json& item : value)
          joined += (joined.empty() ? "" : ",") + compact(item);
        return joined.empty() ? "-" : joined;
      }
    case Column::Cell::text:
    case Column::Cell::number:
      break;
  }
  const std::string text = compact(value);
  return text.empty() ? "-" : text;
}

}  // namespace

void add_format_option(CLI::App& sub, std::optional<std::string>& format, Format piped) {
  const CLI::Validator known(
      [](const std::string& value) {
        for (std::string_view name : kFormatNames) {
          if (value == name) return std::string();
        }
        return "unknown format " + in_quotes(value) + " (expected " + format_list() + ")";
      },
      "", "FORMAT");
  const std::string default_text =
      piped == Format::table
          ? "table"
          : "table on a terminal, " + std::string(kFormatNames[static_cast<std::size_t>(piped)]) +
                " when piped";
  sub.add_option("--format", format,
                 "Output: " + format_list() + " (default: " + default_text + ")")
      ->type_name("FORMAT")
      ->check(known);
}

Format output_format(const Globals& globals, const std::optional<std::string>& format,
                     Format piped) {
  if (format) {
    if (globals.json && *format != "json") {
      fail_usage("--json is --format json; it conflicts with --format " + *format);
    }
    return format_named(*format);
  }
  if (globals.json) return Format::json;
  return ::isatty(STDOUT_FILENO) != 0 ? Format::table : piped;
}

void print_table(const std::vector<Column>& columns, const std::vector<nlohmann::json>& rows) {
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths;
  for (const Column& column : columns) widths.push_back(display_width(column.header));
  for (const nlohmann::json& row : rows) {
    std::vector<std::string>& line = cells.emplace_back();
    for (std::size_t c = 0; c < columns.size(); ++c) {
      line.push_back(fit(cell_text(columns[c], row), columns[c].max_width, columns[c].keep_end));
      widths[c] = std::max(widths[c], display_width(line.back()));
    }
  }
  const auto print_line = [&](const std::vector<std::string>& line) {
    std::string out;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string padding(widths[c] - display_width(line[c]), ' ');
      const bool last = c + 1 == columns.size();
      if (columns[c].cell == Column::Cell::number) {
        out += padding + line[c];
      } else {
        out += line[c] + (last ? "" : padding);
      }
      if (!last) out += "  ";
    }
    std::cout << out << '\n';
  };
  std::vector<std::string> headers;
  for (const Column& column : columns) headers.push_back(column.header);
  print_line(headers);
  for (const auto& line : cells) print_line(line);
}

std::string utc_time(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000 - (ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) return std::to_string(ms);
  char text[32];
  if (std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%SZ", &tm) == 0) return std::to_string(ms);
  return text;
}

}  // namespace cairn::cli
