#include "backup/scheduler.h"

#include <fmt/format.h>

#include "cairn/backup.h"
#include "cairn/error.h"

namespace cairn::detail {

BackupScheduler::BackupScheduler(std::filesystem::path dir, std::string name,
                                 std::chrono::milliseconds interval, std::size_t keep,
                                 std::function<void(const std::filesystem::path&)> take,
                                 std::function<std::int64_t()> now,
                                 std::function<void(const std::string&)> log)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      interval_(interval),
      keep_(keep),
      take_(std::move(take)),
      now_(std::move(now)),
      log_(std::move(log)),
      thread_([this] { run(); }) {}

BackupScheduler::~BackupScheduler() { stop(); }

void BackupScheduler::stop() noexcept {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackupScheduler::run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [&] { return stopping_; })) {
    lock.unlock();
    try {
      take_(dir_ / backup_file_name(name_, now_()));
      prune_backups(dir_, keep_);
    } catch (const std::exception& e) {
      log_(fmt::format("cairn: scheduled backup into {} failed: {}", dir_.string(), e.what()));
    }
    lock.lock();
  }
}

}  // namespace cairn::detail
