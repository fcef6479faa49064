#include "synack/dev/tun_device.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace synack::dev {

namespace {

constexpr size_t kMinMtu = 68;  // RFC 791: every IPv4 module must forward 68 octets
constexpr size_t kMaxMtu = 65535;
constexpr size_t kMaxDatagram = 65535;
constexpr size_t kNetlinkBuffer = 8192;

std::error_code errno_code(int e) {
  return {e, std::generic_category()};
}

// What to do about a missing CAP_NET_ADMIN, appended to privilege errors.
constexpr const char* kCapabilityHint =
    " (creating and configuring a TUN interface needs CAP_NET_ADMIN: run as root, or in a "
    "user and network namespace of your own with `unshare -rn <command>`)";
constexpr const char* kDeviceFileHint =
    " (this user cannot read and write /dev/net/tun: run as root, or make it mode 0666 as most "
    "distributions do and run in a user and network namespace with `unshare -rn <command>`)";

unexpected<TunError> fail(int e, const std::string& what, const char* hint = "") {
  return unexpected(TunError{errno_code(e), what + ": " + std::strerror(e) + hint});
}

unexpected<TunError> fail_with_capability_hint(int e, const std::string& what) {
  return fail(e, what, e == EPERM || e == EACCES ? kCapabilityHint : "");
}

unexpected<TunError> invalid(std::string message) {
  return unexpected(TunError{errno_code(EINVAL), std::move(message)});
}

// Closes a file descriptor unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// One rtnetlink socket for the requests of open(): each is sent with NLM_F_ACK and its
// answer awaited, so a failure reports the kernel's errno for that very request.
class Rtnetlink {
 public:
  // 0 on success, else errno.
  int open() {
    nl_.reset(mnl_socket_open(NETLINK_ROUTE));
    if (!nl_) return errno;
    if (mnl_socket_bind(nl_.get(), 0, MNL_SOCKET_AUTOPID) < 0) return errno;
    // The kernel answers a request before sendto() returns; the timeout only guards against
    // a reply that never comes.
    const timeval timeout{.tv_sec = 2, .tv_usec = 0};
    setsockopt(mnl_socket_get_fd(nl_.get()), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    portid_ = mnl_socket_get_portid(nl_.get());
    return 0;
  }

  // A request header of `type` with flags, then a zeroed family header of type H.
  template <class H>
  H* start(uint16_t type, uint16_t flags) {
    buffer_.fill(0);
    nlh_ = mnl_nlmsg_put_header(buffer_.data());
    nlh_->nlmsg_type = type;
    nlh_->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh_->nlmsg_seq = ++seq_;
    return static_cast<H*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(H)));
  }
  nlmsghdr* message() { return nlh_; }

  // Sends the message and waits for its acknowledgement: 0, or the kernel's errno.
  int transact() {
    if (mnl_socket_sendto(nl_.get(), nlh_, nlh_->nlmsg_len) < 0) return errno;
    for (;;) {
      const ssize_t n = mnl_socket_recvfrom(nl_.get(), buffer_.data(), buffer_.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      const int r =
          mnl_cb_run(buffer_.data(), static_cast<size_t>(n), seq_, portid_, nullptr, nullptr);
      if (r == MNL_CB_ERROR) return errno;
      if (r == MNL_CB_STOP) return 0;
    }
  }

 private:
  struct Closer {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
  };
  std::unique_ptr<mnl_socket, Closer> nl_;
  std::array<char, kNetlinkBuffer> buffer_{};
  nlmsghdr* nlh_ = nullptr;
  unsigned portid_ = 0;
  uint32_t seq_ = 0;
};

// RTM_NEWLINK on an existing interface: its MTU, and IFF_UP.
int configure_link(Rtnetlink& nl, unsigned ifindex, const TunConfig& config) {
  auto* ifi = nl.start<ifinfomsg>(RTM_NEWLINK, 0);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = static_cast<int>(ifindex);
  if (config.up) {
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = IFF_UP;
  }
  if (config.mtu != 0) {
    mnl_attr_put_u32(nl.message(), IFLA_MTU, static_cast<uint32_t>(config.mtu));
  }
  return nl.transact();
}

// RTM_NEWADDR: the kernel's address with its prefix (the prefix route follows from it).
// IFA_LOCAL and IFA_ADDRESS equal, as `ip addr add A/P dev D` sends them: on a
// point-to-point interface IFA_ADDRESS would otherwise name the peer.
int configure_address(Rtnetlink& nl, unsigned ifindex, const TunConfig& config) {
  auto* ifa = nl.start<ifaddrmsg>(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = config.prefix_len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = ifindex;
  const uint32_t address = htonl(config.kernel_address->value());
  mnl_attr_put(nl.message(), IFA_LOCAL, sizeof address, &address);
  mnl_attr_put(nl.message(), IFA_ADDRESS, sizeof address, &address);
  return nl.transact();
}

// The interface MTU as the kernel has it (SIOCGIFMTU); 0 on failure, with errno set.
size_t query_mtu(const std::string& name) {
  const FdGuard sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) return 0;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(sock.get(), SIOCGIFMTU, &ifr) < 0) return 0;
  return static_cast<size_t>(ifr.ifr_mtu);
}

