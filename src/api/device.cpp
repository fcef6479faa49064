#include "synack/api/device.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "synack/api/event_loop.hpp"

namespace synack::api {

expected<std::unique_ptr<ImpairedTunLink>, std::error_code> ImpairedTunLink::make(
    dev::TunDevice tun) {
  std::unique_ptr<ImpairedTunLink> link(new ImpairedTunLink(std::move(tun)));
  link->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  link->timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (link->epoll_fd_ < 0 || link->timer_fd_ < 0) {
    return unexpected(std::error_code(errno, std::generic_category()));
  }
  for (int fd : {link->tun_.fd(), link->timer_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(link->epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return unexpected(std::error_code(errno, std::generic_category()));
    }
  }
  return link;
}

ImpairedTunLink::~ImpairedTunLink() {
  if (timer_fd_ >= 0) ::close(timer_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

size_t ImpairedTunLink::read_batch(const std::function<void(wire::Bytes)>& deliver,
                                   size_t max_packets) {
  uint64_t expirations = 0;
  (void)!::read(timer_fd_, &expirations, sizeof expirations);
  // The inner epoll is level-triggered: it stays readable while the TUN fd has packets.
  const size_t n = tun_.poll(
      EventLoop::clock_now(), [&](wire::Bytes p) { deliver(p); }, max_packets);
  arm();
  return n;
}

bool ImpairedTunLink::write(wire::Bytes packet) {
  tun_.send(packet, EventLoop::clock_now());
  arm();
  return true;
}

void ImpairedTunLink::arm() {
  itimerspec spec{};
  if (auto deadline = tun_.next_deadline()) {
    const int64_t us = std::max<int64_t>(1, deadline->as_micros());
    spec.it_value.tv_sec = static_cast<time_t>(us / 1'000'000);
    spec.it_value.tv_nsec = static_cast<long>((us % 1'000'000) * 1000);
  }
  (void)timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

expected<std::pair<std::unique_ptr<DatagramLink>, std::unique_ptr<DatagramLink>>, std::error_code>
DatagramLink::pair() {
  int fds[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    return unexpected(std::error_code(errno, std::generic_category()));
  }
  return std::pair{std::make_unique<DatagramLink>(fds[0]), std::make_unique<DatagramLink>(fds[1])};
}

DatagramLink::DatagramLink(int fd) : fd_(fd), rx_(65536) {}

DatagramLink::~DatagramLink() {
  if (fd_ >= 0) ::close(fd_);
}

size_t DatagramLink::read_batch(const std::function<void(wire::Bytes)>& deliver,
                                size_t max_packets) {
  size_t n = 0;
  while (n < max_packets) {
    const ssize_t got = ::recv(fd_, rx_.data(), rx_.size(), MSG_DONTWAIT);
    if (got <= 0) break;  // EAGAIN, an error, or the other end gone
    ++n;
    deliver(wire::Bytes(rx_.data(), static_cast<size_t>(got)));
  }
  return n;
}

bool DatagramLink::write(wire::Bytes packet) {
  if (::send(fd_, packet.data(), packet.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
      static_cast<ssize_t>(packet.size())) {
    return true;
  }
  ++dropped_;
  return false;
}

}  // namespace synack::api
