// synack against the Linux kernel's TCP: kernel sockets on one side, synack's blocking
// sockets over a TUN interface on the other, each test in a network namespace of its own.
//
//   KernelEcho       the handshake and an echo both ways, with either side as the client
//   KernelClose      both close orders: the active closer ends in TIME_WAIT, the other in
//                    CLOSED after LAST_ACK, and each side sees the other's end of stream
//   KernelHalfClose  one side shuts down writing; the other still sends it 256 KiB back
//   KernelAbort      an abortive close (kernel SO_LINGER {1, 0}; synack abort()) is ECONNRESET
//   KernelRefused    connecting to a port nobody listens on is ECONNREFUSED, either way
//   KernelBulk       100 MiB each way at once, checked by SHA-256 at both ends
//   KernelVariants   smaller transfers with the kernel's timestamps, SACK or window scaling
//                    off, with MSS 536 and 1460, and with 1 %, 3 % and 5 % loss each way
// (kernel_window_edge_test.cpp reproduces, in the engine alone, a bug these transfers show.)
//
// They need root (CAP_NET_ADMIN and unshare(CLONE_NEWNET)) and skip without it, unless CI is
// set: then they must run. Nothing sleeps: every call blocks with a timeout, every loop is
// bounded in turns and in time. Traffic never leaves the namespace.
#include <gtest/gtest.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "kernel_netns.hpp"
#include "kernel_peer.hpp"
#include "synack/dev/kernel_snmp.hpp"

namespace synack::interop {
namespace {

// Nothing is lost between synack and the kernel on a path without impairments, so synack
// retransmits nothing but tail loss probes (RFC 8985 §7): a probe fires when an ACK is
// late — on a busy machine, scheduling is enough, and the kernel sends its own too.
void expect_nothing_but_probes(const stack::Counters& c) {
  EXPECT_LE(c.TcpRetransSegs, c.TcpExtTCPLossProbes)
      << "nothing was lost on the way to the kernel, yet synack retransmitted more than probes";
  EXPECT_EQ(c.TcpExtTCPFastRetrans, 0u);
  EXPECT_EQ(c.TcpExtTCPTimeouts, 0u);
}

using tcp::State;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kKernelSeed = 0x6b65726e656c;  // "kernel"
constexpr uint64_t kSynackSeed = 0x73796e61636b;  // "synack"

// Prints the stack's table when the test has failed, whatever returned early.
class DumpOnFailure {
 public:
  explicit DumpOnFailure(Rig& rig) : rig_(rig) {}
  ~DumpOnFailure() {
    if (!::testing::Test::HasFailure() || !rig_.ok()) return;
    std::cout << "synack's connections:\n" << rig_.table();
    const auto c = rig_.counters();
    std::cout << "synack: RetransSegs " << c.TcpRetransSegs << ", OutRsts " << c.TcpOutRsts
              << ", InCsumErrors " << c.TcpInCsumErrors << ", InErrs " << c.TcpInErrs << "\n";
  }
  DumpOnFailure(const DumpOnFailure&) = delete;
  DumpOnFailure& operator=(const DumpOnFailure&) = delete;

