// The sender's scoreboard: RFC 6675 marks and pipe, RFC 2018/2883 SACK and D-SACK, and the
// per-segment part of RACK (RFC 8985 §6.2).
#include "synack/tcp/scoreboard.hpp"

#include <algorithm>

namespace synack::tcp {

void SentSegments::insert(size_t i, const SentSegment& s) {
  v_.insert(v_.begin() + static_cast<std::ptrdiff_t>(head_ + i), s);
}

void SentSegments::pop_front() {
  ++head_;
  if (head_ == v_.size()) {
    clear();  // keeps the capacity for the next flight
  } else if (head_ >= 32 && head_ * 2 >= v_.size()) {
    // Amortized O(1): each record moves at most once per record dropped before it.
    v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void Scoreboard::clear() {
  segs_.clear();
  sacked_ = lost_ = retrans_ = 0;
  fack_ = high_ = una_;
  unordered_end_ = una_;
  last_new_sent_ = Instant();
}

void Scoreboard::reset(uint64_t una) {
  una_ = una;
  clear();
}

size_t Scoreboard::find(uint64_t offset) const {
  // The first record whose end is past `offset`.
  auto it = std::upper_bound(segs_.begin(), segs_.end(), offset,
                             [](uint64_t o, const SentSegment& s) { return o < s.end; });
  return static_cast<size_t>(it - segs_.begin());
}

size_t Scoreboard::split_at(uint64_t offset) {
  const size_t i = find(offset);
  if (i == segs_.size() || segs_[i].begin >= offset) return i;
  // Both halves keep every mark and time; the byte counters do not change.
  SentSegment tail = segs_[i];
  tail.begin = offset;
  segs_[i].end = offset;
  segs_.insert(i + 1, tail);
  return i + 1;
}

void Scoreboard::set_sacked(SentSegment& s) {
  if (s.sacked) return;
  if (s.lost) lost_ -= s.len();
  if (s.retrans_in_flight) retrans_ -= s.len();
  s.lost = s.retrans_in_flight = false;
  s.sacked = true;
  sacked_ += s.len();
}

void Scoreboard::set_lost(SentSegment& s) {
  if (s.sacked || s.lost) return;
  s.lost = true;
  lost_ += s.len();
}

void Scoreboard::set_retrans(SentSegment& s, bool on) {
  if (s.sacked || s.retrans_in_flight == on) return;
  s.retrans_in_flight = on;
  if (on) {
    retrans_ += s.len();
  } else {
    retrans_ -= s.len();
  }
}

void Scoreboard::drop(const SentSegment& s) {
  if (s.sacked) sacked_ -= s.len();
  if (s.lost) lost_ -= s.len();
  if (s.retrans_in_flight) retrans_ -= s.len();
}

void Scoreboard::on_transmit(uint64_t begin, uint64_t end, Instant now, uint32_t tsval) {
  if (end <= begin) return;
  if (begin < high_) {
    // A retransmission: RFC 6675 §4 counts it in pipe until it is SACKed, acknowledged, or
    // found lost itself.
    const uint64_t stop = std::min(end, high_);
    const size_t first = split_at(std::max(begin, una_));
    const size_t last = split_at(stop);
    for (size_t i = first; i < last; ++i) {
      SentSegment& s = segs_[i];
      s.sent = now;
      s.tsval = tsval;
      s.ever_retransmitted = true;
      set_retrans(s, true);
    }
    unordered_end_ = std::max(unordered_end_, stop);
    begin = stop;
  }
  if (end > begin) {
    // New data is in send-time order unless the caller's clock went back.
    if (now < last_new_sent_) unordered_end_ = end;
    last_new_sent_ = now;
    segs_.push_back(SentSegment{.begin = begin, .end = end, .sent = now, .tsval = tsval});
    high_ = end;
  }
}

Scoreboard::AckResult Scoreboard::on_ack(uint64_t ack, std::span<const SackRange> blocks,
                                         Instant now, Duration min_rtt, uint32_t tsecr) {
  AckResult r;
  const uint64_t old_fack = std::max(fack_, una_);
  // A delivered segment: RFC 8985 §6.2 steps 2 and 3.
  auto delivered = [&](const SentSegment& s) {
    if (s.end <= old_fack && !s.ever_retransmitted) r.reordering = true;
    if (s.ever_retransmitted) {
      // Step 2: "If Segment.retransmitted is TRUE and ... the TSecr of the ACK is before
      // the segment's transmission time, or the RTT would be below RACK.min_RTT", the ACK
      // may be for the original transmission: skip it.
      if (tsecr != 0 && s.tsval != 0 && static_cast<int32_t>(tsecr - s.tsval) < 0) return;
      if (now - s.sent < min_rtt) return;
    }
    if (!r.newest_sent || s.sent > *r.newest_sent ||
        (s.sent == *r.newest_sent && s.end > r.newest_end)) {
      r.newest_sent = s.sent;
      r.newest_end = s.end;
      r.newest_rtt = now - s.sent;
    }
  };

  // The cumulative ACK.
  if (ack > una_) {
    ack = std::min(ack, high_);
    while (!segs_.empty() && segs_.front().begin < ack) {
      SentSegment& s = segs_.front();
      if (s.ever_retransmitted) r.retransmitted_tsval_acked = s.tsval;
      if (s.end <= ack) {
        if (!s.sacked) {
          r.acked += s.len();
          delivered(s);
        }
        drop(s);
        segs_.pop_front();
      } else {
        // Part of a segment (the peer acknowledged less than a whole one).
        const uint64_t cut = ack - s.begin;
        if (s.sacked) {
          sacked_ -= cut;
        } else {
          r.acked += cut;
          if (s.lost) lost_ -= cut;
          if (s.retrans_in_flight) retrans_ -= cut;
        }
        s.begin = ack;
        break;
      }
    }
    una_ = std::max(una_, ack);
    if (segs_.empty()) high_ = std::max(high_, una_);
  }

  // RFC 2883 §4: the first block is a D-SACK if it lies below the cumulative ACK or
  // within the second block.
  size_t first_block = 0;
  if (!blocks.empty()) {
    const SackRange& b0 = blocks[0];
    const bool below = b0.end <= ack;
    const bool inside = blocks.size() > 1 && b0.begin >= blocks[1].begin && b0.end <= blocks[1].end;
    if (b0.begin < b0.end && (below || inside)) {
      r.dsack = b0;
      first_block = 1;
    }
  }
  for (size_t b = first_block; b < blocks.size(); ++b) {
    const uint64_t begin = std::max(blocks[b].begin, una_);
    const uint64_t end = std::min(blocks[b].end, high_);
    if (begin >= end) continue;  // RFC 2018 §5: blocks outside what is in flight mean nothing
    const size_t first = split_at(begin);
    const size_t last = split_at(end);
    for (size_t i = first; i < last; ++i) {
      SentSegment& s = segs_[i];
      if (s.sacked) continue;
      r.sacked += s.len();
      delivered(s);
      set_sacked(s);
    }
    fack_ = std::max(fack_, end);
  }
  fack_ = std::max(fack_, una_);
  return r;
}

uint64_t Scoreboard::mark_lost_dupthresh(uint32_t smss) {
  // RFC 6675 §4 IsLost(SeqNum): "The routine returns true when either DupThresh
  // discontiguous SACKed sequences have arrived above 'SeqNum' or more than
  // (DupThresh - 1) * SMSS bytes with sequence numbers greater than 'SeqNum' have been
  // SACKed."
  uint64_t newly = 0;
  if (sacked_ == 0) return 0;
  uint64_t sacked_above = 0;
  uint32_t sacked_segments_above = 0;
  for (size_t i = segs_.size(); i-- > 0;) {
    SentSegment& s = segs_[i];
    if (s.sacked) {
      sacked_above += s.len();
      ++sacked_segments_above;
      continue;
    }
    if (sacked_segments_above >= kDupThresh || sacked_above > uint64_t{kDupThresh - 1} * smss) {
      if (!s.lost) {
        set_lost(s);
        newly += s.len();
      }
    }
  }
  return newly;
}

Scoreboard::RackResult Scoreboard::rack_detect_loss(Instant now, Instant rack_xmit,
                                                    uint64_t rack_end, Duration rack_rtt,
                                                    Duration reo_wnd) {
  RackResult r;
  for (SentSegment& s : segs_) {
    // RACK_sent_after(RACK.xmit_ts, RACK.end_seq, Segment.xmit_ts, Segment.end_seq).
    const bool sent_after = rack_xmit > s.sent || (rack_xmit == s.sent && rack_end > s.end);
    // From unordered_end_ on, records are in (xmit_ts, end_seq) order: the first one not
    // sent before RACK's segment ends the walk, as Linux's time-sorted queue does (RFC 8985
    // §6.2 step 5 only considers segments sent before it).
    if (!sent_after && s.begin >= unordered_end_) break;
    if (s.sacked) continue;
    // Already marked and waiting for its retransmission.
    if (s.lost && !s.retrans_in_flight) continue;
    if (!sent_after) continue;
    const Instant deadline = s.sent + rack_rtt + reo_wnd;
    if (deadline <= now) {
      // Lost (again, if this was a retransmission): the retransmission no longer counts in
      // pipe, and the segment is a candidate for NextSeg() once more.
      set_retrans(s, false);
      if (!s.lost) {
        set_lost(s);
      }
      r.lost += s.len();
      ++r.segments;
    } else if (!r.timeout || deadline > *r.timeout) {
      r.timeout = deadline;  // RFC 8985 §6.2 step 5: timeout = max(remaining, timeout)
    }
  }
  return r;
}

uint64_t Scoreboard::mark_first_lost() {
  for (SentSegment& s : segs_) {
    if (s.sacked) continue;
    if (s.lost) return 0;
    set_lost(s);
    return s.len();
  }
  return 0;
}

void Scoreboard::mark_all_lost() {
  for (SentSegment& s : segs_) {
    set_retrans(s, false);
    set_lost(s);
  }
}

void Scoreboard::forget_sacks() {
  for (SentSegment& s : segs_) {
    if (!s.sacked) continue;
    s.sacked = false;
    sacked_ -= s.len();
  }
  fack_ = una_;
}

void Scoreboard::clear_lost() {
  for (SentSegment& s : segs_) {
    if (!s.lost) continue;
    s.lost = false;
    lost_ -= s.len();
  }
}

const SentSegment* Scoreboard::next_lost() const {
  if (lost_ == 0) return nullptr;  // the common case, without a walk
  for (const SentSegment& s : segs_) {
    if (s.lost && !s.retrans_in_flight) return &s;
  }
  return nullptr;
}

size_t Scoreboard::holes() const {
  if (sacked_ == 0) return 0;
  size_t n = 0;
  bool in_hole = false;
  for (const SentSegment& s : segs_) {
    if (s.begin >= fack_) break;
    if (!s.sacked && !in_hole) ++n;
    in_hole = !s.sacked;
  }
  return n;
}

size_t Scoreboard::lost_segments() const {
  if (lost_ == 0) return 0;
  size_t n = 0;
  for (const SentSegment& s : segs_) {
    if (s.lost) ++n;
  }
  return n;
}

bool Scoreboard::consistent() const {
  uint64_t sacked = 0, lost = 0, retrans = 0;
  uint64_t at = una_;
  for (const SentSegment& s : segs_) {
    if (s.begin != at || s.end <= s.begin) return false;
    if (s.sacked && (s.lost || s.retrans_in_flight)) return false;
    if (s.sacked) sacked += s.len();
    if (s.lost) lost += s.len();
    if (s.retrans_in_flight) retrans += s.len();
    at = s.end;
  }
  if (!segs_.empty() && at != high_) return false;
  return sacked == sacked_ && lost == lost_ && retrans == retrans_;
}

}  // namespace synack::tcp
