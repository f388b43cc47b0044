// `cairn watch`: follow the registry's change events, one JSON line each,
// including writes of other processes, until SIGINT or SIGTERM.

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cairn/events.h"
#include "cli.h"

namespace cairn::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void request_stop(int) { g_stop = 1; }

struct WatchArgs {
  std::optional<Revision> from;
  std::vector<std::string> kinds;
  std::vector<std::string> topics;
  std::string id_prefix;
};

ExitCode run_watch(const Globals& globals, const WatchArgs& args) {
  Filter filter;
  for (const auto& kind : args.kinds) filter.kinds.push_back(parse_kind(kind, "watch --kind"));
  for (const auto& topic : args.topics) check_topic(topic, "watch --topic");
  if (args.from && *args.from < 0) fail_usage("watch --from: a revision is 0 or more");
  filter.topics = args.topics;
  filter.id_prefix = args.id_prefix;

  // Watching only reads: the CLI has no named positions to store.
  Registry reg = open_existing_registry(globals, Access::read_only);
  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  std::mutex out;
  SubscribeOptions options;
  options.from = args.from;
  options.queue_capacity = 100'000;
  Subscription sub = reg.subscribe(
      filter,
      [&](std::span<const Event> events) {
        std::lock_guard lock(out);
        for (const auto& e : events) print_json_line(nlohmann::json(e));
        std::fflush(stdout);
      },
      options);
  if (!globals.quiet) {
    std::fprintf(stderr, "cairn: watching %s from revision %lld (Ctrl-C to stop)\n",
                 reg.path().c_str(),
                 static_cast<long long>(args.from.value_or(reg.revision() + 1)));
  }
  while (g_stop == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  sub.reset();
  return ExitCode::ok;
}

}  // namespace

void add_watch_command(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto args = std::make_shared<WatchArgs>();
  CLI::App* watch = app.add_subcommand(
      "watch", "Print change events as JSON lines, live (and from --from), until Ctrl-C");
  watch->add_option("--from", args->from, "Replay the change log from this revision first");
  watch->add_option(
      "--kind", args->kinds,
      "Only these kinds: " + std::string(kKindList));
  watch->add_option("--topic", args->topics, "Only these topics (app.registered, ...)");
  watch->add_option("--id-prefix", args->id_prefix, "Only records whose key starts with this");
  commands.push_back({watch, [&globals, args] { return run_watch(globals, *args); }});
}

}  // namespace cairn::cli