 private:
  Rig& rig_;
};

long kernel_tcp_counter(const std::string& name) {
  return dev::kernel_snmp("Tcp")[name];
}

// Three small messages each way: the kernel's come back from synack, synack's from the kernel.
void expect_echo(Conn& c) {
  const Instant deadline = clock_now() + kCallTimeout;
  for (int i = 0; i < 3; ++i) {
    const std::string ping = "ping " + std::to_string(i) + " from the kernel";
    ASSERT_TRUE(send_all(kernel_sender(c.kernel.get()), ping)) << std::strerror(errno);
    const std::string at_synack = recv_exactly(synack_receiver(*c.synack), ping.size(), deadline);
    ASSERT_EQ(at_synack, ping);
    ASSERT_TRUE(send_all(synack_sender(*c.synack), at_synack));
    EXPECT_EQ(recv_exactly(kernel_receiver(c.kernel.get()), ping.size(), deadline), ping);

    const std::string pong = "pong " + std::to_string(i) + " from synack";
    ASSERT_TRUE(send_all(synack_sender(*c.synack), pong));
    const std::string at_kernel =
        recv_exactly(kernel_receiver(c.kernel.get()), pong.size(), deadline);
    ASSERT_EQ(at_kernel, pong);
    ASSERT_TRUE(send_all(kernel_sender(c.kernel.get()), at_kernel));
    EXPECT_EQ(recv_exactly(synack_receiver(*c.synack), pong.size(), deadline), pong);
  }
}

// recv on the synack socket once, with the call timeout.
expected<size_t, std::error_code> synack_recv_once(Conn& c) {
  std::array<std::byte, 256> buf{};
  return c.synack->recv(buf, kCallTimeout);
}

// recv on the kernel socket once: the byte count, or the errno.
expected<size_t, std::error_code> kernel_recv_once(Conn& c) {
  std::array<std::byte, 256> buf{};
  return kernel_receiver(c.kernel.get())(buf);
}

std::string role_name(const ::testing::TestParamInfo<Role>& info) {
  return to_string(info.param);
}

// --- Handshake and echo --------------------------------------------------------------------

class KernelEcho : public ::testing::TestWithParam<Role> {};

TEST_P(KernelEcho, HandshakeThenEchoBothWays) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([role = GetParam()] {
    Rig rig({});
    ASSERT_TRUE(rig.ok()) << rig.error();
    DumpOnFailure dump(rig);
    auto c = establish(rig, role);
    ASSERT_TRUE(c) << c.error();

    // Both ends are ESTABLISHED and agree on the four-tuple.
    EXPECT_EQ(c->synack_state(), State::kEstablished);
    const auto info = kernel_tcp_info(c->kernel.get());
    ASSERT_TRUE(info);
    EXPECT_EQ(info->tcpi_state, TCP_ESTABLISHED);
    EXPECT_EQ(kernel_tcp_state(c->kernel_end, c->synack_end), KernelTcpState::kEstablished);
    EXPECT_EQ(c->kernel_end.addr, kKernelAddress);
    EXPECT_EQ(c->synack_end.addr, kSynackAddress);
    EXPECT_EQ(c->synack->with_socket([](api::Socket& s) { return s.peer_endpoint(); }),
              c->kernel_end);
    const auto counters = rig.counters();
    if (role == Role::kKernelClient) {
      EXPECT_EQ(counters.TcpPassiveOpens, 1u);
      EXPECT_EQ(kernel_tcp_counter("ActiveOpens"), 1);
      EXPECT_EQ(c->synack_end.port, kPort);
    } else {
      EXPECT_EQ(counters.TcpActiveOpens, 1u);
      EXPECT_EQ(kernel_tcp_counter("PassiveOpens"), 1);
      EXPECT_EQ(c->kernel_end.port, kPort);
    }

    ASSERT_NO_FATAL_FAILURE(expect_echo(*c));
    expect_nothing_but_probes(rig.counters());
    EXPECT_EQ(kernel_tcp_counter("RetransSegs"), 0);
  });
}

INSTANTIATE_TEST_SUITE_P(Roles, KernelEcho,
                         ::testing::Values(Role::kKernelClient, Role::kSynackClient), role_name);

// --- Close orders --------------------------------------------------------------------------

enum class Closer : uint8_t {
  kKernelCloses,          // the kernel close()s first
  kSynackCloses,          // synack close()s first (the handle goes; the stack keeps TIME_WAIT)
  kSynackShutsDownWrite,  // synack shutdown(kWrite)s first and keeps its handle
};

const char* to_string(Closer c) {
  switch (c) {
    case Closer::kKernelCloses:
      return "KernelClosesFirst";
    case Closer::kSynackCloses:
      return "SynackClosesFirst";
    case Closer::kSynackShutsDownWrite:
      return "SynackShutsDownFirst";
  }
  return "?";
}

void PrintTo(Closer c, std::ostream* os) {
  *os << to_string(c);
}

class KernelClose : public ::testing::TestWithParam<std::tuple<Role, Closer>> {};

TEST_P(KernelClose, TheFirstCloserEndsInTimeWaitAndThePeerSeesEndOfStream) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([role = std::get<0>(GetParam()), closer = std::get<1>(GetParam())] {
    Rig rig({});
    ASSERT_TRUE(rig.ok()) << rig.error();
    DumpOnFailure dump(rig);
    auto c = establish(rig, role);
    ASSERT_TRUE(c) << c.error();
    ASSERT_NO_FATAL_FAILURE(expect_echo(*c));

    if (closer == Closer::kKernelCloses) {
      ASSERT_EQ(c->kernel.reset(), 0) << std::strerror(errno);
      // synack reads the end of stream and is the passive closer: CLOSE_WAIT.
      auto n = synack_recv_once(*c);
      ASSERT_TRUE(n) << n.error().message();
      EXPECT_EQ(*n, 0u) << "data where the end of stream should be";
      EXPECT_EQ(c->synack_state(), State::kCloseWait);
      // A lingering close returns once the kernel acknowledged synack's FIN: LAST_ACK is over.
      EXPECT_FALSE(c->synack->with_socket(
          [](api::Socket& s) { return s.set_linger(Duration::seconds(5)); }));
      EXPECT_FALSE(c->synack->close());
      EXPECT_EQ(rig.state_of(c->synack_end, c->kernel_end), std::nullopt)
          << "synack kept the connection after LAST_ACK";
      EXPECT_EQ(rig.connection_count(), 0u);
      EXPECT_EQ(kernel_tcp_state(c->kernel_end, c->synack_end), KernelTcpState::kTimeWait);
    } else {
      if (closer == Closer::kSynackCloses) {
        EXPECT_FALSE(c->synack->close());
      } else {
        EXPECT_FALSE(c->synack->shutdown(api::ShutdownHow::kWrite));
      }
      // The kernel reads the end of stream, then closes; its lingering close returns once
      // synack acknowledged the kernel's FIN, which puts synack in TIME_WAIT.
      auto n = kernel_recv_once(*c);
      ASSERT_TRUE(n) << n.error().message();
      EXPECT_EQ(*n, 0u) << "data where the end of stream should be";
      ASSERT_TRUE(kernel_linger_close(c->kernel, 5)) << std::strerror(errno);
      EXPECT_EQ(rig.state_of(c->synack_end, c->kernel_end), State::kTimeWait);
      if (closer == Closer::kSynackShutsDownWrite) {
        auto eof = synack_recv_once(*c);
        ASSERT_TRUE(eof) << eof.error().message();
        EXPECT_EQ(*eof, 0u);
        EXPECT_EQ(c->synack_state(), State::kTimeWait);
        EXPECT_FALSE(c->synack->close());
        EXPECT_EQ(rig.state_of(c->synack_end, c->kernel_end), State::kTimeWait)
            << "close() in TIME_WAIT must leave the stack to finish it";
      }
      // The kernel was the passive closer: nothing of the connection is left on its side.
      EXPECT_EQ(kernel_tcp_state(c->kernel_end, c->synack_end), std::nullopt);
    }
    EXPECT_EQ(rig.counters().TcpOutRsts, 0u);
    EXPECT_EQ(kernel_tcp_counter("OutRsts"), 0);
  });
}

