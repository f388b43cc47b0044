// WAL pages per commit (issue 18): how many pages one single-app commit adds
// to the WAL, cairn against raw sqlite3 doing the same statements on the same
// schema. A page is what a commit costs in bytes written and, at a
// checkpoint, in bytes copied; it does not depend on the machine.
//
// Each side starts from a registry of wal_apps apps (so the b-trees have their
// interior levels), empties its WAL with a TRUNCATE checkpoint, makes
// wal_commits commits of one app each (fewer than the autocheckpoint's 1,000
// frames), and divides the frames in the WAL by the commits:
//   new app      a put of an app that did not exist (a row, its memberships,
//                the revision, a change-log row);
//   updated app  a put of an existing app whose pools stay (no membership).
#include <filesystem>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "cairn/cairn.h"
#include "raw_sqlite.h"
#include "scenarios.h"
#include "workload.h"

namespace cairn_bench {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kWalHeader = 32, kFrameHeader = 24;

// Empties the WAL of the registry at `path` (no reader may be inside a
// transaction) and returns its page size.
std::int64_t truncate_wal(const fs::path& path) {
  RawConnection conn(path, SQLITE_OPEN_READWRITE);
  conn.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  RawStatement page_size(conn.handle(), "PRAGMA page_size");
  page_size.step();
  return sqlite3_column_int64(page_size.get(), 0);
}

std::int64_t wal_frames(const fs::path& path, std::int64_t page_size) {
  fs::path wal = path;
  wal += "-wal";
  const auto bytes = static_cast<std::int64_t>(fs::file_size(wal));
  return bytes <= kWalHeader ? 0 : (bytes - kWalHeader) / (kFrameHeader + page_size);
}

// Runs `commits` (which makes `n` commits) on a WAL emptied first; returns
// the frames per commit.
template <class Fn>
double pages_per_commit(const fs::path& path, std::int64_t n, Fn&& commits) {
  const std::int64_t page_size = truncate_wal(path);
  commits();
  return static_cast<double>(wal_frames(path, page_size)) / static_cast<double>(n);
}

template <class App, class Make>
std::vector<App> apps_from(std::int64_t first, std::int64_t n, std::int64_t total, Make&& make) {
  std::vector<App> out;
  for (std::int64_t i = first; i < first + n; ++i) out.push_back(make("wal", i, total));
  return out;
}
std::vector<cairn::App> make_apps(std::int64_t first, std::int64_t n, std::int64_t total) {
  return apps_from<cairn::App>(first, n, total, make_app);
}
std::vector<RawApp> make_raw_apps(std::int64_t first, std::int64_t n, std::int64_t total) {
  return apps_from<RawApp>(first, n, total, make_raw_app);
}

}  // namespace

void Bench::wal_pages() {
  const std::int64_t total = config_.wal_apps, n = config_.wal_commits;
  progress(fmt::format("WAL pages per single-app commit, on {} apps", total));
  const fs::path cairn_path = config_.dir / "wal-pages.cairn.db";
  const fs::path raw_path = config_.dir / "wal-pages.raw.db";
  const cairn::Options options{.synchronous = cairn::Synchronous::normal};

  Row created{.operation = "WAL pages per commit, new app",
              .unit = "pages",
              .goal = Goal::cairn_at_most,
              .threshold = 5,
              .target = "<= 5"};
  Row updated{.operation = "WAL pages per commit, updated app",
              .unit = "pages",
              .goal = Goal::cairn_at_most,
              .threshold = 5,
              .target = "<= 5"};
  if (config_.runs_cairn()) {
    {
      auto reg = cairn::Registry::open(cairn_path, options);
      auto apps = make_apps(0, total, total);
      reg.transact([&](cairn::Tx& tx) {
        for (auto& app : apps) tx.apps().put(std::move(app));
      });
    }
    auto reg = cairn::Registry::open(cairn_path, options);
    auto fresh = make_apps(total, n, total);
    created.cairn = pages_per_commit(cairn_path, n, [&] {
      for (auto& app : fresh) reg.apps().put(std::move(app));
    });
    auto again = make_apps(0, n, total);
    updated.cairn = pages_per_commit(cairn_path, n, [&] {
      for (auto& app : again) reg.apps().put(std::move(app));
    });
  }
  if (config_.runs_raw()) {
    raw_create_registry(raw_path, raw_schema());
    RawWriter writer(raw_path, false);
    writer.begin();
    for (const RawApp& app : make_raw_apps(0, total, total)) writer.put_in_transaction(app);
    writer.commit();
    const auto fresh = make_raw_apps(total, n, total);
    created.raw = pages_per_commit(raw_path, n, [&] {
      for (const RawApp& app : fresh) writer.put(app);
    });
    const auto again = make_raw_apps(0, n, total);
    updated.raw = pages_per_commit(raw_path, n, [&] {
      for (const RawApp& app : again) writer.put(app);
    });
  }
  created.note = updated.note =
      fmt::format("{} commits on a registry of {} apps, synchronous NORMAL", n, total);
  check_same_work("WAL pages per commit", cairn_path, raw_path);
  rows_.push_back(std::move(created));
  rows_.push_back(std::move(updated));
}

}  // namespace cairn_bench
