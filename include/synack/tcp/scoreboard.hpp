// The sender's scoreboard: every data segment in flight, in send-stream offsets (uint64,
// offset 0 is the first octet after the SYN; the FIN takes the offset after the last data
// octet), with what the peer said about it.
//
// One record per transmitted segment, from SND.UNA to the highest offset sent (RFC 6675
// HighData), in sequence order. Each carries the time of its last transmission (RACK,
// RFC 8985 §6.1), whether it was ever retransmitted, and the marks of RFC 6675: SACKed,
// lost (IsLost, or RACK, or an RTO), and whether a retransmission of it is in flight.
//
// From the marks the scoreboard keeps RFC 6675's "pipe" incrementally, as Linux does
// (packets_out - sacked_out - lost_out + retrans_out, in bytes here):
//   pipe = (HighData - HighACK) - SACKed - lost + retransmitted-and-in-flight
// which is §4's SetPipe(): an octet not SACKed counts once unless it is lost, and once
// more if a retransmission of it is in flight.
//
// SACK blocks (RFC 2018) are applied as they come; a D-SACK (RFC 2883 §4: the first block
// lies below the cumulative ACK, or inside the second block) reports a duplicate and marks
// nothing. RACK (RFC 8985 §6.2) and the DupThresh rule (RFC 6675 §4 IsLost) mark losses;
// the connection decides what to do with them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "synack/time.hpp"

namespace synack::tcp {

struct SackRange {  // [begin, end) in send-stream offsets
  uint64_t begin = 0;
  uint64_t end = 0;
  bool operator==(const SackRange&) const = default;
};

struct SentSegment {
  uint64_t begin = 0;
  uint64_t end = 0;
  Instant sent;        // the last transmission (RFC 8985 Segment.xmit_ts)
  uint32_t tsval = 0;  // the TSval it carried then (RFC 3522; 0: no timestamps)
  bool ever_retransmitted = false;
  bool retrans_in_flight = false;  // a retransmission of it is counted in pipe
  bool sacked = false;
  bool lost = false;
  uint64_t len() const { return end - begin; }
};

// The records in offset order: a vector with a moving front. It allocates nothing until the
// first segment is sent (an idle connection pays for no block, unlike std::deque), and a
// busy one reuses its capacity: acknowledged records are dropped from the front by
// advancing an index, and the vector is compacted once the dead prefix outweighs the rest.
class SentSegments {
 public:
  bool empty() const { return head_ == v_.size(); }
  size_t size() const { return v_.size() - head_; }
  SentSegment& operator[](size_t i) { return v_[head_ + i]; }
  const SentSegment& operator[](size_t i) const { return v_[head_ + i]; }
  SentSegment& front() { return v_[head_]; }
  const SentSegment& front() const { return v_[head_]; }
  const SentSegment& back() const { return v_.back(); }
  SentSegment* begin() { return v_.data() + head_; }
  SentSegment* end() { return v_.data() + v_.size(); }
  const SentSegment* begin() const { return v_.data() + head_; }
  const SentSegment* end() const { return v_.data() + v_.size(); }
  void push_back(const SentSegment& s) { v_.push_back(s); }
  void insert(size_t i, const SentSegment& s);  // before the i-th record
  void pop_front();
  void clear() {
    v_.clear();
    head_ = 0;
  }

 private:
  std::vector<SentSegment> v_;
  size_t head_ = 0;  // records before it were acknowledged
};

class Scoreboard {
 public:
  // RFC 6675 §2: DupThresh.
  static constexpr uint32_t kDupThresh = 3;

  struct AckResult {
    uint64_t acked = 0;   // bytes newly acknowledged cumulatively
    uint64_t sacked = 0;  // bytes newly SACKed
    // The first SACK block was a D-SACK (RFC 2883 §4): the range reported twice.
    std::optional<SackRange> dsack;
    // RFC 8985 §6.2 step 3: a segment never retransmitted was delivered below the highest
    // SACKed offset: the path reorders.
    bool reordering = false;
    // Among the newly delivered segments (acked or SACKed), the one sent last (RFC 8985
    // §6.2 step 2: RACK.xmit_ts / RACK.end_seq), with the RTT it implies. Segments whose
    // retransmission makes the RTT ambiguous are left out as the RFC says.
    std::optional<Instant> newest_sent;
    uint64_t newest_end = 0;
    std::optional<Duration> newest_rtt;
    // The retransmitted segment covered by the cumulative ACK, with the TSval of its last
    // transmission (RFC 3522 Eifel detection): set when the ACK covers one.
    std::optional<uint32_t> retransmitted_tsval_acked;
  };

