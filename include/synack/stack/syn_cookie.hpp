// SYN cookies (RFC 4987 §3.6), encoded as Linux encodes them (net/ipv4/syncookies.c).
//
// When a listener's SYN queue is full it can still answer a SYN without keeping state: the
// connection's parameters go into our ISN, and the final ACK of the handshake (which
// acknowledges ISN + 1) brings them back. The cookie is
//
//   ISS = H1(tuple) + client ISN + (count << 24) + ((H2(tuple, count) + mss_index) mod 2^24)
//
// where count is a coarse clock (one tick per kCounterPeriod) and H1, H2 are SipHash-2-4
// under two independent 128-bit secrets (Linux: cookie_hash() with syncookie_secret[0] and
// [1]). The top 8 bits carry count mod 256 once H1 and the client ISN are taken away; the
// low 24 bits carry the MSS-table index hidden under H2, which only the holder of the
// secret can strip.
//
// On the final ACK (cookie = SEG.ACK - 1, client ISN = SEG.SEQ - 1) the counter is checked
// first (it must be less than kMaxAge ticks old, as Linux's MAX_SYNCOOKIE_AGE), then H2 is
// stripped and what is left must be a table index. A blind forger succeeds with probability
// table size / 2^24 = 2^-22 per guess (RFC 4987 §3.6 discusses the trade-off).
//
// Like Linux's encoding this is additive, not a MAC: an ACK whose SEG.SEQ or SEG.ACK is off
// by a small k from a valid one decodes to the index k away, when that index exists. It
// tells an attacker nothing (it needs a valid cookie to start from, which needs the SYN-ACK),
// but it means "off by one" is not guaranteed to fail.
//
// When the SYN carried timestamps (RFC 7323), the options a cookie cannot hold in the ISN
// (window scale, SACK-permitted, ECN) go into the low 6 bits of our TSval and come back in
// the final ACK's TSecr (Linux cookie_init_timestamp / cookie_timestamp_decode). Without
// timestamps a cookie connection has no window scaling, no SACK and no ECN.
//
// No clock is read here: the counter comes from the Instant the caller passes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "synack/expected.hpp"
#include "synack/tcp/four_tuple.hpp"
#include "synack/time.hpp"
#include "synack/wire/seq.hpp"

namespace synack::stack {

// Why a final ACK's cookie was refused, in the order the checks run. Every value counts in
// Linux's TcpExtSyncookiesFailed; the per-value names split that counter for synack's own
// statistics. Since the counter is checked first, a forged or misrouted cookie usually fails
// as counter-expired or counter-in-future: the name says which check failed, not why.
// Values start at 1, as wire::ParseError's do.
enum class SynCookieFailure : uint8_t {
  kCounterExpired = 1,  // the cookie's counter is kMaxAge or more ticks old
  kCounterInFuture,     // the cookie's counter is ahead of ours (mod 256)
  kBadMssIndex,         // H2 matches to within the data field, but no table entry has that index
  kBadHash,             // what is left after stripping H2 is not a data value at all
};

inline constexpr size_t kSynCookieFailureCount = static_cast<size_t>(SynCookieFailure::kBadHash);

// 0 .. kSynCookieFailureCount - 1, for tables of counters indexed by failure.
constexpr size_t index_of(SynCookieFailure f) {
  return static_cast<size_t>(f) - 1;
}

// "syncookie-counter-expired", "syncookie-counter-in-future", "syncookie-bad-mss-index",
// "syncookie-bad-hash": stable, they name counters.
std::string_view to_string(SynCookieFailure f);

// The nstat names (Linux's MIB) the stack counts cookies under: one per SYN-ACK sent with a
// cookie, one per final ACK whose cookie checked out, one per final ACK whose cookie did not.
inline constexpr std::string_view kSyncookiesSentCounter = "TcpExtSyncookiesSent";
inline constexpr std::string_view kSyncookiesRecvCounter = "TcpExtSyncookiesRecv";
inline constexpr std::string_view kSyncookiesFailedCounter = "TcpExtSyncookiesFailed";

// A cookie ready for the SYN-ACK.
struct SynCookie {
  wire::SeqNum iss;  // our ISN: the SYN-ACK's SEG.SEQ
  uint16_t mss;      // the table MSS the cookie carries: what the connection will send with

  bool operator==(const SynCookie&) const = default;
};

// What a valid final ACK gives back: enough to build the connection in SYN-RECEIVED's place.
struct CheckedSynCookie {
  wire::SeqNum iss;  // our ISN (SEG.ACK - 1)
  wire::SeqNum irs;  // the client's ISN (SEG.SEQ - 1)
  uint16_t mss;      // the client's MSS, rounded down to the table

  bool operator==(const CheckedSynCookie&) const = default;
};

class SynCookies {
 public:
  // SipHash-2-4's key size; syn_cookie.cpp checks it against libsodium's crypto_shorthash.
  static constexpr size_t kKeySize = 16;
  using Key = std::array<uint8_t, kKeySize>;

  // One counter tick. Linux: TCP_SYNCOOKIE_PERIOD = 60 s since 3.12 (jiffies / (60 * HZ));
  // before that tv_sec >> 6, 64 s.
  static constexpr Duration kCounterPeriod = Duration::seconds(60);
  // A cookie is accepted while (now's counter - its counter) mod 256 < kMaxAge (Linux
  // MAX_SYNCOOKIE_AGE): ages 0 and 1, so a cookie lives at least one period and less than
  // two (120 s), depending on where in its tick it was made.
  static constexpr uint32_t kMaxAge = 2;

  // Bit layout of a cookie once H1 and the client ISN are taken away (Linux COOKIEBITS).
  static constexpr uint32_t kHashBits = 24;
  static constexpr uint32_t kHashMask = (uint32_t{1} << kHashBits) - 1;

