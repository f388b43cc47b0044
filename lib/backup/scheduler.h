// BackupScheduler: LatZero's backupInterval / maxBackups. A thread that takes
// a backup every interval and keeps the newest N that verify.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace cairn::detail {

class BackupScheduler {
 public:
  // take(path) writes one backup to `path`; log reports failures. The thread
  // starts at once; the first backup is taken after one interval.
  BackupScheduler(std::filesystem::path dir, std::string name, std::chrono::milliseconds interval,
                  std::size_t keep, std::function<void(const std::filesystem::path&)> take,
                  std::function<std::int64_t()> now, std::function<void(const std::string&)> log);
  ~BackupScheduler();

  void stop() noexcept;

 private:
  void run();

  const std::filesystem::path dir_;
  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::size_t keep_;
  const std::function<void(const std::filesystem::path&)> take_;
  const std::function<std::int64_t()> now_;
  const std::function<void(const std::string&)> log_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cairn::detail
