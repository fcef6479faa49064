// MemLink: an in-memory point-to-point IP link between two ends, A and B, for the
// deterministic simulator. Each direction is an ImpairedQueue; virtual time comes in as
// arguments and nothing reads a clock.
//
// A driver loop over two stacks:
//   link.a().send(packet, now);                       // whatever stack A emits
//   link.b().poll(now, [&](wire::Bytes p) { stack_b.receive(p, now); });
//   now = earliest of link.next_deadline() and the stacks' deadlines
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "synack/dev/impairments.hpp"
#include "synack/dev/pcap_tap.hpp"
#include "synack/time.hpp"
#include "synack/wire/bytes.hpp"

namespace synack::dev {

// Where one tap shared by both ends of a MemLink records: every packet once either way.
enum class LinkTapPoint : uint8_t {
  kSent,       // as the ends send them, at send time: lost and oversized packets included,
               // duplicates, reordering and corruption not visible
  kDelivered,  // as the ends receive them, at arrival time: duplicates, reordering and
               // corruption visible, lost packets absent
};

class MemLink {
 public:
  class End {
   public:
    End(const End&) = delete;
    End& operator=(const End&) = delete;

    // Sends an IP packet towards the other end.
    void send(wire::Bytes ip_packet, Instant now) {
      if (tap_ != nullptr && records_sent(tap_points_)) tap_->record(ip_packet, now);
      out_->push(ip_packet, now);
    }
    void send(std::vector<std::byte>&& ip_packet, Instant now) {
      if (tap_ != nullptr && records_sent(tap_points_)) tap_->record(ip_packet, now);
      out_->push(std::move(ip_packet), now);
    }

    // Hands the packets arriving at this end by `now` to `deliver`, in arrival order, as
    // deliver(wire::Bytes packet, Instant arrival) or deliver(wire::Bytes packet); the
    // bytes are valid only during the call.
    template <class F>
    void poll(Instant now, F&& deliver) {
      in_->pop_due(now, [&](wire::Bytes packet, Instant arrival) {
        if (tap_ != nullptr && records_delivered(tap_points_)) tap_->record(packet, arrival);
        if constexpr (std::is_invocable_v<F&, wire::Bytes, Instant>) {
          deliver(packet, arrival);
        } else {
          deliver(packet);
        }
      });
    }

    // When the next packet arrives at this end (packets this end sent count towards the
    // other end's deadline).
    std::optional<Instant> next_deadline() const { return in_->next_arrival(); }
    // The largest IP packet this end can send (0: no limit).
    size_t mtu() const { return out_->impairments().mtu; }

    // Attaches a tap that sees this end's traffic, as tcpdump on this end's interface would
    // (`points` narrows it); nullptr detaches. The tap must outlive its attachment. One tap
    // per end (two files) gives each end's view; to share one tap between both ends, use
    // MemLink::set_tap, which records each packet once — a tap attached to both ends with
    // kBoth would write every delivered packet twice, once sent and once received.
    void set_tap(PcapTap* tap, TapPoint points = TapPoint::kBoth) {
      tap_ = tap;
      tap_points_ = points;
    }

    // This end's outgoing and incoming directions (counters, impairments).
    const ImpairedQueue& outbound() const { return *out_; }
    const ImpairedQueue& inbound() const { return *in_; }

   private:
    friend class MemLink;
    End(ImpairedQueue& out, ImpairedQueue& in) : out_(&out), in_(&in) {}

    ImpairedQueue* out_;
    ImpairedQueue* in_;
    PcapTap* tap_ = nullptr;
    TapPoint tap_points_ = TapPoint::kBoth;
  };

  // The same impairments both ways. The directions draw from independent streams derived
  // from impairments.seed: A to B behaves as ImpairedQueue(impairments, 0), B to A as
  // ImpairedQueue(impairments, 1).
  explicit MemLink(const Impairments& impairments) : MemLink(impairments, impairments) {}
  // Separate impairments per direction; streams derived from each seed as above, so equal
  // seeds still give independent directions.
  MemLink(const Impairments& a_to_b, const Impairments& b_to_a)
      : a_to_b_(a_to_b, 0), b_to_a_(b_to_a, 1), a_(a_to_b_, b_to_a_), b_(b_to_a_, a_to_b_) {}

  // The ends point into the link: it neither copies nor moves.
  MemLink(const MemLink&) = delete;
  MemLink& operator=(const MemLink&) = delete;

  End& a() { return a_; }
  End& b() { return b_; }

  // The next arrival at either end.
  std::optional<Instant> next_deadline() const;

  // Shares one tap between both ends (see LinkTapPoint); nullptr detaches both.
  void set_tap(PcapTap* tap, LinkTapPoint point);

  const ImpairedQueue& a_to_b() const { return a_to_b_; }
  const ImpairedQueue& b_to_a() const { return b_to_a_; }

 private:
  ImpairedQueue a_to_b_;
  ImpairedQueue b_to_a_;
  End a_;
  End b_;
};

}  // namespace synack::dev
