// api::EventLoop — runs one stack::Stack against its devices in real time.
//
// One epoll set holds every device fd, one timerfd (CLOCK_MONOTONIC, armed to the stack's
// next deadline) and one eventfd (stop()). A turn waits in epoll_wait, then: reads each
// ready device in batches into Stack::receive, fires Stack::on_timeout when the deadline
// has passed, and flush()es — transmits what the stack has, hands its events to the event
// handler, and re-arms the timer. The loop is the edge where time is read: steady_clock
// (CLOCK_MONOTONIC on Linux) in microseconds becomes the stack's Instant.
//
// Threads: everything but stop() belongs to the thread that runs the loop, unless the
// caller sets a turn mutex (set_turn_mutex): then a turn's work (not its wait) runs under
// it, and another thread holding it may call flush() after changing the stack — the
// blocking facade works that way.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "synack/api/device.hpp"
#include "synack/dev/pcap_tap.hpp"
#include "synack/stack/stack.hpp"
#include "synack/time.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::api {

// Which destinations a device reaches: address/prefix_len (prefix 0: everything).
struct Route {
  wire::Ipv4Address network;
  uint8_t prefix_len = 0;
  bool contains(wire::Ipv4Address a) const;
};

struct LoopCounters {
  uint64_t turns = 0;
  uint64_t timeouts = 0;  // Stack::on_timeout calls
  uint64_t packets_in = 0;
  uint64_t packets_out = 0;
  uint64_t packets_dropped = 0;  // device writes that failed, or no route
  uint64_t events = 0;           // stack events dispatched
};

class EventLoop {
 public:
  using EventHandler = std::function<void(const stack::StackEvent&)>;

  explicit EventLoop(stack::Stack& stack);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // The real clock as the stack's Instant (steady_clock, microseconds).
  static Instant clock_now();

  // Adds a device (not owned; it must outlive the loop). A packet goes out through the
  // first device whose route contains its destination.
  void add_device(Device& device, Route route = {});
  // Watches a file descriptor that is not a device (a signalfd, a control socket; not
  // owned): `on_ready` runs in the turn that finds it readable, under the turn mutex if one
  // is set, before the stack's timers and transmissions. remove_fd() before closing it.
  void add_fd(int fd, std::function<void()> on_ready);
  void remove_fd(int fd);
  void set_event_handler(EventHandler handler) { handler_ = std::move(handler); }
  // Records every packet in and out (timestamps from system_clock, so epoch 0).
  // The devices then hand over packets as a capture should show them (Device::set_captured).
  void set_tap(dev::PcapTap* tap);
  void set_turn_mutex(std::mutex* mutex) { turn_mutex_ = mutex; }

  // One turn: waits up to `timeout` (nullopt: until something happens; zero: not at all)
  // for a device, the timer or stop(). True if a packet came in or a timer fired.
  bool run_once(std::optional<Duration> timeout);
  // Turns until stop().
  void run();
  // Ends run() (or the run_until/run_once in progress) from any thread.
  void stop();
  bool stopped() const { return stop_.load(std::memory_order_acquire); }
  // Clears a stop() so the loop may run again.
  void reset_stop();
  // Turns until done() holds (true) or `deadline` (Instant from clock_now) passes or stop()
  // (false). done() is checked before every turn and after the last.
  bool run_until(const std::function<bool()>& done, Instant deadline);

  // After the application changed the stack: transmit, dispatch events, re-arm the timer.
  // Reentrant calls (from an event handler) return at once; the outer flush carries on.
  void flush();

  stack::Stack& stack() { return stack_; }
  const LoopCounters& counters() const { return counters_; }
  // The deadline the timerfd is armed for, if any.
  std::optional<Instant> armed_deadline() const { return armed_; }

 private:
  struct Port {
    Device* device;
    Route route;
  };
  struct Watch {
    int fd;
    std::function<void()> on_ready;
  };
  void turn_work(const std::vector<int>& ready, bool timer_fired);
  void transmit_all(Instant now);
  void arm_timer();
  void record(wire::Bytes packet);

  stack::Stack& stack_;
  std::vector<Port> ports_;
  std::vector<Watch> watches_;
  EventHandler handler_;
  dev::PcapTap* tap_ = nullptr;
  std::mutex* turn_mutex_ = nullptr;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  int wake_fd_ = -1;
  std::atomic<bool> stop_{false};
  bool in_flush_ = false;
  std::optional<Instant> armed_;
  LoopCounters counters_;
};

}  // namespace synack::api
