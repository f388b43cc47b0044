// Reading JSON input from an argument or stdin, with size and depth limits.

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "cli.h"

namespace cairn::cli {
namespace {

// "[json.exception.parse_error.101] parse error at ..." -> "parse error at ...".
std::string without_exception_prefix(std::string message) {
  if (!message.empty() && message.front() == '[') {
    auto end = message.find("] ");
    if (end != std::string::npos) message.erase(0, end + 2);
  }
  return message;
}

}  // namespace

std::string read_stdin(const Globals& globals, std::string_view what) {
  if (isatty(STDIN_FILENO) && !globals.quiet) {
    std::cerr << "cairn: reading " << what << " from stdin (end with Ctrl-D)\n";
  }
  std::string text;
  char buffer[64 * 1024];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, stdin)) > 0) {
    if (text.size() + n > kMaxInputBytes) {
      fail_usage(std::string(what) + " input larger than " + std::to_string(kMaxInputBytes >> 20) +
                 " MiB");
    }
    text.append(buffer, n);
  }
  if (std::ferror(stdin)) throw Error(errc::io_error, "cannot read stdin");
  return text;
}

std::string read_json_text(const std::optional<std::string>& argument, const Globals& globals) {
  if (!argument || *argument == "-") return read_stdin(globals, "JSON");
  if (argument->size() > kMaxInputBytes) {
    fail_usage("JSON input larger than " + std::to_string(kMaxInputBytes >> 20) + " MiB");
  }
  return *argument;
}

nlohmann::json parse_json_input(std::string_view text) {
  // The parser itself is not recursive, but a deep value is costly to build
  // and to use. The callback sees each array or object as it opens, at the
  // depth of its parent (0 for the outermost), and stops the parse there.
  const auto limit_depth = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json&) {
    const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= kMaxInputDepth) {
      fail_usage("JSON input nested deeper than " + std::to_string(kMaxInputDepth) + " levels");
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, limit_depth);
  } catch (const nlohmann::json::exception& e) {
    fail_usage("invalid JSON input: " + without_exception_prefix(e.what()));
  }
}

}  // namespace cairn::cli
