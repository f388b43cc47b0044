// Results of a benchmark run: one Row per operation, printed as a table and
// written as JSON so that runs on different days and machines can be
// compared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cairn_bench {

// How a row's target is checked.
enum class Goal {
  none,               // reported for context only
  ratio_at_least,     // cairn/raw (throughput) >= threshold
  cairn_at_most,      // cairn's value <= threshold (time, slowdown factor)
  cairn_below,        // cairn's value < threshold
  cairn_at_least,     // cairn's value >= threshold (a fraction)
};

struct Row {
  std::string operation{};
  std::string unit{};                  // of the cairn and raw values: "ops/s", "ms", "x"
  std::optional<double> cairn{}, raw{};  // medians over the rounds; absent when not measured
  Goal goal = Goal::none;
  double threshold = 0;
  std::string target{};                // as printed: ">= 0.85"
  std::string note{};
  std::vector<double> cairn_rounds{}, raw_rounds{};

  // cairn/raw: a throughput ratio for ops/s rows, a time ratio for ms rows.
  std::optional<double> ratio() const;
  // Absent when the row has no target or a side needed was not measured.
  std::optional<bool> met() const;
};

double median(std::vector<double> values);

// One line of progress on stderr, indented under the scenario.
void progress(std::string_view message);

struct Machine {
  unsigned nproc = 0;
  std::string cpu_model{};
  std::string kernel{};
};
Machine describe_machine();

// UTC, ISO 8601: "2024-05-01T12:00:00Z".
std::string utc_timestamp();

void print_table(const std::vector<Row>& rows);
nlohmann::json to_json(const std::vector<Row>& rows);

}  // namespace cairn_bench
