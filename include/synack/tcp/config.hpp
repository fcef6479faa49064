// Per-connection settings, with defaults an experienced user of TCP stacks expects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "synack/tcp/congestion.hpp"
#include "synack/tcp/rtt_estimator.hpp"
#include "synack/time.hpp"

namespace synack::tcp {

struct KeepaliveConfig {
  bool enabled = false;                       // RFC 1122 §4.2.3.6: off by default
  Duration idle = Duration::seconds(7200);    // MUST default to no less than two hours
  Duration interval = Duration::seconds(75);  // between unanswered probes (Linux)
  uint8_t probes = 9;                         // unanswered probes before ETIMEDOUT
};

// How much fast recovery sends per ACK: RFC 6937 proportional rate reduction with the
// slow-start reduction bound (PRR-SSRB, Linux's behaviour), with the conservative reduction
// bound (PRR-CRB), or RFC 6675 §5 alone (send whenever pipe is below the reduced cwnd).
enum class RecoveryRate : uint8_t { kPrrSsrb, kPrrCrb, kRfc6675 };

struct Config {
  // The MSS we advertise: the largest segment payload we accept (MTU - 40 for IPv4).
  uint16_t mss = 1460;
  size_t send_buffer = 256 * 1024;
  size_t receive_buffer = 256 * 1024;

  bool window_scaling = true;  // RFC 7323 §2
  bool timestamps = true;      // RFC 7323 §3–5
  bool sack = true;            // RFC 2018; the sender recovers with RFC 6675 and RACK-TLP

  // Congestion control (RFC 5681, RFC 9438 CUBIC by default) and pacing.
  CongestionConfig congestion;
  // Loss detection beyond DupThresh (RFC 6675) when SACK is in use: RACK's time-based
  // detection with a reordering window (RFC 8985 §6) and tail loss probes (RFC 8985 §7).
  bool rack = true;
  bool tlp = true;
  // How much fast recovery sends per ACK, with SACK and without (see RecoveryRate).
  RecoveryRate recovery_rate = RecoveryRate::kPrrSsrb;
  // RFC 3168 Explicit Congestion Notification: off by default (as Linux's tcp_ecn for
  // active opens). On, our SYN asks for it and our SYN-ACK accepts it.
  bool ecn = false;

  bool nodelay = false;                         // Nagle (RFC 1122 §4.2.3.4) unless set
  Duration delayed_ack = Duration::millis(40);  // RFC 1122 §4.2.3.2: less than 0.5 s
  RttConfig rtt;                                // RFC 6298

  uint8_t syn_retries = 6;       // SYN retransmissions before ETIMEDOUT (Linux tcp_syn_retries)
  uint8_t synack_retries = 5;    // SYN-ACK retransmissions (Linux tcp_synack_retries)
  uint8_t max_retransmits = 15;  // RFC 1122 §4.2.3.5 R2 for data (Linux tcp_retries2)
  // RFC 9293 §3.10.8 USER TIMEOUT: unacknowledged data older than this aborts with
  // ETIMEDOUT. Unset: only the retransmission limits apply.
  std::optional<Duration> user_timeout;

  KeepaliveConfig keepalive;
  Duration msl = Duration::seconds(30);  // TIME_WAIT lasts 2 * MSL (RFC 9293 §3.4.2)

  // RFC 5961 §7: challenge ACKs are rate-limited (Linux: tcp_challenge_ack_limit).
  uint32_t challenge_acks_per_second = 1000;
};

}  // namespace synack::tcp
