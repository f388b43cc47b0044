// The one vocabulary of kinds and topics that every command reads: the
// library's names (memory_block, torrent_session) and the CLI's (block,
// torrent-session) alike, so that `ls`, `watch --kind`, `export --kind` and
// import's "kind" all take the same words.
#include <algorithm>
#include <string>

#include "cli.h"

namespace cairn::cli {

Kind parse_kind(const std::string& name, std::string_view command) {
  try {
    return kind_from_string(name);
  } catch (const Error&) {
    fail_usage(std::string(command) + ": unknown kind " + in_quotes(name) + " (expected " +
               std::string(kKindList) + ")");
  }
}

void check_topic(const std::string& topic, std::string_view command) {
  const auto topics = known_topics();
  if (std::find(topics.begin(), topics.end(), topic) != topics.end()) return;
  std::string list;
  for (std::string_view t : topics) list += (list.empty() ? "" : ", ") + std::string(t);
  fail_usage(std::string(command) + ": unknown topic " + in_quotes(topic) + " (expected one of " +
             list + ")");
}

}  // namespace cairn::cli
