// cairn_bench: the same work through cairn and through raw sqlite3 prepared
// statements, in one process and one run, with the ratios cairn/raw checked
// against the targets of issue 7.
//
//   cairn_bench [--smoke] [--seed N] [--json-out FILE] [--dir DIR] [--keep]
//               [--only put_full,put_normal,put_batched,get,in_pool,open,concurrent,events,
//                       backup,kv_put_full,kv_put_normal,kv_put_many,kv_get,kv_list_prefix,
//                       torrent_save_all,torrent_get]
//               [--side both|cairn|raw] [--apps N] [--rounds N]
//
// The table goes to stdout, progress to stderr. Exit status: 0 when the run
// completed (targets met or not), 1 on an error or when the two sides did
// not write the same rows and bytes, 2 on a usage error.
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "cairn/cairn.h"
#include "report.h"
#include "scenarios.h"

namespace {

using cairn_bench::Config;
using cairn_bench::Side;
namespace fs = std::filesystem;

constexpr const char* kUsage = R"(usage: cairn_bench [options]

Runs the same work through cairn and through raw sqlite3 and reports the
ratios cairn/raw against the targets of issue 7.

  --smoke            every operation with tiny counts (a few seconds; for CI)
  --seed N           seed of the random orders (default: random, printed)
  --json-out FILE    where to write the results as JSON (default: bench-results.json)
  --dir DIR          where to create the temporary directory of registries
                     (default: $TMPDIR or /tmp)
  --keep             keep the registries after the run
  --only LIST        comma-separated scenarios: put_full, put_normal, put_batched,
                     get, in_pool, open, concurrent, events, backup, kv_put_full,
                     kv_put_normal, kv_put_many, kv_get, kv_list_prefix,
                     torrent_save_all, torrent_get, wal_pages, put_threads,
                     kv_put_threads (default: all)
  --side SIDE        both (default), cairn or raw: measure one side only
                     (for profiling; ratios are then not computed)
  --apps N           size of the large registry (default 1000000; the small
                     one is N/10)
  --rounds N         measured rounds per operation (default 5)
  --help             this text
)";

struct Args {
  Config config{};
  fs::path json_out = "bench-results.json";
  fs::path parent_dir{};
  bool keep = false;
  bool seed_given = false;
};

[[noreturn]] void usage_error(const std::string& message) {
  fmt::print(stderr, "cairn_bench: {}\n\n{}", message, kUsage);
  std::exit(2);
}

std::int64_t parse_number(std::string_view flag, const char* text) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used != std::strlen(text) || v < 0) throw std::invalid_argument("not a count");
    return v;
  } catch (const std::exception&) {
    usage_error(fmt::format("{}: not a non-negative number: {}", flag, text));
  }
}

Args parse_args(int argc, char** argv) {
  Args args;
  bool smoke = false;
  std::optional<std::uint64_t> seed;
  std::optional<std::int64_t> apps, rounds;
  std::string only, side = "both";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", arg));
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else if (arg == "--smoke") {
      smoke = true;
    } else if (arg == "--seed") {
      seed = static_cast<std::uint64_t>(parse_number(arg, value()));
    } else if (arg == "--json-out") {
      args.json_out = value();
    } else if (arg == "--dir") {
      args.parent_dir = value();
    } else if (arg == "--keep") {
      args.keep = true;
    } else if (arg == "--only") {
      only = value();
    } else if (arg == "--side") {
      side = value();
    } else if (arg == "--apps") {
      apps = parse_number(arg, value());
    } else if (arg == "--rounds") {
      rounds = parse_number(arg, value());
    } else {
      usage_error(fmt::format("unknown option {}", arg));
    }
  }

  args.config = smoke ? Config::smoke_sized() : Config{};
  Config& c = args.config;
  args.seed_given = seed.has_value();
  c.seed = seed ? *seed : std::random_device{}();
  if (apps) {
    if (*apps < 10) usage_error("--apps: at least 10");
    c.apps_big = *apps;
    c.apps_small = *apps / 10;
  }
  if (rounds) {
    if (*rounds < 1) usage_error("--rounds: at least 1");
    c.rounds = static_cast<int>(*rounds);
  }
  if (side == "cairn") {
    c.side = Side::cairn;
  } else if (side == "raw") {
    c.side = Side::raw;
  } else if (side != "both") {
    usage_error(fmt::format("--side: both, cairn or raw, not {}", side));
  }
  for (std::size_t start = 0; start < only.size();) {
    const std::size_t comma = std::min(only.find(',', start), only.size());
    const std::string name = only.substr(start, comma - start);
    const auto& names = cairn_bench::scenario_names();
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      usage_error(fmt::format("--only: unknown scenario {}", name));
    }
    c.only.insert(name);
    start = comma + 1;
  }
  return args;
}

