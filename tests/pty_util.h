// Running the cairn tool with a pseudo-terminal as its stdin or stderr, the
// way a person at a terminal runs it: for what the tool does only on a
// terminal (reading a record typed at it, drawing progress).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"

namespace test {

struct PtyOptions {
  bool tty_stdin = false;   // stdin is the terminal; else a file with stdin_bytes
  bool tty_stderr = false;  // stderr is the terminal; else captured in PtyResult::err
  std::string typed{};      // written to the terminal once the child runs
  std::string stdin_bytes{};
  // The child is killed (and timed_out set) if it has not exited by then: a
  // hang fails the test instead of stopping the suite. Not a timing check.
  std::chrono::seconds patience = std::chrono::seconds(20);
};

struct PtyResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string out{};       // stdout
  std::string err{};       // stderr, unless it was the terminal
  std::string terminal{};  // everything written to the terminal (stderr, echo)
};

// Runs `args` (args[0] a path) in a new session whose controlling terminal is
// a fresh pseudo-terminal. CAIRN_DB is removed from the child's environment.
inline PtyResult run_in_pty(const std::vector<std::string>& args, const PtyOptions& options) {
  TempDir io;
  const std::string in_path = (io / "stdin").string(), out_path = (io / "stdout").string(),
                    err_path = (io / "stderr").string();
  write_bytes(in_path, options.stdin_bytes);

  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    throw std::runtime_error("no pseudo-terminal");
  }
  const std::string slave_path = ::ptsname(master);

  std::vector<std::string> arg_strings = args;
  std::vector<char*> argv;
  for (std::string& arg : arg_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::string_view(*entry).substr(0, 9) != "CAIRN_DB=") env_strings.emplace_back(*entry);
  }
  std::vector<char*> envp;
  for (std::string& entry : env_strings) envp.push_back(entry.data());
  envp.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(master);
    if (::setsid() < 0) ::_exit(126);
    const int tty = ::open(slave_path.c_str(), O_RDWR);  // the controlling terminal
    const int in = options.tty_stdin ? tty : ::open(in_path.c_str(), O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err =
        options.tty_stderr ? tty : ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (tty < 0 || in < 0 || out < 0 || err < 0) ::_exit(126);
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }

  PtyResult result;
  if (!options.typed.empty()) {
    // Typed once the child holds the terminal, as a person would: input
    // written before the slave side is open may be flushed by its opening.
    // The child is the terminal's session leader once tcgetsid names it.
    for (int i = 0; i < 500; ++i) {
      const int fd = ::open(slave_path.c_str(), O_RDWR | O_NOCTTY);
      const pid_t session = fd >= 0 ? ::tcgetsid(fd) : -1;
      if (fd >= 0) ::close(fd);
      if (session == pid) break;
      ::usleep(10'000);
    }
    const ssize_t n = ::write(master, options.typed.data(), options.typed.size());
    if (n != static_cast<ssize_t>(options.typed.size())) throw std::runtime_error("write failed");
  }

  const auto deadline = std::chrono::steady_clock::now() + options.patience;
  int status = 0;
  bool exited = false;
  while (!exited) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0 && (p.revents & POLLIN)) {
      char buffer[4096];
      const ssize_t n = ::read(master, buffer, sizeof buffer);
      if (n > 0) result.terminal.append(buffer, static_cast<std::size_t>(n));
    }
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) exited = true;
    if (!exited && std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.timed_out = true;
      exited = true;
    }
  }
  // What the child wrote just before it exited.
  for (;;) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) break;
    char buffer[4096];
    const ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n <= 0) break;
    result.terminal.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(master);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_bytes(out_path);
  if (!options.tty_stderr) result.err = read_bytes(err_path);
  return result;
}

}  // namespace test
