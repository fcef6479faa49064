#include "synack/stack/stack.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "synack/tcp/reset.hpp"

namespace synack::stack {

using tcp::Connection;
using tcp::Endpoint;
using tcp::FourTuple;
using tcp::State;
using wire::SeqLen;
using wire::SeqNum;

namespace {

// Keys for the stack's keyed hashes: random, or derived from a seed for replayable runs.
template <size_t N>
std::array<uint8_t, N> derive_key(uint64_t seed, uint64_t purpose) {
  std::array<uint8_t, N> key{};
  uint64_t state = seed * 0x9e3779b97f4a7c15ULL + purpose;
  for (size_t i = 0; i < N; ++i) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    key[i] = static_cast<uint8_t>(z ^ (z >> 31));
  }
  return key;
}

tcp::IsnGenerator make_isn(uint64_t seed) {
  return seed == 0 ? tcp::IsnGenerator::with_random_key()
                   : tcp::IsnGenerator(derive_key<tcp::IsnGenerator::kKeySize>(seed, 1));
}

SynCookies make_cookies(uint64_t seed) {
  return seed == 0 ? SynCookies::with_random_keys()
                   : SynCookies(derive_key<SynCookies::kKeySize>(seed, 2),
                                derive_key<SynCookies::kKeySize>(seed, 3));
}

PortAllocator make_ports(uint64_t seed, PortRange range) {
  return seed == 0 ? PortAllocator::with_random_key(range)
                   : PortAllocator(derive_key<PortAllocator::kKeySize>(seed, 4), range);
}

bool is_established(State s) {
  return s == State::kEstablished || s == State::kCloseWait;
}

}  // namespace

Stack::Stack(const StackConfig& config)
    : cfg_(config),
      isn_(make_isn(config.secret_seed)),
      cookies_(make_cookies(config.secret_seed)),
      ports_(make_ports(config.secret_seed, config.ephemeral_ports)) {}

Stack::~Stack() = default;

void Stack::add_address(wire::Ipv4Address address) {
  if (!is_local(address)) addresses_.push_back(address);
}

bool Stack::is_local(wire::Ipv4Address address) const {
  return std::find(addresses_.begin(), addresses_.end(), address) != addresses_.end();
}

// --- Inbound ----------------------------------------------------------------------------

void Stack::receive(wire::Bytes packet, Instant now, bool checksum_trusted) {
  // A real interface also carries IPv6 (router solicitations as soon as it is up); synack
  // speaks IPv4 only, and IPv6 is not an IPv4 header error.
  if (!packet.empty() && (static_cast<uint8_t>(packet[0]) >> 4) == 6) {
    ++counters_.Ip6InReceives;
    return;
  }
  ++counters_.IpInReceives;
  auto ip = wire::Ipv4View::parse(packet);
  if (!ip) {
    ++counters_.IpInHdrErrors;
    counters_.count_drop(ip.error());
    return;
  }
  if (!is_local(ip->dst())) {
    ++counters_.IpInAddrErrors;  // synack does not forward
    return;
  }
  if (ip->is_fragment()) {
    // Reassembly is out of scope (TCP avoids fragments with DF and MSS); count and drop.
    ++counters_.IpReasmReqds;
    ++counters_.IpReasmFails;
    return;
  }
  switch (ip->protocol()) {
    case wire::ip_protocol::kTcp:
      ++counters_.IpInDelivers;
      receive_tcp(*ip, now, checksum_trusted);
      return;
    case wire::ip_protocol::kIcmp:
      ++counters_.IpInDelivers;
      receive_icmp(*ip, now);
      return;
    default:
      ++counters_.IpInUnknownProtos;
      return;
  }
}

