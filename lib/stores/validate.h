// Validation shared by the stores. Every failure is
// Error(errc::invalid_argument) with a message that names the record and the
// field: `app "my-app": meta: nesting deeper than 32 levels`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cairn/options.h"
#include "util/utf8.h"  // valid_utf8: the stores check text with it too

namespace cairn::detail {

// Names one record in messages: noun ("app") and key, the key quoted,
// shortened and with unprintable bytes escaped, so that a hostile key cannot
// flood or garble a log line.
class RecordName {
 public:
  RecordName(std::string_view noun, std::string_view key) : noun_(noun), key_(key) {}
  std::string str() const;
  [[noreturn]] void fail(std::string_view field, std::string_view problem) const;

 private:
  std::string_view noun_;
  std::string_view key_;
};

// A key (id or name): 1-128 bytes of [A-Za-z0-9._:@/-], not starting with
// '.' or '/'. Returns the problem, or empty when the key is valid.
std::string key_problem(std::string_view key);

void check_key(const RecordName& rec, std::string_view field, std::string_view key);
void check_keys(const RecordName& rec, std::string_view field, const std::vector<std::string>& keys,
                bool allow_star = false);
void check_text(const RecordName& rec, std::string_view field, std::string_view text,
                std::size_t max_bytes);
void check_range(const RecordName& rec, std::string_view field, std::int64_t value,
                 std::int64_t min, std::int64_t max);

// A free-form JSON field: an object (unless any_type), within the depth and
// size limits of `options`, with valid UTF-8 strings. The depth is measured
// without recursion, so a 100,000-deep value is rejected, not crashed on.
void check_json(const RecordName& rec, std::string_view field, const nlohmann::json& value,
                const Options& options, bool any_type = false);

}  // namespace cairn::detail
