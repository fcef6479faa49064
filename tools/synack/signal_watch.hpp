// SIGINT and SIGTERM for the single-threaded subcommands (serve, perf): blocked first, so
// they queue, then read through a signalfd the host's EventLoop watches.
//
//   SignalWatch signals;
//   if (auto ec = signals.block()) ...;        // before anything else
//   api::Host host(config);
//   auto watching = signals.watch(host.loop());  // declared after the host: gone before it
//   while (signals.count() == 0) host.run_once(std::nullopt);
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "synack/api/event_loop.hpp"

namespace synack::cli {

class SignalWatch {
 public:
  SignalWatch() = default;
  ~SignalWatch() {
    if (fd_ >= 0) ::close(fd_);
  }
  SignalWatch(const SignalWatch&) = delete;
  SignalWatch& operator=(const SignalWatch&) = delete;

  // Blocks SIGINT and SIGTERM and opens the signalfd.
  std::error_code block() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) return {errno, std::system_category()};
    fd_ = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd_ < 0) return {errno, std::system_category()};
    return {};
  }

  // While the returned guard lives, the loop wakes for a signal and count() goes up.
  class Watching {
   public:
    Watching(api::EventLoop& loop, int fd) : loop_(&loop), fd_(fd) {}
    ~Watching() {
      if (loop_ != nullptr) loop_->remove_fd(fd_);
    }
    Watching(Watching&& other) noexcept : loop_(other.loop_), fd_(other.fd_) {
      other.loop_ = nullptr;
    }
    Watching(const Watching&) = delete;
    Watching& operator=(const Watching&) = delete;
    Watching& operator=(Watching&&) = delete;

   private:
    api::EventLoop* loop_;
    int fd_;
  };
  [[nodiscard]] Watching watch(api::EventLoop& loop) {
    loop.add_fd(fd_, [this] {
      signalfd_siginfo info{};
      while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
        ++count_;
    });
    return Watching(loop, fd_);
  }

  // Signals received so far.
  int count() const { return count_; }

 private:
  int fd_ = -1;
  int count_ = 0;
};

}  // namespace synack::cli