void Stack::receive_tcp(const wire::Ipv4View& ip, Instant now, bool checksum_trusted) {
  ++counters_.TcpInSegs;  // RFC 4022: "including those received in error"
  auto view = checksum_trusted ? wire::TcpView::parse(ip.payload())
                               : wire::TcpView::parse(ip.payload(), ip.pseudo_header());
  if (!view) {
    ++counters_.TcpInErrs;
    if (view.error() == wire::ParseError::kTcpBadChecksum) ++counters_.TcpInCsumErrors;
    counters_.count_drop(view.error());
    return;
  }
  const wire::TcpRepr seg = wire::TcpRepr::parse(*view);
  const FourTuple tuple{Endpoint{ip.dst(), seg.dst_port}, Endpoint{ip.src(), seg.src_port}};

  if (auto it = by_tuple_.find(tuple); it != by_tuple_.end()) {
    const uint32_t s = it->second;
    Connection& c = *slots_[s].conn;
    // RFC 6191: a new SYN may end a TIME_WAIT and start a new incarnation.
    if (c.state() == State::kTimeWait && c.accepts_syn_in_time_wait(seg)) {
      if (auto lid = find_listener(tuple.local)) {
        ++counters_.TcpExtTWRecycled;
        by_tuple_.erase(it);
        slots_[s].conn->abort(now);  // TIME_WAIT -> CLOSED without a segment
        drain_events(s);
        maybe_free(s);
        segment_to_listener(*lid, tuple, seg, now);
        return;
      }
    }
    // A listener's accept queue that is full refuses the final ACK of the handshake; the
    // client's retransmissions try again (Linux: TcpExtListenOverflows).
    if (slots_[s].listener && would_complete_handshake(c, seg)) {
      Listener& l = listeners_[*slots_[s].listener];
      if (l.accept_queue.size() >= l.backlog) {
        ++counters_.TcpExtListenOverflows;
        ++counters_.TcpExtListenDrops;
        return;
      }
    }
    const uint64_t challenge_acks = c.stats().challenge_acks;
    const uint64_t paws_rejected = c.stats().paws_rejected;
    // RFC 3168 §6.1.3: a CE codepoint in the IP header is the engine's to echo.
    c.on_segment(seg, tuple.remote, now, ip.ecn() == wire::ecn::kCe);
    counters_.TcpExtTCPChallengeACK += c.stats().challenge_acks - challenge_acks;
    counters_.TcpExtPAWSEstab += c.stats().paws_rejected - paws_rejected;
    after_change(s);
    return;
  }
  if (auto lid = find_listener(tuple.local)) {
    segment_to_listener(*lid, tuple, seg, now);
    return;
  }
  // RFC 9293 §3.10.7.1: no connection, no listener: the CLOSED state's reset.
  queue_rst_for(tuple, seg);
}

bool Stack::would_complete_handshake(const Connection& c, const wire::TcpRepr& seg) const {
  return c.state() == State::kSynRcvd && seg.ack && !seg.flags.rst() && !seg.flags.syn();
}

void Stack::segment_to_listener(ListenerId lid, const FourTuple& tuple, const wire::TcpRepr& seg,
                                Instant now) {
  Listener& l = listeners_[lid];
  // §3.10.7.2 LISTEN: a RST is ignored.
  if (seg.flags.rst()) return;
  if (seg.ack) {
    // An ACK with no connection may complete a handshake a SYN cookie carried.
    // Like Linux (tcp_synq_no_recent_overflow), only while the listener has sent cookies
    // within their lifetime: otherwise a stray ACK is no failed cookie, just a stray ACK.
    const bool cookies_recent =
        l.last_cookie && now - *l.last_cookie < SynCookies::kCounterPeriod * SynCookies::kMaxAge;
    if (!seg.flags.syn() && cfg_.syncookies != SynCookieMode::kOff && cookies_recent) {
      cookie_ack(lid, tuple, seg, now);
      return;
    }
    queue_rst_for(tuple, seg);  // "<SEQ=SEG.ACK><CTL=RST>"
    return;
  }
  if (!seg.flags.syn()) return;

  const uint32_t queue_limit = std::min(l.backlog, cfg_.somaxconn);
  // Linux drops a SYN while the accept queue is full: a connection made now could not be
  // accepted either.
  if (l.accept_queue.size() >= queue_limit) {
    ++counters_.TcpExtListenOverflows;
    ++counters_.TcpExtListenDrops;
    return;
  }
  if (cfg_.syncookies == SynCookieMode::kOn ||
      (l.syn_queue >= queue_limit && cfg_.syncookies == SynCookieMode::kAuto)) {
    send_syn_cookie(lid, tuple, seg, now);
    return;
  }
  if (l.syn_queue >= queue_limit) {
    ++counters_.TcpExtTCPReqQFullDrop;
    ++counters_.TcpExtListenDrops;
    return;
  }
  auto conn = std::make_unique<Connection>(l.config.value_or(cfg_.tcp));
  if (conn->accept_syn(tuple, seg, isn_.isn(tuple, now), now)) return;
  ++l.syn_queue;
  const ConnId id = add_connection(std::move(conn), lid);
  after_change(id.slot);
}

