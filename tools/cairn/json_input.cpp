// Reading JSON input from an argument or stdin, with size and depth limits.

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <iostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

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

// One more chunk of stdin appended to `text`, read with read(2): stdio's
// fread would keep reading after a terminal's Ctrl-D on a partial line, which
// delivers the line without an end of input. Returns false at the end of input.
bool read_chunk(std::string& text, std::string_view what) {
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(errc::io_error, "cannot read stdin");
    if (n == 0) return false;
    if (text.size() + static_cast<std::size_t>(n) > kMaxInputBytes) {
      fail_usage(std::string(what) + " input larger than " + std::to_string(kMaxInputBytes >> 20) +
                 " MiB");
    }
    text.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
}

// True when `text` is one whole JSON object or array. Checked only when the
// text ends with a closing bracket, so a long paste is not parsed per line.
bool whole_json_value(const std::string& text) {
  const std::size_t last = text.find_last_not_of(" \t\r\n");
  if (last == std::string::npos || (text[last] != '}' && text[last] != ']')) return false;
  return nlohmann::json::accept(text);
}

// What ends the input besides the end of stdin.
enum class StopAt { end_of_input, whole_json_value };

std::string read_stdin_until(const Globals& globals, std::string_view what, StopAt stop) {
  const bool terminal = isatty(STDIN_FILENO) != 0;
  if (terminal && !globals.quiet) {
    std::cerr << "cairn: reading " << what << " from stdin (end with Ctrl-D)\n";
  }
  // On a terminal, Ctrl-D at the start of a line ends the input, but on a
  // partial line (`{...}` then Ctrl-D) it only hands over the line: a
  // second Ctrl-D would be needed. So JSON typed at a terminal ends as soon
  // as it is one whole value, whichever way the user ends it.
  const bool stop_at_value = terminal && stop == StopAt::whole_json_value;
  std::string text;
  while (read_chunk(text, what)) {
    if (stop_at_value && whole_json_value(text)) break;
  }
  return text;
}

}  // namespace

std::string read_stdin(const Globals& globals, std::string_view what) {
  return read_stdin_until(globals, what, StopAt::end_of_input);
}

std::string read_json_text(const std::optional<std::string>& argument, const Globals& globals) {
  if (!argument || *argument == "-") {
    return read_stdin_until(globals, "JSON", StopAt::whole_json_value);
  }
  if (argument->size() > kMaxInputBytes) {
    fail_usage("JSON input larger than " + std::to_string(kMaxInputBytes >> 20) + " MiB");
  }
  return *argument;
}

nlohmann::json parse_json_input(std::string_view text) {
  // The parser itself is not recursive, but a deep value is costly to build
  // and to use. The callback sees each array or object as it opens, at the
  // depth of its parent (0 for the outermost), and stops the parse there.
  // It also refuses an object that names one key twice, which
  // nlohmann::json would read as the last of them without a word: the keys
  // seen so far, one set per open array or object.
  std::vector<std::set<std::string>> open;
  const auto check = [&open](int depth, nlohmann::json::parse_event_t event,
                             nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      if (depth >= kMaxInputDepth) {
        fail_usage("JSON input nested deeper than " + std::to_string(kMaxInputDepth) + " levels");
      }
      open.emplace_back();
    } else if (event == Event::object_end || event == Event::array_end) {
      if (!open.empty()) open.pop_back();
    } else if (event == Event::key && !open.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open.back().insert(key).second) {
        fail_usage("invalid JSON input: duplicate key " + in_quotes(key.substr(0, 48)));
      }
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text, check);
  } catch (const nlohmann::json::exception& e) {
    fail_usage("invalid JSON input: " + without_exception_prefix(e.what()));
  }
}

}  // namespace cairn::cli
