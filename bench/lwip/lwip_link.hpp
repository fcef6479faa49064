// Shared pieces of the lwIP comparators: one lwIP stack (lwIP keeps one global instance per
// process) with two IPv4 netifs joined by an in-memory link, driven from a single thread
// through the raw API, and the JSON-line output of `make bench`.
//
// Debian's liblwip is built with NO_SYS=0 and LWIP_TCPIP_CORE_LOCKING=1, so every raw-API
// call runs LWIP_ASSERT_CORE_LOCKED(), which the Debian port implements as "if a tcpip
// thread has been marked, the caller must hold the core lock". We do not start the tcpip
// thread (tcpip_init); instead the benchmark thread takes the role lwIP's own tcpip thread
// has: it creates the core mutex, marks itself as the tcpip thread and holds the core lock
// for its whole life. The checks therefore run, and pass, at the price they have in a real
// lwIP application (a pthread_self() call each).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

extern "C" {
#include <lwip/init.h>
#include <lwip/ip.h>
#include <lwip/ip4_addr.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/sys.h>
#include <lwip/tcp.h>
#include <lwip/tcpip.h>
#include <lwip/timeouts.h>

#include "bench_output.hpp"
}

namespace lwipbench {

[[noreturn]] inline void fail(const std::string& why) {
  std::fprintf(stderr, "lwip bench: cannot measure: %s\n", why.c_str());
  std::exit(1);
}

// lwip_init() plus the tcpip-thread role described at the top of this file.
inline void init_stack() {
  if (sys_mutex_new(&lock_tcpip_core) != ERR_OK) fail("sys_mutex_new failed");
  sys_mark_tcpip_thread();
  sys_lock_tcpip_core();
  lwip_init();
}

// Two netifs, A (10.0.0.1) and B (10.0.0.2). What one sends the other receives, through a
// FIFO drained by the caller, so the stack is never re-entered from its own output.
//
// Every TCP PCB must be bound to its netif (tcp_bind_netif): both addresses are local to
// the one stack, and a route lookup would pick the netif owning the destination address,
// which lwIP then short-circuits through its loopback path (that needs the tcpip thread).
class MemLink {
 public:
  enum class Mode {
    kCopy,  // a frame becomes a freshly allocated pbuf at once, as a real link would
    kRef,   // keep a reference and copy at delivery (the sender's timed path only pays a ref)
  };

  struct Frame {
    pbuf* p;
    netif* to;
    bool is_ref;
  };

  MemLink() {
    instance_ = this;
    ip4_addr_t mask;
    ip4_addr_t gw;
    IP4_ADDR(&addr_a_, 10, 0, 0, 1);
    IP4_ADDR(&addr_b_, 10, 0, 0, 2);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 0, 0, 0, 0);
    if (netif_add(&a_, &addr_a_, &mask, &gw, this, &MemLink::init_netif, &ip_input) == nullptr ||
        netif_add(&b_, &addr_b_, &mask, &gw, this, &MemLink::init_netif, &ip_input) == nullptr) {
      fail("netif_add failed");
    }
    netif_set_up(&a_);
    netif_set_up(&b_);
    netif_set_link_up(&a_);
    netif_set_link_up(&b_);
  }
  MemLink(const MemLink&) = delete;
  MemLink& operator=(const MemLink&) = delete;

  netif* a() { return &a_; }
  netif* b() { return &b_; }
  const ip4_addr_t& addr_a() const { return addr_a_; }
  const ip4_addr_t& addr_b() const { return addr_b_; }
  ip_addr_t ip_a() const { return to_ip(addr_a_); }
  ip_addr_t ip_b() const { return to_ip(addr_b_); }

  void set_mode(Mode m) { mode_ = m; }
  std::uint64_t frames_from_a() const { return from_a_; }
  std::uint64_t frames_from_b() const { return from_b_; }
  std::uint64_t frames_sent() const { return from_a_ + from_b_; }
  bool empty() const { return queue_.empty(); }

  // Deliver the oldest frame to its netif's input. Returns false when the link is idle.
  bool deliver_one() {
    if (queue_.empty()) return false;
    Frame f = queue_.front();
    queue_.pop_front();
    pbuf* p = f.p;
    if (f.is_ref) {
      p = copy(f.p);
      pbuf_free(f.p);
    }
    f.to->input(p, f.to);  // ip_input owns p from here, on every path
    return true;
  }

  // Deliver until idle or `limit` frames; returns the number delivered.
  std::size_t drain(std::size_t limit = SIZE_MAX) {
    std::size_t n = 0;
    while (n < limit && deliver_one())
      ++n;
    return n;
  }

 private:
  static ip_addr_t to_ip(const ip4_addr_t& a) {
    ip_addr_t r{};
    ip_addr_copy_from_ip4(r, a);
    return r;
  }

  static err_t init_netif(netif* n) {
    n->name[0] = 'm';
    n->name[1] = 'l';
    n->mtu = 1500;
    n->output = &MemLink::output;
#if LWIP_IPV6
    n->output_ip6 = &MemLink::output_ip6;
#endif
    n->flags = 0;  // no broadcast/ARP/IGMP: a point-to-point IP link
    return ERR_OK;
  }

  static pbuf* copy(pbuf* p) {
    pbuf* q = pbuf_alloc(PBUF_RAW, p->tot_len, PBUF_RAM);
    if (q == nullptr) fail("pbuf_alloc failed");
    if (pbuf_copy(q, p) != ERR_OK) fail("pbuf_copy failed");
    return q;
  }

  static err_t output(netif* n, pbuf* p, const ip4_addr_t* /*next hop*/) {
    MemLink& l = *instance_;
    netif* to = n == &l.a_ ? &l.b_ : &l.a_;
    (n == &l.a_ ? l.from_a_ : l.from_b_)++;
    if (l.mode_ == Mode::kRef) {
      pbuf_ref(p);
      l.queue_.push_back(Frame{p, to, true});
    } else {
      l.queue_.push_back(Frame{copy(p), to, false});
    }
    return ERR_OK;
  }

#if LWIP_IPV6
  static err_t output_ip6(netif*, pbuf*, const ip6_addr_t*) {
    return ERR_OK;
  }
#endif

  static inline MemLink* instance_ = nullptr;
  netif a_{};
  netif b_{};
  ip4_addr_t addr_a_{};
  ip4_addr_t addr_b_{};
  Mode mode_ = Mode::kCopy;
  std::deque<Frame> queue_;
  std::uint64_t from_a_ = 0;
  std::uint64_t from_b_ = 0;
};

// A new PCB bound to `addr`:`port` on netif `n` (see MemLink on why the netif binding).
inline tcp_pcb* bound_pcb(netif* n, const ip_addr_t& addr, std::uint16_t port) {
  tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
  if (pcb == nullptr) fail("tcp_new failed");
  if (tcp_bind(pcb, &addr, port) != ERR_OK) fail("tcp_bind failed");
  tcp_bind_netif(pcb, n);
  return pcb;
}

}  // namespace lwipbench