INSTANTIATE_TEST_SUITE_P(
    Orders, KernelClose,
    ::testing::Combine(::testing::Values(Role::kKernelClient, Role::kSynackClient),
                       ::testing::Values(Closer::kKernelCloses, Closer::kSynackCloses,
                                         Closer::kSynackShutsDownWrite)),
    [](const auto& p) {
      return std::string(to_string(std::get<0>(p.param))) + "_" + to_string(std::get<1>(p.param));
    });

// --- Half-close ------------------------------------------------------------------------------

enum class HalfCloser : uint8_t { kKernel, kSynack };

class KernelHalfClose : public ::testing::TestWithParam<std::tuple<Role, HalfCloser>> {};

// The half-closer sends a request and shuts down writing; the other side reads it to the end
// of stream, answers with 256 KiB, and closes; the half-closer reads it all and the end.
TEST_P(KernelHalfClose, ThePeerStillSendsAfterAShutdownOfWriting) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([role = std::get<0>(GetParam()), half = std::get<1>(GetParam())] {
    Rig rig({});
    ASSERT_TRUE(rig.ok()) << rig.error();
    DumpOnFailure dump(rig);
    auto c = establish(rig, role);
    ASSERT_TRUE(c) << c.error();
    const Instant deadline = clock_now() + kCallTimeout;
    const std::string request = "send me 256 KiB, I am done writing";
    constexpr uint64_t kAnswer = 256 * 1024;

    if (half == HalfCloser::kKernel) {
      ASSERT_TRUE(send_all(kernel_sender(c->kernel.get()), request));
      ASSERT_EQ(shutdown(c->kernel.get(), SHUT_WR), 0) << std::strerror(errno);
      const std::string got = recv_exactly(synack_receiver(*c->synack), request.size(), deadline);
      EXPECT_EQ(got, request);
      auto eof = synack_recv_once(*c);
      ASSERT_TRUE(eof) << eof.error().message();
      EXPECT_EQ(*eof, 0u);
      EXPECT_EQ(c->synack_state(), State::kCloseWait);

      StreamResult got_answer;
      StreamResult sent;
      {
        std::jthread reader(
            [&] { got_answer = recv_all(kernel_receiver(c->kernel.get()), kAnswer, deadline); });
        sent = send_pattern(synack_sender(*c->synack), kSynackSeed, kAnswer, deadline);
        EXPECT_EQ(sent.bytes, kAnswer) << sent.error.message();
        EXPECT_EQ(c->synack_state(), State::kCloseWait) << "sending in CLOSE_WAIT";
        // The lingering close returns when the kernel has acknowledged all of it and the FIN.
        EXPECT_FALSE(c->synack->with_socket(
            [](api::Socket& s) { return s.set_linger(Duration::seconds(5)); }));
        EXPECT_FALSE(c->synack->close());
      }
      EXPECT_EQ(got_answer.bytes, kAnswer) << got_answer.error.message();
      EXPECT_TRUE(got_answer.eof);
      EXPECT_EQ(got_answer.sha256, sent.sha256);
      // The kernel closed first: it holds TIME_WAIT; synack went through LAST_ACK to CLOSED.
      EXPECT_EQ(kernel_tcp_state(c->kernel_end, c->synack_end), KernelTcpState::kTimeWait);
      EXPECT_EQ(rig.connection_count(), 0u);
    } else {
      ASSERT_TRUE(send_all(synack_sender(*c->synack), request));
      EXPECT_FALSE(c->synack->shutdown(api::ShutdownHow::kWrite));
      const std::string got =
          recv_exactly(kernel_receiver(c->kernel.get()), request.size(), deadline);
      EXPECT_EQ(got, request);
      auto eof = kernel_recv_once(*c);
      ASSERT_TRUE(eof) << eof.error().message();
      EXPECT_EQ(*eof, 0u);

      StreamResult sent;
      StreamResult got_answer;
      {
        std::jthread answer([&] {
          sent = send_pattern(kernel_sender(c->kernel.get()), kKernelSeed, kAnswer, deadline);
          c->kernel.reset();
        });
        got_answer = recv_all(synack_receiver(*c->synack), kAnswer, deadline);
      }
      EXPECT_EQ(sent.bytes, kAnswer) << sent.error.message();
      EXPECT_EQ(got_answer.bytes, kAnswer) << got_answer.error.message();
      EXPECT_TRUE(got_answer.eof);
      EXPECT_EQ(got_answer.sha256, sent.sha256);
      // synack closed first: with the kernel's FIN read it is in TIME_WAIT.
      EXPECT_EQ(c->synack_state(), State::kTimeWait);
      EXPECT_FALSE(c->synack->close());
    }
    EXPECT_EQ(rig.counters().TcpOutRsts, 0u);
    EXPECT_EQ(kernel_tcp_counter("OutRsts"), 0);
  });
}