fs::path make_temp_dir(const fs::path& parent) {
  fs::path base = parent.empty() ? fs::temp_directory_path() : parent;
  std::string pattern = (base / "cairn-bench-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error(fmt::format("cannot create a directory in {}: {}", base.string(),
                                         std::strerror(errno)));
  }
  return pattern;
}

nlohmann::json run_info(const Args& args, const cairn_bench::Machine& machine) {
  const Config& c = args.config;
  return {
      {"timestamp", cairn_bench::utc_timestamp()},
      {"mode", c.smoke ? "smoke" : "full"},
      {"seed", c.seed},
      {"machine", {{"nproc", machine.nproc}, {"cpu_model", machine.cpu_model},
                   {"kernel", machine.kernel}}},
      {"versions", {{"cairn", cairn::version()}, {"sqlite", sqlite3_libversion()},
                    {"compiler", __VERSION__}}},
      {"sizes",
       {{"apps_big", c.apps_big}, {"apps_small", c.apps_small}, {"rounds", c.rounds},
        {"put_full_ops", c.put_full_ops}, {"put_normal_ops", c.put_normal_ops},
        {"batch_size", c.batch_size}, {"batches_per_round", c.batches_per_round},
        {"get_ops", c.get_ops}, {"pool_queries", c.pool_queries}, {"open_reps", c.open_reps},
        {"concurrent_rounds", c.concurrent_rounds},
        {"concurrent_seconds", c.concurrent_seconds}, {"reader_threads", c.reader_threads},
        {"kv_entries", c.kv_entries}, {"kv_prefix_keys", c.kv_prefix_keys},
        {"kv_page", c.kv_page}, {"kv_get_ops", c.kv_get_ops},
        {"kv_prefixes_listed", c.kv_prefixes_listed}, {"torrents", c.torrents},
        {"torrent_rounds", c.torrent_rounds}, {"torrent_get_ops", c.torrent_get_ops}}},
  };
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  Config& c = args.config;
  const cairn_bench::Machine machine = cairn_bench::describe_machine();
  try {
    c.dir = make_temp_dir(args.parent_dir);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cairn_bench: {}\n", e.what());
    return 1;
  }

  fmt::print("cairn_bench: {} run, seed {}{}\n", c.smoke ? "smoke" : "full", c.seed,
             args.seed_given ? "" : " (pass --seed to repeat it)");
  fmt::print("machine: {} x {}; cairn {}, sqlite {}; registries in {}\n", machine.nproc,
             machine.cpu_model, cairn::version(), sqlite3_libversion(), c.dir.string());
  std::fflush(stdout);

  int status = 0;
  cairn_bench::Bench bench(c);
  try {
    bench.run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "cairn_bench: {}\n", e.what());
    status = 1;
  }

  if (!bench.same_work()) {
    fmt::print(stderr, "cairn_bench: the two sides did different work (see \"work_checks\")\n");
    status = 1;
  }

  fmt::print("\n");
  print_table(bench.rows());
  if (c.smoke) fmt::print("\n(smoke run: the counts are too small for the targets to mean much)\n");

  nlohmann::json out = run_info(args, machine);
  out["setup"] = bench.setup();
  out["results"] = cairn_bench::to_json(bench.rows());
  out["completed"] = status == 0;
  std::ofstream file(args.json_out);
  file << out.dump(2) << '\n';
  if (!file) {
    fmt::print(stderr, "cairn_bench: cannot write {}\n", args.json_out.string());
    status = 1;
  } else {
    fmt::print("\nresults written to {}\n", args.json_out.string());
  }

  if (args.keep) {
    fmt::print("registries kept in {}\n", c.dir.string());
  } else {
    std::error_code ec;
    fs::remove_all(c.dir, ec);
  }
  return status;
}
