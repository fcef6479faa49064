#include "synack/api/event_loop.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <system_error>

namespace synack::api {

namespace {

// Stack events handled in one flush before the rest wait for the next turn, so a handler
// that keeps making events cannot starve the devices.
constexpr int kMaxEventsPerFlush = 65536;

void check(int rc, const char* what) {
  if (rc < 0) throw std::system_error(errno, std::generic_category(), what);
}

int64_t system_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool Route::contains(wire::Ipv4Address a) const {
  if (prefix_len == 0) return true;
  const uint32_t mask = prefix_len >= 32 ? ~uint32_t{0} : ~uint32_t{0} << (32 - prefix_len);
  return (a.value() & mask) == (network.value() & mask);
}

Instant EventLoop::clock_now() {
  // steady_clock is CLOCK_MONOTONIC on Linux, the clock the timerfd runs on.
  const auto since = std::chrono::steady_clock::now().time_since_epoch();
  return Instant::from_micros(std::chrono::duration_cast<std::chrono::microseconds>(since).count());
}

EventLoop::EventLoop(stack::Stack& stack) : stack_(stack) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  check(epoll_fd_, "epoll_create1");
  timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  check(timer_fd_, "timerfd_create");
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  check(wake_fd_, "eventfd");
  for (int fd : {timer_fd_, wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    check(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev), "epoll_ctl");
  }
}

EventLoop::~EventLoop() {
  for (int fd : {wake_fd_, timer_fd_, epoll_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

void EventLoop::add_device(Device& device, Route route) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = device.fd();
  check(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, device.fd(), &ev), "epoll_ctl(device)");
  ports_.push_back(Port{&device, route});
  device.set_captured(tap_ != nullptr);
}

void EventLoop::set_tap(dev::PcapTap* tap) {
  tap_ = tap;
  for (const Port& port : ports_)
    port.device->set_captured(tap != nullptr);
}

void EventLoop::add_fd(int fd, std::function<void()> on_ready) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  check(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev), "epoll_ctl(fd)");
  watches_.push_back(Watch{fd, std::move(on_ready)});
}

void EventLoop::remove_fd(int fd) {
  (void)epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  std::erase_if(watches_, [fd](const Watch& w) { return w.fd == fd; });
}

bool EventLoop::run_once(std::optional<Duration> timeout) {
  int timeout_ms = -1;
  if (timeout) {
    const int64_t us = std::max<int64_t>(0, timeout->as_micros());
    timeout_ms = static_cast<int>(std::min<int64_t>((us + 999) / 1000, 1'000'000'000));
  }
  if (stopped()) timeout_ms = 0;
  epoll_event events[16];
  int n = epoll_wait(epoll_fd_, events, 16, timeout_ms);
  if (n < 0) {
    if (errno != EINTR) check(n, "epoll_wait");
    n = 0;
  }
  bool timer_fired = false;
  std::vector<int> ready;
  ready.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (fd == wake_fd_) {
      uint64_t value = 0;
      (void)!::read(wake_fd_, &value, sizeof value);
    } else if (fd == timer_fd_) {
      uint64_t expirations = 0;
      (void)!::read(timer_fd_, &expirations, sizeof expirations);
      timer_fired = true;
    } else {
      ready.push_back(fd);
    }
  }
  const uint64_t before = counters_.packets_in + counters_.timeouts;
  if (turn_mutex_ != nullptr) {
    std::lock_guard lock(*turn_mutex_);
    turn_work(ready, timer_fired);
  } else {
    turn_work(ready, timer_fired);
  }
  return counters_.packets_in + counters_.timeouts != before;
}

void EventLoop::turn_work(const std::vector<int>& ready, bool timer_fired) {
  ++counters_.turns;
  // An expired timerfd is disarmed: arm_timer() must set it again even for the same deadline.
  if (timer_fired) armed_.reset();
  Instant now = clock_now();
  for (int fd : ready) {
    for (const Port& port : ports_) {
      if (port.device->fd() != fd) continue;
      counters_.packets_in += port.device->read_batch(
          [&](wire::Bytes packet) {
            record(packet);
            stack_.receive(packet, now, port.device->last_checksum_trusted());
          },
          Device::kReadBatch);
    }
    for (size_t i = 0; i < watches_.size(); ++i) {
      // A copy: the callback may add or remove watches.
      if (watches_[i].fd == fd) {
        auto on_ready = watches_[i].on_ready;
        on_ready();
        break;
      }
    }
  }
  // The timerfd may be late or early by a tick; the stack's deadline is what counts.
  now = clock_now();
  if (auto deadline = stack_.next_deadline(); deadline && *deadline <= now) {
    ++counters_.timeouts;
    stack_.on_timeout(now);
  }
  flush();
}

void EventLoop::run() {
  while (!stopped())
    run_once(std::nullopt);
}

void EventLoop::stop() {
  stop_.store(true, std::memory_order_release);
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
}

void EventLoop::reset_stop() {
  stop_.store(false, std::memory_order_release);
}

bool EventLoop::run_until(const std::function<bool()>& done, Instant deadline) {
  while (true) {
    if (done()) return true;
    const Instant now = clock_now();
    if (now >= deadline || stopped()) return false;
    run_once(deadline - now);
  }
}

void EventLoop::flush() {
  if (in_flush_) return;
  in_flush_ = true;
  const Instant now = clock_now();
  int dispatched = 0;
  while (true) {
    transmit_all(now);
    if (dispatched >= kMaxEventsPerFlush) break;
    auto event = stack_.poll_event();
    if (!event) break;
    ++dispatched;
    ++counters_.events;
    if (handler_) handler_(*event);
  }
  // What the devices held to merge (TSO) goes out once, when the stack and the handlers have
  // nothing more to send, so that segments sent on behalf of different events still merge.
  for (const Port& port : ports_)
    port.device->flush();
  in_flush_ = false;
  arm_timer();
  if (dispatched >= kMaxEventsPerFlush) {
    // Events are left: make the next epoll_wait return at once.
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
}

void EventLoop::transmit_all(Instant now) {
  while (auto packet = stack_.poll_transmit(now)) {
    record(*packet);
    Device* out = nullptr;
    if (packet->size() >= 20) {
      const wire::Ipv4Address dst(wire::load_be32(packet->data() + 16));
      for (const Port& port : ports_) {
        if (port.route.contains(dst)) {
          out = port.device;
          break;
        }
      }
    }
    if (out != nullptr && out->write(*packet)) {
      ++counters_.packets_out;
    } else {
      ++counters_.packets_dropped;
    }
  }
}

void EventLoop::arm_timer() {
  const std::optional<Instant> deadline = stack_.next_deadline();
  if (deadline == armed_) return;
  itimerspec spec{};
  if (deadline) {
    // Absolute CLOCK_MONOTONIC time; at least 1 ns, since zero would disarm the timer.
    const int64_t us = std::max<int64_t>(deadline->as_micros(), 0);
    spec.it_value.tv_sec = static_cast<time_t>(us / 1'000'000);
    spec.it_value.tv_nsec = static_cast<long>((us % 1'000'000) * 1000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  }
  check(timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr), "timerfd_settime");
  armed_ = deadline;
}

void EventLoop::record(wire::Bytes packet) {
  if (tap_ != nullptr) tap_->record(packet, Instant::from_micros(system_micros()));
}

}  // namespace synack::api