  // Linux's IPv4 table (msstab), from Alcock and Nelson's 2011 survey of announced MSS
  // values; sorted ascending. 1440 covers PPPoE's 1452.
  static constexpr std::array<uint16_t, 4> kMssTable = {536, 1300, 1440, 1460};
  // Data values the cookie's low bits may carry: indexes 0..7. Values past the table are
  // kBadMssIndex (room for a table the size of Linux's six-entry IPv6 one); anything larger
  // is kBadHash. Acceptance is unaffected: only indexes into kMssTable pass.
  static constexpr uint32_t kDataSpace = 8;

  // Caller-supplied secrets: for tests, and for stacks sharing cookies across restarts or
  // machines. Both must be unguessable and independent.
  SynCookies(const Key& h1_key, const Key& h2_key);
  // Two fresh 128-bit keys from libsodium's CSPRNG (randombytes_buf).
  static SynCookies with_random_keys();

  SynCookies(const SynCookies&) = default;
  SynCookies& operator=(const SynCookies&) = default;
  // The keys are secrets: wiped when this copy of them dies.
  ~SynCookies();

  // The cookie for a SYN arriving on `tuple` (this host's view: local = the listener,
  // remote = the client) with SEG.SEQ `client_isn` and MSS option `client_mss` (536 when the
  // SYN had none, RFC 9293 §3.7.1; clamp it to our own limit first if the stack has one).
  SynCookie make(const tcp::FourTuple& tuple, wire::SeqNum client_isn, uint16_t client_mss,
                 Instant now) const;

  // Checks the final ACK of a handshake answered with a cookie: SEG.SEQ = client ISN + 1,
  // SEG.ACK = cookie + 1. The caller has already seen that ACK is set and RST and SYN are
  // not (Linux: cookie_v4_check), and parses the options from the ACK's TSecr itself.
  expected<CheckedSynCookie, SynCookieFailure> check(const tcp::FourTuple& tuple,
                                                     wire::SeqNum seg_seq, wire::SeqNum seg_ack,
                                                     Instant now) const;

  // ---- Building blocks, public for tests and tools ----

  // count: whole periods since the caller's epoch, modulo 2^32 (floor division, so it keeps
  // rising through instants before the epoch).
  static uint32_t counter(Instant now);

  // Index of the largest table entry <= client_mss; 0 (536) when the client's MSS is below
  // every entry, as Linux rounds it up rather than refusing the SYN.
  static uint8_t mss_index(uint16_t client_mss);

  // The formula above with a given count and data (the MSS index, < 2^24).
  uint32_t encode(const tcp::FourTuple& tuple, wire::SeqNum client_isn, uint32_t count,
                  uint32_t data) const;
  // Linux check_tcp_syn_cookie + the table check: the MSS index a cookie carries, checked
  // against `count_now`.
  expected<uint8_t, SynCookieFailure> decode(const tcp::FourTuple& tuple, wire::SeqNum client_isn,
                                             uint32_t cookie, uint32_t count_now) const;

  // H1 and H2: the low 32 bits of SipHash-2-4 over 16 bytes — remote (client) address, local
  // address, remote port, local port, count, each big-endian (Linux's argument order: saddr,
  // daddr, sport, dport, count) — under key 1 with count 0, and under key 2 with count.
  // SipHash's 64-bit output is read little-endian, as its specification defines it.
  uint32_t h1(const tcp::FourTuple& tuple) const;
  uint32_t h2(const tcp::FourTuple& tuple, uint32_t count) const;

 private:
  Key h1_key_;
  Key h2_key_;
};

// ---- Options in the timestamp (RFC 7323 must be on, in the SYN and in our SYN-ACK) ----

// The SYN's options a cookie connection keeps, carried in the low 6 bits of our TSval:
//
//   | 31 .. 6: timestamp | 5: ECN | 4: SACK-permitted | 3..0: window scale, 0xf = none |
struct SynCookieOptions {
  std::optional<uint8_t> window_scale;  // the client's shift count (our snd.wscale)
  bool sack_permitted = false;          // RFC 2018
  bool ecn = false;                     // RFC 3168 §6.1.1: the SYN was ECN-setup and we agreed

  bool operator==(const SynCookieOptions&) const = default;
};

inline constexpr uint32_t kSynCookieTsBits = 6;
inline constexpr uint32_t kSynCookieTsMask = (uint32_t{1} << kSynCookieTsBits) - 1;
inline constexpr uint8_t kSynCookieNoWindowScale = 0xf;
// RFC 7323 §2.3: a shift count above 14 is used as 14 (and 15 is the "none" marker here).
inline constexpr uint8_t kMaxWindowScale = 14;

// The 6 option bits.
uint32_t syn_cookie_option_bits(const SynCookieOptions& options);

// Our SYN-ACK's TSval: `ts_now` (our timestamp clock) with its low 6 bits replaced by the
// options, moved back one 64-tick step if that put it ahead of ts_now — so the TSvals we
// send later never go backwards (Linux cookie_init_timestamp). ts_now - result < 64, mod 2^32.
uint32_t syn_cookie_tsval(uint32_t ts_now, const SynCookieOptions& options);

// The options from the final ACK's TSecr; nullopt (the ACK carried no timestamps) gives no
// window scaling, no SACK, no ECN (Linux cookie_timestamp_decode). The TSecr is not
// authenticated: whoever can complete the handshake could send any options anyway. Whether
// each option is enabled on this host is the caller's policy.
SynCookieOptions syn_cookie_options(std::optional<uint32_t> echoed_tsecr);

}  // namespace synack::stack