INSTANTIATE_TEST_SUITE_P(
    Sides, KernelHalfClose,
    ::testing::Combine(::testing::Values(Role::kKernelClient, Role::kSynackClient),
                       ::testing::Values(HalfCloser::kKernel, HalfCloser::kSynack)),
    [](const auto& p) {
      return std::string(to_string(std::get<0>(p.param))) +
             (std::get<1>(p.param) == HalfCloser::kKernel ? "_KernelShutsDownWrite"
                                                          : "_SynackShutsDownWrite");
    });

// --- Abortive close ----------------------------------------------------------------------

enum class Aborter : uint8_t { kKernel, kSynack };

class KernelAbort : public ::testing::TestWithParam<std::tuple<Role, Aborter>> {};

TEST_P(KernelAbort, AnAbortiveCloseIsConnectionResetAtThePeer) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([role = std::get<0>(GetParam()), aborter = std::get<1>(GetParam())] {
    Rig rig({});
    ASSERT_TRUE(rig.ok()) << rig.error();
    DumpOnFailure dump(rig);
    auto c = establish(rig, role);
    ASSERT_TRUE(c) << c.error();
    ASSERT_NO_FATAL_FAILURE(expect_echo(*c));

    if (aborter == Aborter::kKernel) {
      ASSERT_TRUE(kernel_abort(c->kernel)) << std::strerror(errno);
      auto n = synack_recv_once(*c);
      ASSERT_FALSE(n) << "recv gave " << *n << " bytes instead of ECONNRESET";
      EXPECT_EQ(n.error(), std::errc::connection_reset) << n.error().message();
      EXPECT_EQ(c->synack_state(), State::kClosed);
      auto again = synack_recv_once(*c);  // the error is reported once, then end of stream
      EXPECT_TRUE(again && *again == 0u);
      EXPECT_EQ(kernel_tcp_counter("OutRsts"), 1);
      EXPECT_EQ(rig.counters().TcpOutRsts, 0u) << "synack answered the RST";
    } else {
      EXPECT_FALSE(c->synack->with_socket([](api::Socket& s) { return s.abort(); }));
      auto n = kernel_recv_once(*c);
      ASSERT_FALSE(n) << "recv gave " << *n << " bytes instead of ECONNRESET";
      EXPECT_EQ(n.error(), std::errc::connection_reset) << n.error().message();
      EXPECT_EQ(rig.counters().TcpOutRsts, 1u);
      EXPECT_EQ(rig.connection_count(), 0u);
      EXPECT_EQ(kernel_tcp_counter("EstabResets"), 1);
      EXPECT_EQ(kernel_tcp_state(c->kernel_end, c->synack_end), std::nullopt);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(
    Sides, KernelAbort,
    ::testing::Combine(::testing::Values(Role::kKernelClient, Role::kSynackClient),
                       ::testing::Values(Aborter::kKernel, Aborter::kSynack)),
    [](const auto& p) {
      return std::string(to_string(std::get<0>(p.param))) +
             (std::get<1>(p.param) == Aborter::kKernel ? "_KernelLingerZeroClose" : "_SynackAbort");
    });

// --- Refused connections -----------------------------------------------------------------

TEST(KernelRefused, SynackConnectToAClosedKernelPortIsEconnrefused) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([] {
    Rig rig({});
    ASSERT_TRUE(rig.ok()) << rig.error();
    auto listener = kernel_listen({kKernelAddress, kPort});  // another port is open
    ASSERT_TRUE(listener) << listener.error().message();
    auto s = rig.host().connect({kKernelAddress, kClosedPort}, kCallTimeout);
    ASSERT_FALSE(s) << "connected to a port nobody listens on";
    EXPECT_EQ(s.error(), std::errc::connection_refused) << s.error().message();
    EXPECT_EQ(rig.counters().TcpAttemptFails, 1u);
    EXPECT_EQ(rig.connection_count(), 0u);
    EXPECT_EQ(kernel_tcp_counter("OutRsts"), 1);
  });
}

TEST(KernelRefused, KernelConnectToAClosedSynackPortIsEconnrefused) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([] {
    Rig rig({});
    ASSERT_TRUE(rig.ok()) << rig.error();
    auto listener = rig.host().listen({kSynackAddress, kPort});  // another port is open
    ASSERT_TRUE(listener) << listener.error().message();
    auto fd = kernel_connect({kSynackAddress, kClosedPort});
    ASSERT_FALSE(fd) << "connected to a port nobody listens on";
    EXPECT_EQ(fd.error(), std::errc::connection_refused) << fd.error().message();
    EXPECT_EQ(rig.counters().TcpOutRsts, 1u);
    EXPECT_EQ(rig.connection_count(), 0u);
    EXPECT_EQ(kernel_tcp_counter("AttemptFails"), 1);
  });
}

// --- Transfers ---------------------------------------------------------------------------

struct Transfer {
  StreamResult kernel_sent;  // kernel -> synack
  StreamResult synack_got;
  StreamResult synack_sent;  // synack -> kernel
  StreamResult kernel_got;
  Duration elapsed;
};

// `size` bytes each way at once, each sender shutting down writing when done, each receiver
// reading to the end of stream; four threads, the last being the caller.
Transfer transfer_both_ways(Conn& c, uint64_t size, Duration budget) {
  Transfer t;
  const Instant start = clock_now();
  const Instant deadline = start + budget;
  const int fd = c.kernel.get();
  {
    std::jthread kernel_tx([&] {
      t.kernel_sent = send_pattern(kernel_sender(fd), kKernelSeed, size, deadline);
      shutdown(fd, SHUT_WR);
    });
    std::jthread kernel_rx([&] { t.kernel_got = recv_all(kernel_receiver(fd), size, deadline); });
    std::jthread synack_tx([&] {
      t.synack_sent = send_pattern(synack_sender(*c.synack), kSynackSeed, size, deadline);
      (void)c.synack->shutdown(api::ShutdownHow::kWrite);
    });
    t.synack_got = recv_all(synack_receiver(*c.synack), size, deadline);
  }
  t.elapsed = clock_now() - start;
  return t;
}

void expect_delivered(const StreamResult& sent, const StreamResult& got, uint64_t size,
                      const char* direction) {
  SCOPED_TRACE(direction);
  EXPECT_EQ(sent.bytes, size) << sent.error.message() << (sent.timed_out ? " (out of time)" : "");
  EXPECT_FALSE(sent.error) << sent.error.message();
  EXPECT_EQ(got.bytes, size) << got.error.message() << (got.timed_out ? " (out of time)" : "");
  EXPECT_FALSE(got.error) << got.error.message();
  EXPECT_TRUE(got.eof) << "no end of stream";
  EXPECT_EQ(got.sha256, sent.sha256);
}

std::string rate(uint64_t bytes, Duration d) {
  std::ostringstream out;
  const double seconds = static_cast<double>(std::max<int64_t>(1, d.as_micros())) / 1e6;
  out << d.as_millis() << " ms, " << std::fixed << std::setprecision(1)
      << static_cast<double>(bytes) / static_cast<double>(kMiB) / seconds << " MiB/s";
  return out.str();
}

// One line per transfer: its time and rate each way, and what either side retransmitted.
// On a link without loss the kernel's retransmissions are its tail loss probes (fired when
// an ACK is late: both stacks share two cores with the test), repairs of packets the TUN
// queue dropped (txqueuelen 500: synack read too slowly) or, while the window-edge bug that
// kernel_window_edge_test.cpp reproduces is open, fast retransmits of data synack dropped.
// SYNACK_KERNEL_EXT=1 also prints every non-zero TcpExt counter of the kernel.
void report(const std::string& what, uint64_t size, const Transfer& t, Rig& rig, Conn& c) {
  const auto info = kernel_tcp_info(c.kernel.get());
  const auto status = c.synack_status();
  const auto counters = rig.counters();
  auto ext = kernel_tcp_ext();
  const auto tun = interface_counters(kTunName);
  std::cout << "[ transfer ] " << what << ": " << size / 1024 << " KiB each way in "
            << t.elapsed.as_millis() << " ms; kernel->synack " << rate(size, t.synack_got.elapsed)
            << ", synack->kernel " << rate(size, t.kernel_got.elapsed) << "\n"
            << "               synack retransmitted " << counters.TcpRetransSegs
            << " segments (timeouts " << (status ? status->stats.timeouts : 0) << "); the kernel "
            << (info ? info->tcpi_total_retrans : 0) << " (fast " << ext["TCPFastRetrans"]
            << ", loss probes " << ext["TCPLossProbes"] << ", timeouts " << ext["TCPTimeouts"]
            << "); TUN queue drops " << (tun ? tun->tx_dropped : 0) << "\n";
  if (std::getenv("SYNACK_KERNEL_EXT") != nullptr) {
    for (const auto& [name, value] : ext)
      if (value != 0) std::cout << "  TcpExt" << name << " " << value << "\n";
  }
}

class KernelBulk : public ::testing::TestWithParam<Role> {};

TEST_P(KernelBulk, HundredMebibytesEachWayKeepTheirSha256) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([role = GetParam()] {
    constexpr uint64_t kSize = 100 * kMiB;
    Rig rig({});
    ASSERT_TRUE(rig.ok()) << rig.error();
    DumpOnFailure dump(rig);
    auto c = establish(rig, role);
    ASSERT_TRUE(c) << c.error();

    const Transfer t = transfer_both_ways(*c, kSize, Duration::seconds(60) * kSlowdown);
    expect_delivered(t.kernel_sent, t.synack_got, kSize, "kernel -> synack");
    expect_delivered(t.synack_sent, t.kernel_got, kSize, "synack -> kernel");
    const auto counters = rig.counters();
    expect_nothing_but_probes(counters);
    EXPECT_EQ(counters.TcpInCsumErrors, 0u);
    EXPECT_EQ(kernel_tcp_counter("InCsumErrors"), 0);
    EXPECT_EQ(counters.TcpOutRsts, 0u);
    EXPECT_EQ(kernel_tcp_counter("OutRsts"), 0);
    report(to_string(role), kSize, t, rig, *c);
  });
}

