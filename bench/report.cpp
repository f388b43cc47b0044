#include "report.h"

#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <string_view>
#include <thread>

#include <fmt/format.h>

namespace cairn_bench {
namespace {

std::string format_value(const std::optional<double>& v) {
  if (!v) return "-";
  if (std::abs(*v) >= 1000) return fmt::format("{:.0f}", *v);
  if (std::abs(*v) >= 10) return fmt::format("{:.1f}", *v);
  return fmt::format("{:.3f}", *v);
}

const char* verdict(const Row& row) {
  const auto met = row.met();
  if (!met) return row.goal == Goal::none ? "" : "n/a";
  return *met ? "met" : "MISSED";
}

}  // namespace

std::optional<double> Row::ratio() const {
  if (!cairn || !raw || *raw == 0) return std::nullopt;
  return *cairn / *raw;
}

std::optional<bool> Row::met() const {
  switch (goal) {
    case Goal::none: return std::nullopt;
    case Goal::ratio_at_least: {
      const auto r = ratio();
      if (!r) return std::nullopt;
      return *r >= threshold;
    }
    case Goal::cairn_at_most:
      if (!cairn) return std::nullopt;
      return *cairn <= threshold;
    case Goal::cairn_below:
      if (!cairn) return std::nullopt;
      return *cairn < threshold;
    case Goal::cairn_at_least:
      if (!cairn) return std::nullopt;
      return *cairn >= threshold;
  }
  return std::nullopt;
}

void progress(std::string_view message) { fmt::print(stderr, "  {}\n", message); }

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

Machine describe_machine() {
  Machine m;
  m.nproc = std::thread::hardware_concurrency();
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        m.cpu_model = line.substr(line.find_first_not_of(" \t", colon + 1));
      }
      break;
    }
  }
  utsname u{};
  if (uname(&u) == 0) m.kernel = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  return m;
}

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

void print_table(const std::vector<Row>& rows) {
  std::size_t width = std::string_view("operation").size();
  for (const Row& row : rows) width = std::max(width, row.operation.size());
  const std::string header =
      fmt::format("{:<{}}  {:>12}  {:>12}  {:<6}  {:>7}  {:<22}  {}", "operation", width, "cairn",
                  "raw", "unit", "ratio", "target", "result");
  fmt::print("{}\n{}\n", header, std::string(header.size() + 2, '-'));
  for (const Row& row : rows) {
    const auto ratio = row.ratio();
    fmt::print("{:<{}}  {:>12}  {:>12}  {:<6}  {:>7}  {:<22}  {}\n", row.operation, width,
               format_value(row.cairn), format_value(row.raw), row.unit,
               ratio ? fmt::format("{:.3f}", *ratio) : "-", row.target, verdict(row));
  }
  bool any_note = false;
  for (const Row& row : rows) {
    if (row.note.empty()) continue;
    if (!any_note) fmt::print("\nnotes:\n");
    any_note = true;
    fmt::print("  {}: {}\n", row.operation, row.note);
  }
}

nlohmann::json to_json(const std::vector<Row>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const Row& row : rows) {
    auto optional_number = [](const std::optional<double>& v) {
      return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    };
    const auto met = row.met();
    out.push_back({
        {"operation", row.operation},
        {"unit", row.unit},
        {"cairn", optional_number(row.cairn)},
        {"raw", optional_number(row.raw)},
        {"ratio", optional_number(row.ratio())},
        {"target", row.target},
        {"met", met ? nlohmann::json(*met) : nlohmann::json(nullptr)},
        {"note", row.note},
        {"cairn_rounds", row.cairn_rounds},
        {"raw_rounds", row.raw_rounds},
    });
  }
  return out;
}

}  // namespace cairn_bench
