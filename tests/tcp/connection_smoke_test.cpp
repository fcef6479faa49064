// Smoke tests: the harness fixtures drive the connection through every state.
#include "harness.hpp"

namespace synack::tcp::testing {
namespace {

TEST(ConnectionSmoke, FixturesReachTheirStates) {
  {
    Harness h;
    h.syn_sent();
    EXPECT_EQ(h.conn.state(), State::kSynSent);
  }
  {
    Harness h;
    h.syn_rcvd();
    EXPECT_EQ(h.conn.state(), State::kSynRcvd);
  }
  {
    Harness h;
    h.established();
  }
  {
    Harness h;
    h.fin_wait_1();
  }
  {
    Harness h;
    h.fin_wait_2();
  }
  {
    Harness h;
    h.close_wait();
  }
  {
    Harness h;
    h.last_ack();
  }
  {
    Harness h;
    h.closing();
  }
  {
    Harness h;
    h.time_wait();
  }
}

TEST(ConnectionSmoke, DataBothWays) {
  Harness h;
  h.established();
  h.write("hello");
  h.expect(Seg{
      .seq = Harness::kIss + 1, .ack = Harness::kPeerIss + 1, .ctl = PSH | ACK, .data = "hello"});
  h.send(Seg{
      .seq = Harness::kPeerIss + 1, .ack = Harness::kIss + 6, .ctl = PSH | ACK, .data = "world"});
  EXPECT_EQ(h.read(), "world");
  h.advance(Duration::millis(40));
  h.expect(Seg{.seq = Harness::kIss + 6, .ack = Harness::kPeerIss + 6, .ctl = ACK});
  h.expect_nothing();
}

}  // namespace
}  // namespace synack::tcp::testing