  void clear();
  bool empty() const { return segs_.empty(); }
  size_t size() const { return segs_.size(); }
  uint64_t una() const { return una_; }
  // RFC 6675 HighData: one past the highest offset sent.
  uint64_t high_data() const { return high_; }
  // The highest SACKed offset (RFC 8985 SND.fack; una() when nothing is SACKed).
  uint64_t fack() const { return fack_; }

  // Starts the board at `una` (the handshake's end: nothing in flight).
  void reset(uint64_t una);

  // A transmission of [begin, end): new data at high_data(), or a retransmission of
  // recorded offsets (records are split at the edges as needed).
  void on_transmit(uint64_t begin, uint64_t end, Instant now, uint32_t tsval);

  // An ACK: cumulative `ack` (offset; may exceed high_data() by nothing) and SACK blocks as
  // received (most recent first). `min_rtt` and `tsecr` (0: none) serve RFC 8985 §6.2's
  // test for ambiguous RTTs of retransmitted segments.
  AckResult on_ack(uint64_t ack, std::span<const SackRange> blocks, Instant now, Duration min_rtt,
                   uint32_t tsecr);

  // RFC 6675 §4 IsLost(): marks lost every segment not SACKed below which either DupThresh
  // discontiguous SACKed segments or more than (DupThresh - 1) * SMSS SACKed bytes lie.
  // Returns the bytes newly marked lost.
  uint64_t mark_lost_dupthresh(uint32_t smss);
  // RFC 8985 §6.2 step 5 (RACK_detect_loss): marks lost every segment not SACKed sent
  // before the newest delivered one (`rack_xmit`, `rack_end`) whose time
  // (sent + rack_rtt + reo_wnd) has passed; returns the bytes newly lost and the earliest
  // time a remaining candidate would be lost (for the reordering timer).
  struct RackResult {
    uint64_t lost = 0;    // bytes
    size_t segments = 0;  // records
    std::optional<Instant> timeout;
  };
  RackResult rack_detect_loss(Instant now, Instant rack_xmit, uint64_t rack_end, Duration rack_rtt,
                              Duration reo_wnd);
  // Marks the first segment not SACKed lost (NewReno's fast retransmit and partial ACKs,
  // RFC 6582 §3.2); returns the bytes newly lost.
  uint64_t mark_first_lost();
  // After a retransmission timeout (RFC 5681 §3.1, RFC 6675 §5.1): every segment not
  // SACKed is lost; retransmissions in flight are no longer counted.
  void mark_all_lost();
  // SACK reneging (RFC 2018 §8): forget every SACK mark.
  void forget_sacks();
  // Spurious recovery undone (RFC 4015): no segment is lost any more.
  void clear_lost();

  // RFC 6675 §4 NextSeg() rule 1: the first lost segment not SACKed and not already
  // retransmitted (in flight), if any.
  const SentSegment* next_lost() const;
  // The last segment (the highest offsets), e.g. for a tail loss probe.
  const SentSegment* last() const { return segs_.empty() ? nullptr : &segs_.back(); }
  // The first record (SND.UNA's).
  const SentSegment* first() const { return segs_.empty() ? nullptr : &segs_.front(); }

  // Bytes: SACKed, lost (not SACKed), retransmissions in flight, and pipe.
  uint64_t sacked_bytes() const { return sacked_; }
  uint64_t lost_bytes() const { return lost_; }
  uint64_t retrans_bytes() const { return retrans_; }
  uint64_t pipe() const { return (high_ - una_) - sacked_ - lost_ + retrans_; }
  // SACK holes: runs of segments not SACKed below fack().
  size_t holes() const;
  // Segments lost and not SACKed.
  size_t lost_segments() const;
  // Recomputes the counters from the records: for tests.
  bool consistent() const;
  std::span<const SentSegment> segments() const { return {segs_.begin(), segs_.end()}; }

 private:
  // Splits the record containing `offset` so that a record starts there; returns its index.
  size_t split_at(uint64_t offset);
  size_t find(uint64_t offset) const;  // index of the record containing `offset`
  void set_sacked(SentSegment& s);
  void set_lost(SentSegment& s);
  void set_retrans(SentSegment& s, bool on);
  void drop(const SentSegment& s);  // the counters without `s`

  SentSegments segs_;
  uint64_t una_ = 0;
  uint64_t high_ = 0;
  uint64_t fack_ = 0;
  uint64_t sacked_ = 0;
  uint64_t lost_ = 0;
  uint64_t retrans_ = 0;
  // Records ending at or below this offset may be out of send-time order (retransmitted,
  // or sent while the clock went back); above it they were sent once, in offset order,
  // which lets RACK stop early.
  uint64_t unordered_end_ = 0;
  Instant last_new_sent_;  // the newest transmission of new data
};

}  // namespace synack::tcp
