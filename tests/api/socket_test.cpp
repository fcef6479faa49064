// Non-blocking sockets end to end between two Hosts over a socketpair.
#include "synack/api/socket.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "api_test_util.hpp"

namespace synack::api {
namespace {

using testing::kA;
using testing::kB;
using testing::Pair;

wire::Bytes bytes(const std::string& s) {
  return std::as_bytes(std::span(s));
}

// The value, or `fallback` for an error.
size_t or_else(const expected<size_t, std::error_code>& r, size_t fallback) {
  return r ? *r : fallback;
}

std::string drain(Socket& s) {
  std::string out;
  std::array<std::byte, 4096> buf{};
  for (int i = 0; i < 1000; ++i) {
    auto n = s.recv(buf);
    if (!n || *n == 0) break;
    out.append(reinterpret_cast<const char*>(buf.data()), *n);
  }
  return out;
}

// A listener on B port 7 and a connection from A to it, both established.
struct Connected {
  explicit Connected(Pair& p) {
    listener = p.b.socket();
    EXPECT_FALSE(listener.bind({kB, 7}));
    EXPECT_FALSE(listener.listen(4));
    client = p.a.socket();
    bool connected = false;
    client.set_callbacks({.on_connected = [&] { connected = true; }});
    EXPECT_EQ(client.connect({kB, 7}), std::errc::operation_in_progress);
    EXPECT_TRUE(p.run_until([&] {
      if (!server.valid()) {
        if (auto s = listener.accept()) server = std::move(*s);
      }
      return connected && server.valid();
    }));
    client.callbacks().on_connected = nullptr;
  }
  Socket listener;
  Socket client;
  Socket server;
};

TEST(Socket, ConnectAcceptEchoAndOrderlyClose) {
  Pair p;
  Socket listener = p.b.socket();
  ASSERT_FALSE(listener.bind({kB, 7}));
  ASSERT_FALSE(listener.listen(4));
  EXPECT_EQ(listener.accept().error(), std::errc::resource_unavailable_try_again);

  int acceptable = 0;
  listener.set_callbacks({.on_readable = [&] { ++acceptable; }});
  Socket client = p.a.socket();
  bool connected = false;
  client.set_callbacks({.on_connected = [&] { connected = true; }});
  EXPECT_EQ(client.connect({kB, 7}), std::errc::operation_in_progress);
  EXPECT_EQ(client.connect({kB, 7}), std::errc::connection_already_in_progress);
  std::array<std::byte, 16> buf{};
  EXPECT_EQ(client.recv(buf).error(), std::errc::resource_unavailable_try_again);

  Socket server;
  ASSERT_TRUE(p.run_until([&] { return connected && acceptable > 0; }));
  auto accepted = listener.accept();
  ASSERT_TRUE(accepted);
  server = std::move(*accepted);
  EXPECT_EQ(server.peer_endpoint(), client.local_endpoint());
  EXPECT_EQ(client.peer_endpoint(), (tcp::Endpoint{kB, 7}));
  EXPECT_EQ(client.connect({kB, 7}), std::errc::already_connected);

  // Nothing to read yet: EAGAIN, not end of stream.
  EXPECT_EQ(server.recv(buf).error(), std::errc::resource_unavailable_try_again);

  // Echo, driven by the readiness callbacks.
  std::string echoed;
  server.callbacks().on_readable = [&] {
    std::string got = drain(server);
    if (!got.empty()) {
      EXPECT_EQ(or_else(server.send(bytes(got)), 0), got.size());
    }
  };
  client.callbacks().on_readable = [&] { echoed += drain(client); };
  const std::string message(100'000, 'x');
  size_t sent = 0;
  client.callbacks().on_writable = [&] {
    if (sent < message.size()) {
      if (auto n = client.send(bytes(message).subspan(sent))) sent += *n;
    }
  };
  sent = client.send(bytes(message)).value();
  EXPECT_GT(sent, 0u);
  ASSERT_TRUE(p.run_until([&] { return echoed.size() == message.size(); }));
  EXPECT_EQ(echoed, message);

  // Orderly close: the client half-closes, the server sees end of stream and closes too.
  EXPECT_FALSE(client.shutdown(ShutdownHow::kWrite));
  bool server_eof = false;
  server.callbacks().on_readable = [&] {
    std::array<std::byte, 16> b{};
    auto n = server.recv(b);
    if (n && *n == 0) server_eof = true;
  };
  ASSERT_TRUE(p.run_until([&] { return server_eof; }));
  std::error_code closed_error = std::make_error_code(std::errc::io_error);
  bool client_closed = false;
  client.callbacks().on_closed = [&](std::error_code e) {
    client_closed = true;
    closed_error = e;
  };
  EXPECT_FALSE(server.close());
  EXPECT_FALSE(server.valid());
  ASSERT_TRUE(p.run_until([&] { return client.state() == tcp::State::kTimeWait; }));
  EXPECT_EQ(or_else(client.recv(buf), 99), 0u);  // end of stream
  EXPECT_FALSE(client.close());
  EXPECT_EQ(p.a.open_sockets(), 0u);
}

TEST(Socket, ConnectToAClosedPortIsRefused) {
  Pair p;
  Socket client = p.a.socket();
  std::error_code error;
  client.set_callbacks({.on_error = [&](std::error_code e) { error = e; }});
  EXPECT_EQ(client.connect({kB, 9}), std::errc::operation_in_progress);
  ASSERT_TRUE(p.run_until([&] { return bool(error); }));
  EXPECT_EQ(error, std::errc::connection_refused);
  EXPECT_EQ(client.take_error(), std::errc::connection_refused);
  EXPECT_FALSE(client.take_error());  // SO_ERROR clears once read
  EXPECT_EQ(client.send(bytes("x")).error(), std::errc::broken_pipe);
}

TEST(Socket, LingerZeroResetsThePeer) {
  Pair p;
  Connected c(p);
  std::error_code error;
  c.server.callbacks().on_error = [&](std::error_code e) { error = e; };
  EXPECT_FALSE(c.client.set_linger(Duration()));
  EXPECT_FALSE(c.client.close());
  ASSERT_TRUE(p.run_until([&] { return bool(error); }));
  EXPECT_EQ(error, std::errc::connection_reset);
  std::array<std::byte, 16> buf{};
  EXPECT_EQ(c.server.recv(buf).error(), std::errc::connection_reset);
  EXPECT_EQ(or_else(c.server.recv(buf), 99), 0u);  // reported once, then end of stream
  EXPECT_EQ(c.server.send(bytes("x")).error(), std::errc::broken_pipe);
}

TEST(Socket, CloseWithUnreadDataResetsThePeer) {
  Pair p;
  Connected c(p);
  ASSERT_TRUE(c.client.send(bytes("unread")));
  ASSERT_TRUE(p.run_until([&] { return c.server.readable() == 6; }));
  std::error_code error;
  c.client.callbacks().on_error = [&](std::error_code e) { error = e; };
  EXPECT_FALSE(c.server.close());  // RFC 2525 §2.17: RST, not FIN
  ASSERT_TRUE(p.run_until([&] { return bool(error); }));
  EXPECT_EQ(error, std::errc::connection_reset);
}

TEST(Socket, SendAfterShutdownWriteIsEpipeAndReadingGoesOn) {
  Pair p;
  Connected c(p);
  EXPECT_FALSE(c.client.shutdown(ShutdownHow::kWrite));
  EXPECT_EQ(c.client.send(bytes("late")).error(), std::errc::broken_pipe);
  ASSERT_TRUE(c.server.send(bytes("still flowing")));
  std::string got;
  ASSERT_TRUE(p.run_until([&] {
    got += drain(c.client);
    return got == "still flowing";
  }));
}

TEST(Socket, ShutdownReadGivesEndOfStreamAndDiscardsLaterData) {
  Pair p;
  Connected c(p);
  EXPECT_FALSE(c.server.shutdown(ShutdownHow::kRead));
  std::array<std::byte, 16> buf{};
  EXPECT_EQ(or_else(c.server.recv(buf), 99), 0u);
  ASSERT_TRUE(c.client.send(bytes("ignored")));
  ASSERT_TRUE(p.run_until([&] {
    auto s = c.client.status();
    return s && s->send_queue == 0;  // acknowledged: the window stayed open
  }));
  EXPECT_EQ(c.server.readable(), 0u);
  EXPECT_EQ(or_else(c.server.recv(buf), 99), 0u);
}

TEST(Socket, ErrorsBeforeConnecting) {
  Pair p;
  Socket s = p.a.socket();
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(s.recv(buf).error(), std::errc::not_connected);
  EXPECT_EQ(s.send(bytes("x")).error(), std::errc::not_connected);
  EXPECT_EQ(s.shutdown(ShutdownHow::kWrite), std::errc::not_connected);
  EXPECT_EQ(s.listen(), std::errc::invalid_argument);  // not bound
  EXPECT_EQ(s.bind({kB, 80}), std::errc::address_not_available);
  EXPECT_EQ(s.accept().error(), std::errc::invalid_argument);
}

TEST(Socket, BindAndListenConflicts) {
  Pair p;
  Socket first = p.b.socket();
  ASSERT_FALSE(first.bind({kB, 80}));
  Socket second = p.b.socket();
  EXPECT_EQ(second.bind({kB, 80}), std::errc::address_in_use);
  EXPECT_EQ(second.bind({wire::Ipv4Address(), 80}), std::errc::address_in_use);
  // REUSEADDR on both, neither listening: shared, as in Linux.
  ASSERT_FALSE(first.set_reuse_address(true));
  ASSERT_FALSE(second.set_reuse_address(true));
  EXPECT_FALSE(second.bind({kB, 80}));
  ASSERT_FALSE(first.listen());
  EXPECT_EQ(second.listen(), std::errc::address_in_use);  // the stack's one listener per port
  Socket third = p.b.socket();
  ASSERT_FALSE(third.set_reuse_address(true));
  EXPECT_EQ(third.bind({kB, 80}), std::errc::address_in_use);  // a listener never shares
}

TEST(Socket, OptionsReachTheConnection) {
  Pair p;
  Socket listener = p.b.socket();
  ASSERT_FALSE(listener.set_nodelay(true));
  ASSERT_FALSE(listener.set_keepalive_idle(Duration::seconds(5)));
  ASSERT_FALSE(listener.set_keepalive(true));
  ASSERT_FALSE(listener.bind({kB, 7}));
  ASSERT_FALSE(listener.listen());
  Socket client = p.a.socket();
  EXPECT_EQ(client.set_receive_buffer(size_t{1} << 30), std::errc::invalid_argument);
  EXPECT_FALSE(client.set_send_buffer(1000));
  EXPECT_EQ(client.options().send_buffer, 4096u);  // raised to the minimum, as Linux does
  EXPECT_EQ(client.set_keepalive_count(0), std::errc::invalid_argument);
  EXPECT_EQ(client.connect({kB, 7}), std::errc::operation_in_progress);
  EXPECT_EQ(client.set_send_buffer(2000), std::errc::invalid_argument);  // too late
  Socket server;
  ASSERT_TRUE(p.run_until([&] {
    if (!server.valid()) {
      if (auto s = listener.accept()) server = std::move(*s);
    }
    return server.valid() && client.connected();
  }));
  EXPECT_TRUE(server.options().nodelay);  // inherited from the listener
  EXPECT_TRUE(server.options().keepalive.enabled);
  EXPECT_EQ(server.options().keepalive.idle, Duration::seconds(5));
  // SNDBUF sizes the connection's send buffer.
  const std::string big(5000, 'y');
  EXPECT_EQ(or_else(client.send(bytes(big)), 0), 4096u);
  EXPECT_EQ(client.writable(), 0u);
  EXPECT_EQ(client.send(bytes(big)).error(), std::errc::resource_unavailable_try_again);
}

TEST(Socket, ReceiveBufferSetsTheWindowOfConnectionsAndOfAcceptedOnes) {
  Pair p;
  Socket listener = p.b.socket();
  ASSERT_FALSE(listener.set_receive_buffer(16384));
  ASSERT_FALSE(listener.bind({kB, 7}));
  ASSERT_FALSE(listener.listen());
  Socket client = p.a.socket();
  ASSERT_FALSE(client.set_receive_buffer(size_t{4} << 20));
  ASSERT_EQ(client.connect({kB, 7}), std::errc::operation_in_progress);
  Socket server;
  ASSERT_TRUE(p.run_until([&] {
    if (!server.valid()) {
      if (auto s = listener.accept()) server = std::move(*s);
    }
    return server.valid() && client.connected();
  }));
  // Each side's window as the other sees it: 16 KiB offered by the server; the client's
  // 4 MiB needs a window scale of 7 (4 MiB / 65535 rounded up to a power of two).
  EXPECT_EQ(client.status()->snd_wnd, 16384u);
  EXPECT_EQ(server.status()->snd_wscale, 7);
  EXPECT_EQ(server.status()->snd_wnd, size_t{4} << 20);
  // Default-sized ones for comparison: the stack's 256 KiB.
  EXPECT_EQ(p.a.stack().config().tcp.receive_buffer, size_t{256} * 1024);
}

TEST(Socket, UrgentDataStaysInlineWithAMark) {
  Pair p;
  Connected c(p);
  ASSERT_TRUE(c.client.send(bytes("abc")));
  ASSERT_TRUE(c.client.send(bytes("!"), {.urgent = true}));
  ASSERT_TRUE(p.run_until([&] { return c.server.readable() == 4; }));
  EXPECT_EQ(c.server.urgent_mark(), 4u);  // 4 bytes up to the end of the urgent data
  EXPECT_EQ(drain(c.server), "abc!");
  EXPECT_EQ(c.server.urgent_mark(), std::nullopt);
}

TEST(Socket, ClosingAListenerResetsUnacceptedConnections) {
  Pair p;
  Socket listener = p.b.socket();
  ASSERT_FALSE(listener.bind({kB, 7}));
  ASSERT_FALSE(listener.listen());
  Socket client = p.a.socket();
  std::error_code error;
  client.set_callbacks({.on_error = [&](std::error_code e) { error = e; }});
  EXPECT_EQ(client.connect({kB, 7}), std::errc::operation_in_progress);
  ASSERT_TRUE(p.run_until([&] { return client.connected(); }));
  EXPECT_FALSE(listener.close());
  ASSERT_TRUE(p.run_until([&] { return bool(error); }));
  EXPECT_EQ(error, std::errc::connection_reset);
}

}  // namespace
}  // namespace synack::api
