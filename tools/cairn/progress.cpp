// The progress line of long commands (progress.h).

#include "progress.h"

#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>

namespace cairn::cli {
namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

bool progress_shown(const Globals& globals) {
  return !globals.quiet && ::isatty(STDERR_FILENO) != 0;
}

// The line, from its start, and the rest of the terminal line erased
// (ESC [ K), so a shorter text leaves nothing of a longer one behind.
void draw(const std::string& text) {
  std::fprintf(stderr, "\r%s\033[K", text.c_str());
  std::fflush(stderr);
}

void clear_line() {
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
}

}  // namespace

Progress::Progress(const Globals& globals, std::string label)
    : shown_(progress_shown(globals)), label_(std::move(label)) {
  if (!shown_) return;
  draw(label_ + "...");
  last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (shown_) clear_line();
}

void Progress::update(std::size_t done, std::size_t total, std::string_view unit) {
  if (!shown_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval && done != total) return;
  last_draw_ = now;
  std::string text = label_ + ": " + std::to_string(done);
  if (total != 0) text += " of " + std::to_string(total);
  text += ' ';
  text += unit;
  if (total != 0) text += " (" + std::to_string(done * 100 / total) + "%)";
  draw(text);
}

Ticker::Ticker(const Globals& globals, std::string label) : label_(std::move(label)) {
  if (!progress_shown(globals)) return;
  draw(label_ + "...");
  thread_ = std::thread([this] { run(); });
}

Ticker::~Ticker() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  clear_line();
}

void Ticker::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, kRedrawInterval, [this] { return stop_; })) {
    const auto seconds =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_);
    draw(label_ + "... " + std::to_string(seconds.count()) + "s");
  }
}

}  // namespace cairn::cli