INSTANTIATE_TEST_SUITE_P(Roles, KernelBulk,
                         ::testing::Values(Role::kKernelClient, Role::kSynackClient), role_name);

// --- Transfers under the kernel's options, MSS and loss ------------------------------------

struct Variant {
  const char* name;
  uint64_t size;
  bool timestamps = true;      // net.ipv4.tcp_timestamps
  bool sack = true;            // net.ipv4.tcp_sack
  bool window_scaling = true;  // net.ipv4.tcp_window_scaling
  size_t mtu = 1500;           // the TUN interface's MTU; both sides' MSS is mtu - 40
  double loss = 0;             // the probability of losing a packet, in each direction
};

const Variant kVariants[] = {
    {.name = "KernelTimestampsOff", .size = 8 * kMiB, .timestamps = false},
    {.name = "KernelSackOff", .size = 8 * kMiB, .sack = false},
    {.name = "KernelWindowScalingOff", .size = 8 * kMiB, .window_scaling = false},
    {.name = "Mss536", .size = 4 * kMiB, .mtu = 576},
    {.name = "Mss1460", .size = 8 * kMiB, .mtu = 1500},
    {.name = "Loss1Percent", .size = 2 * kMiB, .loss = 0.01},
    {.name = "Loss3Percent", .size = 1 * kMiB, .loss = 0.03},
    {.name = "Loss5Percent", .size = 1 * kMiB, .loss = 0.05},
};

