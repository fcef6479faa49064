// Two Hosts joined by a socketpair (one IPv4 packet per SOCK_SEQPACKET datagram), driven
// in one thread in real time; every loop is bounded in turns and in time.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "synack/api/socket.hpp"

namespace synack::api::testing {

inline constexpr wire::Ipv4Address kA = wire::Ipv4Address::from_octets(10, 0, 0, 1);
inline constexpr wire::Ipv4Address kB = wire::Ipv4Address::from_octets(10, 0, 0, 2);

inline HostConfig host_config(wire::Ipv4Address a, uint64_t seed) {
  HostConfig c;
  c.stack.secret_seed = seed;
  c.addresses = {a};
  return c;
}

struct Pair {
  Pair(HostConfig ca = host_config(kA, 1), HostConfig cb = host_config(kB, 2)) : a(ca), b(cb) {
    auto link = DatagramLink::pair();
    EXPECT_TRUE(link);
    a.add_device(std::move(link->first));
    b.add_device(std::move(link->second));
  }
  // Turns both hosts until done() or `budget` runs out.
  bool run_until(const std::function<bool()>& done, Duration budget = Duration::seconds(5)) {
    const Instant give_up = EventLoop::clock_now() + budget;
    for (int turn = 0; turn < 200'000; ++turn) {
      if (done()) return true;
      if (EventLoop::clock_now() >= give_up) break;
      a.run_once(Duration::millis(1));
      b.run_once(Duration());
    }
    return done();
  }
  Host a;
  Host b;
};

}  // namespace synack::api::testing