void Stack::send_syn_cookie(ListenerId lid, const FourTuple& tuple, const wire::TcpRepr& syn,
                            Instant now) {
  listeners_[lid].last_cookie = now;
  // RFC 4987 §3.6: the SYN-ACK carries all the state in its ISN (and, with timestamps, in
  // the low bits of TSval); nothing is kept.
  const uint16_t client_mss = syn.options.mss.value_or(536);
  const SynCookie cookie = cookies_.make(tuple, syn.seq, client_mss, now);
  // Window scaling and SACK can only be remembered in the timestamp: without timestamps on
  // both sides they are not offered (Linux: tcp_clear_options).
  wire::TcpRepr offered = syn;
  if (!syn.options.timestamps || !cfg_.tcp.timestamps) {
    offered.options.window_scale.reset();
    offered.options.sack_permitted = false;
  }
  Connection once(listeners_[lid].config.value_or(cfg_.tcp));
  if (once.accept_syn(tuple, offered, cookie.iss, now)) return;
  auto synack = once.poll_transmit(now);
  if (!synack) return;
  if (synack->options.timestamps) {
    SynCookieOptions options;
    if (synack->options.window_scale) options.window_scale = syn.options.window_scale;
    options.sack_permitted = synack->options.sack_permitted;
    synack->options.timestamps->value =
        syn_cookie_tsval(synack->options.timestamps->value, options);
  }
  ++counters_.TcpExtSyncookiesSent;
  ++counters_.TcpOutSegs;
  queue_packet(wire::Ipv4Repr{.src = tuple.local.addr, .dst = tuple.remote.addr}, *synack);
}

void Stack::cookie_ack(ListenerId lid, const FourTuple& tuple, const wire::TcpRepr& seg,
                       Instant now) {
  Listener& l = listeners_[lid];
  auto checked = cookies_.check(tuple, seg.seq, *seg.ack, now);
  if (!checked) {
    ++counters_.TcpExtSyncookiesFailed;
    queue_rst_for(tuple, seg);  // as for any ACK reaching a listener
    return;
  }
  if (l.accept_queue.size() >= std::min(l.backlog, cfg_.somaxconn)) {
    ++counters_.TcpExtListenOverflows;
    ++counters_.TcpExtListenDrops;
    return;
  }
  ++counters_.TcpExtSyncookiesRecv;
  // Rebuild the SYN from what the cookie (and the echoed timestamp) carried.
  wire::TcpRepr syn;
  syn.src_port = seg.src_port;
  syn.dst_port = seg.dst_port;
  syn.seq = checked->irs;
  syn.flags = wire::TcpFlags(wire::TcpFlags::kSyn);
  syn.window = seg.window;
  syn.options.mss = checked->mss;
  if (seg.options.timestamps) {
    const SynCookieOptions o = syn_cookie_options(seg.options.timestamps->echo_reply);
    syn.options.window_scale = o.window_scale;
    syn.options.sack_permitted = o.sack_permitted;
    syn.options.timestamps = wire::TcpTimestamps{seg.options.timestamps->value, 0};
  }
  auto conn = std::make_unique<Connection>(l.config.value_or(cfg_.tcp));
  if (conn->accept_cookie(tuple, syn, checked->iss, seg, now)) return;
  const ConnId id = add_connection(std::move(conn), lid);
  slots_[id.slot].last_state = State::kSynRcvd;  // counted as a passive open below
  ++l.syn_queue;
  after_change(id.slot);
}

