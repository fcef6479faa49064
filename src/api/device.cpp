#include "synack/api/device.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace synack::api {

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
