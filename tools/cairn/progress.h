// Progress of a long command (import, export, restore, migrate up and
// dry-run, backup verify and prune) on stderr: one line, rewritten with '\r'
// at most ten times a second, cleared when the work ends. Shown only when
// stderr is a terminal and --quiet is absent (DESIGN.md section 11), so
// scripts and logs never see it.
//
// Both classes are used by the thread that runs the command; Ticker draws
// from a thread of its own as well, under a lock. Neither throws once built.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "cli.h"

namespace cairn::cli {

// Counts reported by the library as it goes: "importing: 1200 of 5000 records (24%)".
class Progress {
 public:
  // Draws `label` at once, so even a short run shows that it ran.
  Progress(const Globals& globals, std::string label);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  // Clears the line.
  ~Progress();

  // `done` `unit` so far, of `total` (0: unknown, then no percent). Draws
  // only when a tenth of a second has passed since the last drawing, or the
  // work is complete (done == total).
  void update(std::size_t done, std::size_t total, std::string_view unit);

 private:
  bool shown_;
  std::string label_;
  std::chrono::steady_clock::time_point last_draw_{};
};

// For a library call that reports no counts: "restoring... 3s", redrawn by a
// thread of its own every tenth of a second until the destructor, which
// clears the line.
class Ticker {
 public:
  Ticker(const Globals& globals, std::string label);
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker();

 private:
  void run();

  std::string label_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;  // last: started when everything it reads is built
};

}  // namespace cairn::cli