void Stack::receive_icmp(const wire::Ipv4View& ip, Instant now) {
  ++counters_.IcmpInMsgs;
  auto view = wire::IcmpView::parse(ip.payload());
  if (!view) {
    ++counters_.IcmpInErrors;
    if (view.error() == wire::ParseError::kIcmpBadChecksum) ++counters_.IcmpInCsumErrors;
    counters_.count_drop(view.error());
    return;
  }
  auto repr = wire::IcmpRepr::parse(*view);
  if (!repr) return;  // types synack does not act on are ignored
  if (auto* echo = std::get_if<wire::IcmpEchoRequest>(&repr->message)) {
    // RFC 1122 §3.2.2.6: answer every echo request, with the same identifier, sequence
    // number and data.
    ++counters_.IcmpInEchos;
    ++counters_.IcmpOutEchoReps;
    ++counters_.IcmpOutMsgs;
    const wire::IcmpRepr reply{wire::IcmpEchoReply{*echo}};
    const wire::Ipv4Repr out_ip{.src = ip.dst(),
                                .dst = ip.src(),
                                .protocol = wire::ip_protocol::kIcmp,
                                .ttl = cfg_.ttl,
                                .identification = ip_id_++,
                                .payload_len = static_cast<uint16_t>(reply.size())};
    std::vector<std::byte> packet(out_ip.total_len());
    out_ip.emit(packet);
    reply.emit(wire::MutableBytes(packet).subspan(out_ip.header_len()));
    out_.push_back(std::move(packet));
    ++counters_.IpOutRequests;
    return;
  }
  auto* unreach = std::get_if<wire::IcmpDestUnreachable>(&repr->message);
  if (!unreach) return;
  ++counters_.IcmpInDestUnreachs;
  auto quoted = wire::QuotedDatagram::parse(unreach->quoted);
  if (!quoted || quoted->protocol != wire::ip_protocol::kTcp) return;
  // The quoted datagram is one we sent: its source is our end of the connection.
  const FourTuple tuple{Endpoint{quoted->src, quoted->src_port()},
                        Endpoint{quoted->dst, quoted->dst_port()}};
  auto it = by_tuple_.find(tuple);
  if (it == by_tuple_.end()) return;  // ICMP that matches no connection is ignored
  std::error_code error;
  bool hard = false;
  switch (unreach->code) {
    case wire::icmp_unreach::kPort:
    case wire::icmp_unreach::kProtocol:
      error = std::make_error_code(std::errc::connection_refused);
      hard = true;
      break;
    case wire::icmp_unreach::kNet:
      error = std::make_error_code(std::errc::network_unreachable);
      break;
    case wire::icmp_unreach::kFragNeeded:
      return;  // path MTU discovery is not implemented yet
    default:
      error = std::make_error_code(std::errc::host_unreachable);
      break;
  }
  slots_[it->second].conn->on_icmp_unreachable(error, hard, SeqNum(quoted->tcp_seq()), now);
  after_change(it->second);
}

std::optional<ListenerId> Stack::find_listener(const Endpoint& local) const {
  if (auto it = listener_by_endpoint_.find(local); it != listener_by_endpoint_.end()) {
    return it->second;
  }
  if (auto it = listener_by_endpoint_.find(Endpoint{wire::Ipv4Address(), local.port});
      it != listener_by_endpoint_.end()) {
    return it->second;
  }
  return std::nullopt;
}

// --- Outbound ---------------------------------------------------------------------------

void Stack::queue_packet(const wire::Ipv4Repr& ip_in, const wire::TcpRepr& tcp) {
  wire::Ipv4Repr ip = ip_in;
  ip.protocol = wire::ip_protocol::kTcp;
  ip.ttl = cfg_.ttl;
  ip.identification = ip_id_++;
  ip.payload_len = static_cast<uint16_t>(tcp.size());
  std::vector<std::byte> packet(ip.total_len());
  ip.emit(packet);
  tcp.emit(wire::MutableBytes(packet).subspan(ip.header_len()), ip.pseudo_header());
  out_.push_back(std::move(packet));
  ++counters_.IpOutRequests;
}

void Stack::queue_rst_for(const FourTuple& tuple, const wire::TcpRepr& seg) {
  auto rst = tcp::reset_for(seg);  // never a reset for a reset
  if (!rst) return;
  ++counters_.TcpOutRsts;
  ++counters_.TcpOutSegs;
  queue_packet(wire::Ipv4Repr{.src = tuple.local.addr, .dst = tuple.remote.addr}, *rst);
}