// What gtest prints for a parameter (a test's name already says it; this is for messages).
void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

class KernelVariants : public ::testing::TestWithParam<std::tuple<Variant, Role>> {};

TEST_P(KernelVariants, TransfersBothWaysKeepTheirSha256) {
  SYNACK_SKIP_UNLESS_NETNS();
  in_own_netns([v = std::get<0>(GetParam()), role = std::get<1>(GetParam())] {
    ASSERT_TRUE(write_sysctl("net/ipv4/tcp_timestamps", v.timestamps ? "1" : "0"));
    ASSERT_TRUE(write_sysctl("net/ipv4/tcp_sack", v.sack ? "1" : "0"));
    ASSERT_TRUE(write_sysctl("net/ipv4/tcp_window_scaling", v.window_scaling ? "1" : "0"));
    RigOptions options{.mtu = v.mtu};
    if (v.loss > 0) {
      options.to_kernel = dev::Impairments{.loss = v.loss, .seed = 0x5eed1};
      options.from_kernel = dev::Impairments{.loss = v.loss, .seed = 0x5eed2};
    }
    Rig rig(options);
    ASSERT_TRUE(rig.ok()) << rig.error();
    DumpOnFailure dump(rig);
    auto c = establish(rig, role);
    ASSERT_TRUE(c) << c.error();

    // What the handshake negotiated, as each side sees it.
    const auto status = c->synack_status();
    ASSERT_TRUE(status);
    const auto info = kernel_tcp_info(c->kernel.get());
    ASSERT_TRUE(info);
    const uint32_t mss = static_cast<uint32_t>(v.mtu - 40);
    const uint32_t ts_bytes = v.timestamps ? 12 : 0;
    EXPECT_EQ(status->snd_mss, mss);
    EXPECT_EQ(info->tcpi_snd_mss, mss - ts_bytes);
    EXPECT_EQ(info->tcpi_advmss, mss - ts_bytes);
    EXPECT_EQ(status->timestamps, v.timestamps);
    EXPECT_EQ((info->tcpi_options & TCPI_OPT_TIMESTAMPS) != 0, v.timestamps);
    EXPECT_EQ(status->sack, v.sack);
    EXPECT_EQ((info->tcpi_options & TCPI_OPT_SACK) != 0, v.sack);
    EXPECT_EQ((info->tcpi_options & TCPI_OPT_WSCALE) != 0, v.window_scaling);
    if (v.window_scaling) {
      EXPECT_EQ(info->tcpi_snd_wscale, status->rcv_wscale);
      EXPECT_EQ(info->tcpi_rcv_wscale, status->snd_wscale);
    } else {
      EXPECT_EQ(status->snd_wscale, 0);
      EXPECT_EQ(status->rcv_wscale, 0);
    }

    const Transfer t = transfer_both_ways(*c, v.size, Duration::seconds(30) * kSlowdown);
    expect_delivered(t.kernel_sent, t.synack_got, v.size, "kernel -> synack");
    expect_delivered(t.synack_sent, t.kernel_got, v.size, "synack -> kernel");
    const auto counters = rig.counters();
    if (v.loss == 0) {
      expect_nothing_but_probes(counters);
      // With loss, synack may resend segments the kernel already holds (a probe, or a
      // segment RACK judged lost); the kernel's duplicate ACKs for the last of them can
      // arrive after synack's LAST_ACK ended, and a connection that is gone answers them
      // with RSTs (as Linux would).
      EXPECT_EQ(counters.TcpOutRsts, 0u);
    }
    EXPECT_EQ(counters.TcpInCsumErrors, 0u);
    EXPECT_EQ(kernel_tcp_counter("InCsumErrors"), 0);
    EXPECT_EQ(kernel_tcp_counter("OutRsts"), 0);
    report(std::string(v.name) + " " + to_string(role), v.size, t, rig, *c);
  });
}

INSTANTIATE_TEST_SUITE_P(Table, KernelVariants,
                         ::testing::Combine(::testing::ValuesIn(kVariants),
                                            ::testing::Values(Role::kKernelClient,
                                                              Role::kSynackClient)),
                         [](const auto& p) {
                           return std::string(std::get<0>(p.param).name) + "_" +
                                  to_string(std::get<1>(p.param));
                         });

}  // namespace
}  // namespace synack::interop
