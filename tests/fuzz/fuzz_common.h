// Helpers shared by the fuzz targets: how a target reports a finding, and
// the one library call wrapper that tells an expected cairn::Error apart
// from anything else escaping the library.
//
// A finding aborts the process, which libFuzzer records as a crash and saves
// the input that caused it (crash-<sha1>).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/cairn.h"

namespace fuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "\n==== cairn fuzz finding: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void check(bool ok, const std::string& what) {
  if (!ok) finding(what);
}

// A byte string shown safely in a finding's message (at most 200 bytes).
inline std::string shown(std::string_view bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (bytes.size() > 200) out += "...(" + std::to_string(bytes.size()) + " bytes)";
  return out;
}

// A JSON value as text for messages and byte comparisons. dump() throws on
// invalid UTF-8; replace it here so that a message is always printable.
inline std::string text(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Runs `fn` (a library call). Returns its result, or nullopt when it threw a
// cairn::Error whose code is one of `allowed`. Any other cairn::Error, or any
// exception that is not a cairn::Error, is a finding: the library promises
// to throw only cairn::Error, and these codes are the ones the call can mean.
template <class Fn>
auto call(const char* what, std::initializer_list<cairn::errc> allowed, Fn&& fn)
    -> std::optional<decltype(fn())> {
  try {
    return fn();
  } catch (const cairn::Error& e) {
    for (cairn::errc code : allowed) {
      if (e.code_value() == code) return std::nullopt;
    }
    finding(std::string(what) + ": unexpected cairn::Error " + cairn::to_string(e.code_value()) +
            ": " + e.what());
  } catch (const std::exception& e) {
    finding(std::string(what) + ": a non-cairn exception escaped the library: " + e.what());
  } catch (...) {
    finding(std::string(what) + ": an unknown exception escaped the library");
  }
}

// A clock that moves 1 ms per reading, so runs are deterministic.
inline cairn::Timestamp next_tick() {
  static cairn::Timestamp now = 1'700'000'000'000;
  return ++now;
}

// The options every target opens its registry with: a deterministic clock,
// a short change log (a fuzzer writes millions of revisions), and a quiet log.
inline cairn::Options fuzz_options() {
  cairn::Options options;
  options.clock = next_tick;
  options.change_log_max_revisions = 1000;
  options.log = [](std::string_view) {};
  return options;
}

}  // namespace fuzz