std::optional<wire::Bytes> Stack::poll_transmit(Instant now) {
  if (!out_.empty()) {
    tx_ = std::move(out_.front());
    out_.pop_front();
    return wire::Bytes(tx_);
  }
  while (!dirty_.empty()) {
    const uint32_t s = dirty_.back();
    Slot& slot = slots_[s];
    if (!slot.conn) {
      dirty_.pop_back();
      continue;
    }
    Connection& c = *slot.conn;
    const uint64_t retrans_before = c.stats().retransmitted_segments;
    auto seg = c.poll_transmit(now);
    if (!seg) {
      dirty_.pop_back();
      slot.dirty = false;
      sync(s);  // polling may have armed timers or changed state
      continue;
    }
    const auto& t = c.tuple();
    wire::Ipv4Repr ip{.src = t.local.addr,
                      .dst = t.remote.addr,
                      .protocol = wire::ip_protocol::kTcp,
                      .ttl = cfg_.ttl,
                      // RFC 3168 §6.1.1: ECT(0) on what the engine says is ECN-capable.
                      .tos = c.last_segment_ect() ? wire::ecn::kEct0 : wire::ecn::kNotEct,
                      .identification = ip_id_++,
                      .payload_len = static_cast<uint16_t>(seg->size())};
    tx_.resize(ip.total_len());
    ip.emit(tx_);
    // The payload is copied exactly once, from the send buffer into the packet.
    seg->emit(wire::MutableBytes(tx_).subspan(ip.header_len()), ip.pseudo_header());
    ++counters_.IpOutRequests;
    if (c.stats().retransmitted_segments != retrans_before) {
      ++counters_.TcpRetransSegs;
    } else {
      ++counters_.TcpOutSegs;
    }
    if (seg->flags.rst()) ++counters_.TcpOutRsts;
    return wire::Bytes(tx_);
  }
  return std::nullopt;
}

// --- Time -------------------------------------------------------------------------------

std::optional<Instant> Stack::next_deadline() const {
  if (!out_.empty() || !dirty_.empty()) return Instant::from_micros(0);  // output now
  return wheel_.next_deadline();
}

void Stack::on_timeout(Instant now) {
  wheel_.expire(now, [&](uint32_t s) {
    if (!slots_[s].conn) return;
    const uint64_t timeouts = slots_[s].conn->status().stats.timeouts;
    slots_[s].conn->on_timeout(now);
    counters_.TcpExtTCPTimeouts += slots_[s].conn->status().stats.timeouts - timeouts;
    after_change(s);
  });
}

std::optional<StackEvent> Stack::poll_event() {
  if (events_.empty()) return std::nullopt;
  StackEvent e = events_.front();
  events_.pop_front();
  return e;
}

// --- Connections ------------------------------------------------------------------------

expected<ListenerId, std::error_code> Stack::listen(const Endpoint& local, uint32_t backlog,
                                                    std::optional<tcp::Config> config) {
  if (local.port == 0) return unexpected(std::make_error_code(std::errc::invalid_argument));
  if (local.addr != wire::Ipv4Address() && !is_local(local.addr)) {
    return unexpected(std::make_error_code(std::errc::address_not_available));
  }
  // A port has one listener per address; the wildcard conflicts with every address.
  if (listener_by_endpoint_.count(local) ||
      listener_by_endpoint_.count(Endpoint{wire::Ipv4Address(), local.port})) {
    return unexpected(std::make_error_code(std::errc::address_in_use));
  }
  if (local.addr == wire::Ipv4Address()) {
    for (const auto& [ep, id] : listener_by_endpoint_) {
      if (ep.port == local.port) return unexpected(std::make_error_code(std::errc::address_in_use));
    }
  }
  const auto id = static_cast<ListenerId>(listeners_.size());
  listeners_.push_back(Listener{.local = local,
                                .backlog = std::max<uint32_t>(1, std::min(backlog, cfg_.somaxconn)),
                                .config = std::move(config),
                                .open = true});
  listener_by_endpoint_[local] = id;
  return id;
}

void Stack::close_listener(ListenerId id, Instant now) {
  if (id >= listeners_.size() || !listeners_[id].open) return;
  Listener& l = listeners_[id];
  l.open = false;
  listener_by_endpoint_.erase(l.local);
  // Connections that nobody will accept are reset (as Linux does on close of a listener).
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    if (slots_[s].conn && slots_[s].listener == id) {
      slots_[s].conn->abort(now);
      after_change(s);
    }
  }
  l.accept_queue.clear();
  l.syn_queue = 0;
}

std::optional<ConnId> Stack::accept(ListenerId id) {
  if (id >= listeners_.size()) return std::nullopt;
  Listener& l = listeners_[id];
  while (!l.accept_queue.empty()) {
    const ConnId c = l.accept_queue.front();
    l.accept_queue.pop_front();
    Slot* slot = slot_of(c);
    if (!slot) continue;  // reset while waiting
    slot->listener.reset();
    slot->released = false;  // the application owns it now
    return c;
  }
  return std::nullopt;
}

