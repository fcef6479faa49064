// EventLoop: the timerfd follows the stack's next deadline, waits end on time, stop()
// wakes a loop from another thread. The far end of the socketpair is a silent peer read
// by the test.
#include "synack/api/event_loop.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "api_test_util.hpp"
#include "synack/api/socket.hpp"
#include "synack/wire/ipv4.hpp"

namespace synack::api {
namespace {

using testing::kA;
using testing::kB;

struct Silent {
  Silent() {
    auto link = DatagramLink::pair();
    EXPECT_TRUE(link);
    HostConfig c = testing::host_config(kA, 1);
    c.stack.tcp.rtt.initial_rto = Duration::millis(50);
    host = std::make_unique<Host>(c);
    host->add_device(std::move(link->first));
    peer = std::move(link->second);
  }
  size_t read_peer() {
    return peer->read_batch([](wire::Bytes) {}, 64);
  }
  std::unique_ptr<Host> host;
  std::unique_ptr<DatagramLink> peer;
};

TEST(EventLoop, RetransmitsTheSynWhenTheTimerfdFires) {
  Silent s;
  Socket client = s.host->socket();
  const Instant start = EventLoop::clock_now();
  ASSERT_EQ(client.connect({kB, 80}), std::errc::operation_in_progress);
  EXPECT_EQ(s.read_peer(), 1u);  // the SYN went out at once
  ASSERT_TRUE(s.host->loop().armed_deadline());
  EXPECT_EQ(s.host->loop().armed_deadline(), s.host->stack().next_deadline());
  const Instant first_deadline = *s.host->loop().armed_deadline();
  EXPECT_GE(first_deadline - start, Duration::millis(50));

  size_t syns = 1;
  // Without the timer the loop would sleep forever here: run_once(nullopt) returns because
  // the timerfd fires at the RTO.
  for (int i = 0; i < 20 && syns < 2; ++i) {
    s.host->run_once(std::nullopt);
    syns += s.read_peer();
  }
  EXPECT_EQ(syns, 2u);
  EXPECT_GE(EventLoop::clock_now(), first_deadline);
  EXPECT_GE(s.host->loop().counters().timeouts, 1u);
  // Re-armed for the next (backed-off) retransmission.
  ASSERT_TRUE(s.host->loop().armed_deadline());
  EXPECT_GT(*s.host->loop().armed_deadline(), first_deadline);
}

TEST(EventLoop, RunOnceWaitsForItsTimeoutWhenNothingHappens) {
  Silent s;
  EXPECT_EQ(s.host->loop().armed_deadline(), std::nullopt);
  const Instant start = EventLoop::clock_now();
  EXPECT_FALSE(s.host->run_once(Duration::millis(30)));
  EXPECT_GE(EventLoop::clock_now() - start, Duration::millis(29));
  EXPECT_FALSE(s.host->run_once(Duration()));  // zero: no wait at all
}

TEST(EventLoop, RunUntilGivesUpAtTheDeadline) {
  Silent s;
  const Instant deadline = EventLoop::clock_now() + Duration::millis(20);
  EXPECT_FALSE(s.host->run_until([] { return false; }, deadline));
  EXPECT_GE(EventLoop::clock_now(), deadline);
  // done() is checked before the first turn: nothing to wait for.
  const Instant start = EventLoop::clock_now();
  EXPECT_TRUE(s.host->run_until([] { return true; }, start + Duration::seconds(5)));
  EXPECT_LT(EventLoop::clock_now() - start, Duration::seconds(1));
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  Silent s;
  std::thread stopper([&] { s.host->loop().stop(); });
  s.host->loop().run();  // returns only because of stop(), whenever it lands
  stopper.join();
  EXPECT_TRUE(s.host->loop().stopped());
  s.host->loop().reset_stop();
  EXPECT_FALSE(s.host->loop().stopped());
}

TEST(EventLoop, ReadsPacketsFromTheDeviceIntoTheStack) {
  Silent s;
  Socket listener = s.host->socket();
  ASSERT_FALSE(listener.bind({kA, 80}));
  ASSERT_FALSE(listener.listen());
  // A SYN from B built by a second stack, written into the peer end.
  stack::StackConfig cb;
  cb.secret_seed = 2;
  stack::Stack other(cb);
  other.add_address(kB);
  ASSERT_TRUE(other.connect({kA, 80}, EventLoop::clock_now()));
  auto syn = other.poll_transmit(EventLoop::clock_now());
  ASSERT_TRUE(syn);
  ASSERT_TRUE(s.peer->write(*syn));
  EXPECT_TRUE(s.host->run_once(Duration::seconds(1)));
  EXPECT_EQ(s.host->loop().counters().packets_in, 1u);
  EXPECT_EQ(s.read_peer(), 1u);  // the SYN-ACK
  EXPECT_EQ(s.host->loop().counters().packets_out, 1u);
}

TEST(EventLoop, RunsAWatchedFdsCallbackUntilItIsRemoved) {
  stack::Stack stack;
  EventLoop loop(stack);
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  int calls = 0;
  loop.add_fd(fd, [&] {
    uint64_t value = 0;
    EXPECT_EQ(::read(fd, &value, sizeof value), static_cast<ssize_t>(sizeof value));
    ++calls;
  });
  loop.run_once(Duration());
  EXPECT_EQ(calls, 0);  // not readable yet
  const uint64_t one = 1;
  ASSERT_EQ(::write(fd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  loop.run_once(Duration::seconds(1));
  EXPECT_EQ(calls, 1);
  loop.remove_fd(fd);
  ASSERT_EQ(::write(fd, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  loop.run_once(Duration());
  EXPECT_EQ(calls, 1);
  ::close(fd);
}

TEST(Route, MatchesItsPrefix) {
  const Route r{wire::Ipv4Address::from_octets(10, 1, 0, 0), 16};
  EXPECT_TRUE(r.contains(wire::Ipv4Address::from_octets(10, 1, 200, 3)));
  EXPECT_FALSE(r.contains(wire::Ipv4Address::from_octets(10, 2, 0, 1)));
  EXPECT_TRUE(Route{}.contains(wire::Ipv4Address::from_octets(1, 2, 3, 4)));
}

}  // namespace
}  // namespace synack::api
