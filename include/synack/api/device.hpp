// api::Device — what the EventLoop needs of a link: a pollable file descriptor, a batched
// read of whole IPv4 packets, and a write of one. TunLink adapts a dev::TunDevice;
// ImpairedTunLink adapts one whose packets pass through its impairment queues; DatagramLink is one
// end of a socketpair carrying one IPv4 packet per datagram, so tests can join two Hosts in one
// process without privileges.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "synack/dev/tun_device.hpp"
#include "synack/expected.hpp"
#include "synack/wire/bytes.hpp"

namespace synack::api {

class Device {
 public:
  static constexpr size_t kReadBatch = 64;

  virtual ~Device() = default;
  // Non-blocking; readable (EPOLLIN) when a packet is waiting.
  virtual int fd() const = 0;
  // Reads until EAGAIN or `max_packets`, handing each packet to `deliver` (the bytes are
  // valid only during that call). Returns the number read.
  virtual size_t read_batch(const std::function<void(wire::Bytes)>& deliver,
                            size_t max_packets) = 0;
  // One IPv4 packet out. False if it was dropped (a full queue or an error). A device may
  // hold it to merge it with the next ones (TUN offloads) until flush().
  virtual bool write(wire::Bytes packet) = 0;
  // Sends what write() held; the loop calls it once the stack has nothing more to send.
  virtual void flush() {}
  // During `deliver`: whether the device vouches for the packet's TCP checksum (the stack
  // then does not verify it; see dev/tun_offload.hpp).
  virtual bool last_checksum_trusted() const { return false; }
  // The loop records this device's packets: hand them over as a capture should show them
  // (with complete checksums).
  virtual void set_captured(bool) {}
};

// A TUN interface: the kernel's IP stack on the far side. Uses the device's raw calls.
class TunLink final : public Device {
 public:
  // The loop passes last_checksum_trusted() to the stack: partial checksums are left as
  // they are unless the loop captures (set_captured).
  explicit TunLink(dev::TunDevice tun) : tun_(std::move(tun)) {
    tun_.set_complete_checksums(false);
  }
  int fd() const override { return tun_.fd(); }
  size_t read_batch(const std::function<void(wire::Bytes)>& deliver, size_t max_packets) override {
    return tun_.read_batch(deliver, max_packets);
  }
  // Consecutive segments of a connection become one TSO write when the device has offloads.
  bool write(wire::Bytes packet) override { return tun_.write_coalesced(packet); }
  void flush() override { tun_.flush(); }
  bool last_checksum_trusted() const override { return tun_.last_checksum_trusted(); }
  void set_captured(bool on) override { tun_.set_complete_checksums(on); }
  dev::TunDevice& tun() { return tun_; }

 private:
  dev::TunDevice tun_;
};

// A TUN interface with impairments (TunConfig::to_kernel / from_kernel): packets go through
// the device's timed interface (send/poll/next_deadline). The EventLoop waits on one fd per
// device, so this one is an epoll set of its own holding the TUN fd and a timerfd armed to
// the impairment queues' next deadline (CLOCK_MONOTONIC, EventLoop::clock_now()).
class ImpairedTunLink final : public Device {
 public:
  static expected<std::unique_ptr<ImpairedTunLink>, std::error_code> make(dev::TunDevice tun);
  ~ImpairedTunLink() override;
  ImpairedTunLink(const ImpairedTunLink&) = delete;
  ImpairedTunLink& operator=(const ImpairedTunLink&) = delete;

  int fd() const override { return epoll_fd_; }
  size_t read_batch(const std::function<void(wire::Bytes)>& deliver, size_t max_packets) override;
  bool write(wire::Bytes packet) override;
  dev::TunDevice& tun() { return tun_; }

 private:
  explicit ImpairedTunLink(dev::TunDevice tun) : tun_(std::move(tun)) {}
  void arm();

  dev::TunDevice tun_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
};

// One end of an AF_UNIX SOCK_SEQPACKET socketpair: each write is one packet. A full socket
// buffer drops the packet (as a congested link would; TCP retransmits).
class DatagramLink final : public Device {
 public:
  // Two connected ends.
  static expected<std::pair<std::unique_ptr<DatagramLink>, std::unique_ptr<DatagramLink>>,
                  std::error_code>
  pair();
  // Takes ownership of a non-blocking datagram or seqpacket socket.
  explicit DatagramLink(int fd);
  ~DatagramLink() override;
  DatagramLink(const DatagramLink&) = delete;
  DatagramLink& operator=(const DatagramLink&) = delete;

  int fd() const override { return fd_; }
  size_t read_batch(const std::function<void(wire::Bytes)>& deliver, size_t max_packets) override;
  bool write(wire::Bytes packet) override;
  uint64_t dropped() const { return dropped_; }

 private:
  int fd_ = -1;
  std::vector<std::byte> rx_;
  uint64_t dropped_ = 0;
};

}  // namespace synack::api