expected<ConnId, std::error_code> Stack::connect(const Endpoint& remote, Instant now,
                                                 std::optional<Endpoint> local_in,
                                                 std::optional<tcp::Config> config) {
  if (addresses_.empty()) return unexpected(std::make_error_code(std::errc::network_unreachable));
  Endpoint local = local_in.value_or(Endpoint{addresses_.front(), 0});
  if (local.addr == wire::Ipv4Address()) local.addr = addresses_.front();
  if (!is_local(local.addr))
    return unexpected(std::make_error_code(std::errc::address_not_available));
  if (local.port == 0) {
    // RFC 6056 algorithm 3: a hash-based offset per destination, skipping 4-tuples in use
    // (TIME_WAIT ones included: RFC 6191 reuse is for the passive side).
    auto port = ports_.allocate(local.addr, remote, [&](uint16_t p) {
      return by_tuple_.count(FourTuple{Endpoint{local.addr, p}, remote}) != 0 ||
             listener_by_endpoint_.count(Endpoint{local.addr, p}) != 0 ||
             listener_by_endpoint_.count(Endpoint{wire::Ipv4Address(), p}) != 0;
    });
    if (!port) return unexpected(std::make_error_code(std::errc::address_not_available));
    local.port = *port;
  } else if (by_tuple_.count(FourTuple{local, remote})) {
    return unexpected(std::make_error_code(std::errc::address_in_use));
  }
  const FourTuple tuple{local, remote};
  auto conn = std::make_unique<Connection>(config.value_or(cfg_.tcp));
  if (auto e = conn->connect(tuple, isn_.isn(tuple, now), now)) return unexpected(e);
  ++counters_.TcpActiveOpens;
  const ConnId id = add_connection(std::move(conn), std::nullopt);
  slots_[id.slot].released = false;
  after_change(id.slot);
  return id;
}