std::optional<std::string> config_error(const TunConfig& config) {
  if (config.name.size() >= IFNAMSIZ) {
    return "interface name \"" + config.name + "\" is longer than " + std::to_string(IFNAMSIZ - 1) +
           " characters";
  }
  if (config.name.find('/') != std::string::npos || config.name == "." || config.name == "..") {
    return "interface name \"" + config.name + "\" is not valid";
  }
  if (config.mtu != 0 && (config.mtu < kMinMtu || config.mtu > kMaxMtu)) {
    return "MTU " + std::to_string(config.mtu) + " is outside 68..65535";
  }
  if (config.kernel_address && config.prefix_len > 32) {
    return "prefix length /" + std::to_string(config.prefix_len) + " is longer than 32";
  }
  return std::nullopt;
}

}  // namespace

expected<TunDevice, TunError> TunDevice::open(const TunConfig& config) {
  if (auto error = config_error(config)) return invalid("TUN configuration: " + *error);

  FdGuard fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    const int e = errno;
    return fail(e, "cannot open /dev/net/tun",
                e == ENOENT                 ? " (is the tun module loaded? `modprobe tun`)"
                : e == EACCES || e == EPERM ? kDeviceFileHint
                                            : "");
  }

  ifreq ifr{};
  const bool offload = config.offload && !config.to_kernel && !config.from_kernel;
  ifr.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0));
  std::memcpy(ifr.ifr_name, config.name.data(), config.name.size());
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const std::string shown = config.name.empty() ? "" : " \"" + config.name + "\"";
    const int e = errno;
    if (e == EBUSY) {
      return fail(e, "cannot attach to TUN interface" + shown + " (TUNSETIFF)",
                  " (an interface of that name exists and is not a TUN device free to attach)");
    }
    return fail_with_capability_hint(e, "cannot create TUN interface" + shown + " (TUNSETIFF)");
  }
  // With the virtio-net header on, the kernel may hand over TSO segments with partial
  // checksums. If it refuses, it sends ordinary packets (and still takes our TSO writes).
  if (offload) (void)::ioctl(fd.get(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4);
  // The kernel wrote back the name it chose (or numbered "%d" in).
  std::string name(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  const unsigned ifindex = if_nametoindex(name.c_str());
  if (ifindex == 0) return fail(errno, "cannot find the index of " + name);

  if (config.up || config.mtu != 0 || config.kernel_address) {
    Rtnetlink nl;
    if (const int e = nl.open())
      return fail_with_capability_hint(e, "cannot open an rtnetlink socket");
    if (config.up || config.mtu != 0) {
      if (const int e = configure_link(nl, ifindex, config)) {
        return fail_with_capability_hint(e, "cannot configure " + name + " (RTM_NEWLINK: up, MTU " +
                                                std::to_string(config.mtu) + ")");
      }
    }
    if (config.kernel_address) {
      if (const int e = configure_address(nl, ifindex, config)) {
        return fail_with_capability_hint(
            e, "cannot give " + name + " the address " + config.kernel_address->to_string() + "/" +
                   std::to_string(config.prefix_len) + " (RTM_NEWADDR)");
      }
    }
  }

  const size_t mtu = query_mtu(name);
  if (mtu == 0) return fail(errno, "cannot read the MTU of " + name + " (SIOCGIFMTU)");
  TunDevice device(fd.release(), std::move(name), ifindex, mtu, config);
  device.offload_ = offload;
  return device;
}

TunDevice::TunDevice(int fd, std::string name, unsigned ifindex, size_t mtu,
                     const TunConfig& config)
    : fd_(fd),
      name_(std::move(name)),
      ifindex_(ifindex),
      mtu_(mtu),
      rx_(vnet::kHeaderSize + kMaxDatagram) {
  if (config.to_kernel) to_kernel_.emplace(*config.to_kernel, 0);
  if (config.from_kernel) from_kernel_.emplace(*config.from_kernel, 1);
}

TunDevice::TunDevice(TunDevice&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      name_(std::move(other.name_)),
      ifindex_(other.ifindex_),
      mtu_(other.mtu_),
      offload_(other.offload_),
      complete_checksums_(other.complete_checksums_),
      rx_(std::move(other.rx_)),
      tso_(std::move(other.tso_)),
      to_kernel_(std::move(other.to_kernel_)),
      from_kernel_(std::move(other.from_kernel_)),
      counters_(other.counters_),
      error_(other.error_) {}

TunDevice& TunDevice::operator=(TunDevice&& other) noexcept {
  if (this != &other) {
    close_fd();
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
    ifindex_ = other.ifindex_;
    mtu_ = other.mtu_;
    offload_ = other.offload_;
    complete_checksums_ = other.complete_checksums_;
    rx_ = std::move(other.rx_);
    tso_ = std::move(other.tso_);
    to_kernel_ = std::move(other.to_kernel_);
    from_kernel_ = std::move(other.from_kernel_);
    counters_ = other.counters_;
    error_ = other.error_;
  }
  return *this;
}

TunDevice::~TunDevice() {
  close_fd();
}

void TunDevice::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<wire::Bytes> TunDevice::read_one() {
  for (;;) {
    const ssize_t n = ::read(fd_, rx_.data(), rx_.size());
    if (n >= 0) {
      const auto size = static_cast<size_t>(n);
      last_trusted_ = false;
      if (!offload_) {
        ++counters_.rx_packets;
        counters_.rx_bytes += size;
        return wire::Bytes(rx_.data(), size);
      }
      if (size < vnet::kHeaderSize) {
        ++counters_.rx_errors;
        continue;
      }
      const vnet::Header h = vnet::load(rx_.data());
      const wire::MutableBytes packet(rx_.data() + vnet::kHeaderSize, size - vnet::kHeaderSize);
      if (vnet::accept_packet(h, packet, complete_checksums_)) {
        ++counters_.rx_errors;
        continue;
      }
      ++counters_.rx_packets;
      counters_.rx_bytes += packet.size();
      if (h.gso_type != vnet::kGsoNone) ++counters_.rx_gso_packets;
      last_trusted_ = !complete_checksums_ && vnet::checksum_trusted(h, packet);
      return wire::Bytes(packet.data(), packet.size());
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ++counters_.rx_errors;
      error_ = errno_code(errno);
    }
    return std::nullopt;
  }
}

bool TunDevice::read(std::vector<std::byte>& out) {
  const std::optional<wire::Bytes> packet = read_one();
  if (!packet) return false;
  out.assign(packet->begin(), packet->end());
  return true;
}

bool TunDevice::write(wire::Bytes packet) {
  if (!offload_) return write_frame({}, packet);
  flush();
  static constexpr std::byte kPlain[vnet::kHeaderSize] = {};
  return write_frame(wire::Bytes(kPlain, sizeof kPlain), packet);
}

bool TunDevice::write_coalesced(wire::Bytes packet) {
  if (!offload_) return write_frame({}, packet);
  bool ok = true;
  tso_.add(packet,
           [&](wire::Bytes header, wire::Bytes frame) { ok &= write_frame(header, frame); });
  return ok;
}

void TunDevice::flush() {
  if (!offload_) return;
  tso_.flush([this](wire::Bytes header, wire::Bytes frame) { write_frame(header, frame); });
}

bool TunDevice::write_frame(wire::Bytes vnet_header, wire::Bytes packet) {
  iovec iov[2] = {{const_cast<std::byte*>(vnet_header.data()), vnet_header.size()},
                  {const_cast<std::byte*>(packet.data()), packet.size()}};
  const int count = vnet_header.empty() ? 1 : 2;
  for (;;) {
    // One write is one packet: a TUN device never writes part of one.
    const ssize_t n = vnet_header.empty() ? ::write(fd_, packet.data(), packet.size())
                                          : ::writev(fd_, iov, count);
    if (n >= 0) {
      ++counters_.tx_packets;
      counters_.tx_bytes += packet.size();
      if (!vnet_header.empty() && vnet::load(vnet_header.data()).gso_type != vnet::kGsoNone) {
        ++counters_.tx_gso_packets;
        counters_.tx_gso_segments = tso_.counters().segments;
      }
      return true;
    }
    if (errno == EINTR) continue;
    ++counters_.tx_errors;
    error_ = errno_code(errno);
    return false;
  }
}

void TunDevice::send(wire::Bytes packet, Instant now) {
  if (!to_kernel_) {
    write(packet);
    return;
  }
  to_kernel_->push(packet, now);
  flush_to_kernel(now);  // without latency it is due at once
}

void TunDevice::flush_to_kernel(Instant now) {
  if (to_kernel_) to_kernel_->pop_due(now, [this](wire::Bytes packet) { write(packet); });
}

std::optional<Instant> TunDevice::next_deadline() const {
  std::optional<Instant> next;
  for (const auto* queue : {to_kernel(), from_kernel()}) {
    if (queue == nullptr) continue;
    const std::optional<Instant> arrival = queue->next_arrival();
    if (arrival && (!next || *arrival < *next)) next = arrival;
  }
  return next;
}

}  // namespace synack::dev