ConnId Stack::add_connection(std::unique_ptr<Connection> conn, std::optional<ListenerId> owner) {
  uint32_t s;
  if (!free_slots_.empty()) {
    s = free_slots_.back();
    free_slots_.pop_back();
  } else {
    s = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[s];
  by_tuple_[conn->tuple()] = s;
  slot.conn = std::move(conn);
  ++slot.generation;
  slot.listener = owner;
  slot.released = true;  // until the application receives the handle
  slot.dirty = false;
  slot.last_state = State::kClosed;
  return ConnId{s, slot.generation};
}

Stack::Slot* Stack::slot_of(ConnId id) {
  if (id.slot >= slots_.size()) return nullptr;
  Slot& s = slots_[id.slot];
  return s.conn && s.generation == id.generation ? &s : nullptr;
}

const Stack::Slot* Stack::slot_of(ConnId id) const {
  return const_cast<Stack*>(this)->slot_of(id);
}

Connection* Stack::connection(ConnId id) {
  Slot* s = slot_of(id);
  return s ? s->conn.get() : nullptr;
}

const Connection* Stack::connection(ConnId id) const {
  const Slot* s = slot_of(id);
  return s ? s->conn.get() : nullptr;
}

expected<size_t, std::error_code> Stack::send(ConnId id, wire::Bytes data, Instant now,
                                              bool urgent) {
  Slot* s = slot_of(id);
  if (!s) return unexpected(std::make_error_code(std::errc::bad_file_descriptor));
  auto r = s->conn->send(data, now, urgent);
  after_change(id.slot);
  return r;
}

size_t Stack::recv(ConnId id, wire::MutableBytes out, Instant now) {
  Slot* s = slot_of(id);
  if (!s) return 0;
  const size_t n = s->conn->recv(out, now);
  after_change(id.slot);
  return n;
}

std::error_code Stack::close(ConnId id, Instant now) {
  Slot* s = slot_of(id);
  if (!s) return std::make_error_code(std::errc::bad_file_descriptor);
  auto e = s->conn->close(now);
  after_change(id.slot);
  return e;
}

void Stack::abort(ConnId id, Instant now) {
  Slot* s = slot_of(id);
  if (!s) return;
  s->conn->abort(now);
  after_change(id.slot);
}

void Stack::release(ConnId id) {
  Slot* s = slot_of(id);
  if (!s) return;
  s->released = true;
  maybe_free(id.slot);
}

void Stack::touch(ConnId id) {
  if (slot_of(id)) after_change(id.slot);
}

void Stack::mark_dirty(uint32_t s) {
  if (!slots_[s].dirty) {
    slots_[s].dirty = true;
    dirty_.push_back(s);
  }
}

void Stack::after_change(uint32_t s) {
  if (!slots_[s].conn) return;
  mark_dirty(s);
  sync(s);
}

void Stack::sync(uint32_t s) {
  Slot& slot = slots_[s];
  if (!slot.conn) return;
  drain_events(s);
  if (auto d = slot.conn->next_deadline()) {
    wheel_.schedule(s, *d);
  } else {
    wheel_.cancel(s);
  }
  maybe_free(s);
}

void Stack::drain_events(uint32_t s) {
  Slot& slot = slots_[s];
  const ConnId id{s, slot.generation};
  while (auto e = slot.conn->poll_event()) {
    if (e->kind == tcp::EventKind::kStateChanged) {
      const State from = e->from;
      const State to = e->to;
      // RFC 4022 / Linux MIB semantics.
      if (is_established(to) && !is_established(from)) ++counters_.TcpCurrEstab;
      if (is_established(from) && !is_established(to)) --counters_.TcpCurrEstab;
      if ((from == State::kSynSent || from == State::kSynRcvd) &&
          (to == State::kClosed || to == State::kListen)) {
        ++counters_.TcpAttemptFails;
      }
      // Linux's TW (TIMEWAITED) counts TIME_WAITs that ran their full 2*MSL.
      if (from == State::kTimeWait && to == State::kClosed && e->cause == tcp::kTimeWaitExpired) {
        ++counters_.TcpExtTW;
      }
      // RFC 4022 tcpEstabResets: direct transitions from ESTABLISHED or CLOSE-WAIT to CLOSED
      // (a RST either way, an abort, a timeout).
      if (is_established(from) && to == State::kClosed) ++counters_.TcpEstabResets;
      if (from == State::kSynRcvd && slot.listener) {
        Listener& l = listeners_[*slot.listener];
        if (l.syn_queue > 0) --l.syn_queue;
        if (to == State::kEstablished || to == State::kCloseWait || to == State::kFinWait1) {
          ++counters_.TcpPassiveOpens;
          l.accept_queue.push_back(id);
          events_.push_back(StackEvent{
              .kind = StackEvent::Kind::kAcceptable, .conn = id, .listener = *slot.listener});
        }
      }
      slot.last_state = to;
    }
    if (e->kind == tcp::EventKind::kError) {
      if (e->error == std::errc::timed_out) ++counters_.TcpExtTCPAbortOnTimeout;
    }
    events_.push_back(StackEvent{.kind = StackEvent::Kind::kConnection, .conn = id, .event = *e});
  }
}

namespace {

// A connection's loss-recovery statistics under their nstat names.
void add_recovery_stats(Counters& c, const tcp::ConnectionStats& st, bool sack) {
  (sack ? c.TcpExtTCPSackRecovery : c.TcpExtTCPRenoRecovery) += st.fast_recoveries;
  c.TcpExtTCPFastRetrans += st.fast_retransmits;
  c.TcpExtTCPLossProbes += st.tlp_probes;
  c.TcpExtTCPLossProbeRecovery += st.tlp_recoveries;
  c.TcpExtTCPDSACKRecv += st.dsacks_received;
  c.TcpExtTCPFullUndo += st.spurious_recoveries;
  c.SynackRackLost += st.rack_losses;
  c.SynackEcnCeRecv += st.ecn_ce_received;
  c.SynackEcnReductions += st.ecn_reductions;
}

void copy_recovery_stats(Counters& to, const Counters& from) {
  to.TcpExtTCPSackRecovery = from.TcpExtTCPSackRecovery;
  to.TcpExtTCPRenoRecovery = from.TcpExtTCPRenoRecovery;
  to.TcpExtTCPFastRetrans = from.TcpExtTCPFastRetrans;
  to.TcpExtTCPLossProbes = from.TcpExtTCPLossProbes;
  to.TcpExtTCPLossProbeRecovery = from.TcpExtTCPLossProbeRecovery;
  to.TcpExtTCPDSACKRecv = from.TcpExtTCPDSACKRecv;
  to.TcpExtTCPFullUndo = from.TcpExtTCPFullUndo;
  to.SynackRackLost = from.SynackRackLost;
  to.SynackEcnCeRecv = from.SynackEcnCeRecv;
  to.SynackEcnReductions = from.SynackEcnReductions;
}

}  // namespace

const Counters& Stack::counters() const {
  copy_recovery_stats(counters_, retired_);
  for (const Slot& slot : slots_) {
    if (slot.conn) add_recovery_stats(counters_, slot.conn->stats(), slot.conn->sack_enabled());
  }
  return counters_;
}

void Stack::maybe_free(uint32_t s) {
  Slot& slot = slots_[s];
  if (!slot.conn || slot.conn->state() != State::kClosed) return;
  // Embryonic connections (never handed out) go at once; others when the app releases them.
  const bool owned_by_app = !slot.released && !slot.listener;
  auto it = by_tuple_.find(slot.conn->tuple());
  if (owned_by_app) {
    // The tuple is free for reuse; the handle (and its error) lives on until release().
    if (it != by_tuple_.end() && it->second == s) by_tuple_.erase(it);
    wheel_.cancel(s);
    return;
  }
  if (it != by_tuple_.end() && it->second == s) {
    by_tuple_.erase(it);
  }
  wheel_.cancel(s);
  if (slot.dirty) return;  // a last segment (the RST of an abort) is still to go out
  add_recovery_stats(retired_, slot.conn->stats(), slot.conn->sack_enabled());
  slot.conn.reset();
  slot.listener.reset();
  free_slots_.push_back(s);
}

std::vector<ConnectionRow> Stack::table() const {
  std::vector<ConnectionRow> rows;
  rows.reserve(by_tuple_.size());
  for (uint32_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (slot.conn && slot.conn->state() != State::kClosed) {
      rows.push_back(ConnectionRow{ConnId{s, slot.generation}, slot.conn->status()});
    }
  }
  return rows;
}

std::vector<ListenerRow> Stack::listeners() const {
  std::vector<ListenerRow> rows;
  for (ListenerId id = 0; id < listeners_.size(); ++id) {
    const Listener& l = listeners_[id];
    if (!l.open) continue;
    rows.push_back(ListenerRow{.id = id,
                               .local = l.local,
                               .accept_queue = l.accept_queue.size(),
                               .syn_queue = l.syn_queue,
                               .backlog = l.backlog});
  }
  return rows;
}

std::string_view ss_state(State s) {
  switch (s) {
    case State::kClosed:
      return "UNCONN";
    case State::kListen:
      return "LISTEN";
    case State::kSynSent:
      return "SYN-SENT";
    case State::kSynRcvd:
      return "SYN-RECV";
    case State::kEstablished:
      return "ESTAB";
    case State::kFinWait1:
      return "FIN-WAIT-1";
    case State::kFinWait2:
      return "FIN-WAIT-2";
    case State::kCloseWait:
      return "CLOSE-WAIT";
    case State::kClosing:
      return "CLOSING";
    case State::kLastAck:
      return "LAST-ACK";
    case State::kTimeWait:
      return "TIME-WAIT";
  }
  return "?";
}

namespace {

std::string endpoint_text(const Endpoint& e) {
  return e.addr == wire::Ipv4Address() ? fmt::format("*:{}", e.port) : e.to_string();
}

}  // namespace

std::string Stack::format_table() const {
  std::string out =
      fmt::format("{:<11}{:>6} {:>6}  {:<21} {:<21} {:>8} {:>8}\n", "State", "Recv-Q", "Send-Q",
                  "Local Address:Port", "Peer Address:Port", "rtt(ms)", "retrans");
  for (const ListenerRow& l : listeners()) {
    out += fmt::format("{:<11}{:>6} {:>6}  {:<21} {:<21} {:>8} {:>8}\n", "LISTEN", l.accept_queue,
                       l.backlog, endpoint_text(l.local), "*:*", "", "");
  }
  for (const ConnectionRow& row : table()) {
    const tcp::ConnectionStatus& st = row.status;
    out += fmt::format(
        "{:<11}{:>6} {:>6}  {:<21} {:<21} {:>8.3f} {:>8}\n", ss_state(st.state), st.recv_queue,
        st.send_queue, endpoint_text(st.tuple.local), endpoint_text(st.tuple.remote),
        static_cast<double>(st.srtt.as_micros()) / 1000.0, st.stats.retransmitted_segments);
  }
  return out;
}

}  // namespace synack::stack
