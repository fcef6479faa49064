#include "synack/stack/syn_cookie.hpp"

#include <algorithm>
#include <cstdlib>

#include "synack/tcp/siphash.hpp"

namespace synack::stack {

static_assert(SynCookies::kKeySize == tcp::kSipKeySize);

namespace {

constexpr size_t kHashInputBytes = 16;
constexpr uint32_t kCounterBits = 32 - SynCookies::kHashBits;
constexpr uint32_t kCounterMask = (uint32_t{1} << kCounterBits) - 1;

uint32_t cookie_hash(const SynCookies::Key& key, const tcp::FourTuple& tuple, uint32_t count) {
  std::array<std::byte, kHashInputBytes> in{};
  wire::store_be32(&in[0], tuple.remote.addr.value());
  wire::store_be32(&in[4], tuple.local.addr.value());
  wire::store_be16(&in[8], tuple.remote.port);
  wire::store_be16(&in[10], tuple.local.port);
  wire::store_be32(&in[12], count);
  return tcp::siphash24_low32(key, in);
}

// Linux TS_OPT_* (net/ipv4/syncookies.c).
constexpr uint32_t kTsOptWscaleMask = 0xf;
constexpr uint32_t kTsOptSack = uint32_t{1} << 4;
constexpr uint32_t kTsOptEcn = uint32_t{1} << 5;

}  // namespace

std::string_view to_string(SynCookieFailure f) {
  switch (f) {
    case SynCookieFailure::kCounterExpired:
      return "syncookie-counter-expired";
    case SynCookieFailure::kCounterInFuture:
      return "syncookie-counter-in-future";
    case SynCookieFailure::kBadMssIndex:
      return "syncookie-bad-mss-index";
    case SynCookieFailure::kBadHash:
      return "syncookie-bad-hash";
  }
  return "syncookie-unknown-failure";
}

SynCookies::SynCookies(const Key& h1_key, const Key& h2_key) : h1_key_(h1_key), h2_key_(h2_key) {}

SynCookies::~SynCookies() {
  tcp::wipe(h1_key_);
  tcp::wipe(h2_key_);
}

SynCookies SynCookies::with_random_keys() {
  // As in IsnGenerator: without an entropy source cookies would be forgeable, so
  // random_sip_key() aborts.
  Key k1 = tcp::random_sip_key();
  Key k2 = tcp::random_sip_key();
  SynCookies cookies(k1, k2);
  tcp::wipe(k1);
  tcp::wipe(k2);
  return cookies;
}

uint32_t SynCookies::h1(const tcp::FourTuple& tuple) const {
  return cookie_hash(h1_key_, tuple, 0);
}

uint32_t SynCookies::h2(const tcp::FourTuple& tuple, uint32_t count) const {
  return cookie_hash(h2_key_, tuple, count);
}

uint32_t SynCookies::counter(Instant now) {
  const int64_t us = now.as_micros();
  const int64_t period = kCounterPeriod.as_micros();
  int64_t ticks = us / period;
  if (us % period < 0) --ticks;  // floor, not truncation toward zero
  return static_cast<uint32_t>(ticks);
}

uint8_t SynCookies::mss_index(uint16_t client_mss) {
  // Linux __cookie_v4_init_sequence: walk down from the largest entry, stopping at index 0.
  uint8_t index = static_cast<uint8_t>(kMssTable.size() - 1);
  while (index > 0 && client_mss < kMssTable[index])
    --index;
  return index;
}

uint32_t SynCookies::encode(const tcp::FourTuple& tuple, wire::SeqNum client_isn, uint32_t count,
                            uint32_t data) const {
  // Linux secure_tcp_syn_cookie; every sum is modulo 2^32.
  return h1(tuple) + client_isn.value() + (count << kHashBits) +
         ((h2(tuple, count) + data) & kHashMask);
}

expected<uint8_t, SynCookieFailure> SynCookies::decode(const tcp::FourTuple& tuple,
                                                       wire::SeqNum client_isn, uint32_t cookie,
                                                       uint32_t count_now) const {
  // Linux check_tcp_syn_cookie. Without H1 and the client ISN the cookie is
  // (count << 24) + low, low < 2^24, so the top bits are count mod 256 with no carry.
  const uint32_t stripped = cookie - h1(tuple) - client_isn.value();
  const uint32_t age = (count_now - (stripped >> kHashBits)) & kCounterMask;
  if (age >= kMaxAge) {
    // Linux refuses both alike; an age in the upper half of the 8-bit space is the cookie's
    // counter being ahead of ours (or so old it wrapped, 128+ ticks).
    return unexpected(age > kCounterMask / 2 ? SynCookieFailure::kCounterInFuture
                                             : SynCookieFailure::kCounterExpired);
  }
  // The full 32-bit count the cookie was made with: H2 covers all of it, not just 8 bits.
  const uint32_t count = count_now - age;
  const uint32_t data = (stripped - h2(tuple, count)) & kHashMask;
  if (data < kMssTable.size()) return static_cast<uint8_t>(data);
  if (data < kDataSpace) return unexpected(SynCookieFailure::kBadMssIndex);
  return unexpected(SynCookieFailure::kBadHash);
}

SynCookie SynCookies::make(const tcp::FourTuple& tuple, wire::SeqNum client_isn,
                           uint16_t client_mss, Instant now) const {
  const uint8_t index = mss_index(client_mss);
  return SynCookie{wire::SeqNum(encode(tuple, client_isn, counter(now), index)), kMssTable[index]};
}

expected<CheckedSynCookie, SynCookieFailure> SynCookies::check(const tcp::FourTuple& tuple,
                                                               wire::SeqNum seg_seq,
                                                               wire::SeqNum seg_ack,
                                                               Instant now) const {
  // RFC 4987 §3.6 / Linux cookie_v4_check: the ACK acknowledges our SYN (cookie + 1) and
  // carries the sequence number after the client's SYN (client ISN + 1).
  const wire::SeqNum iss = seg_ack - wire::SeqLen(1);
  const wire::SeqNum irs = seg_seq - wire::SeqLen(1);
  const auto index = decode(tuple, irs, iss.value(), counter(now));
  if (!index) return unexpected(index.error());
  return CheckedSynCookie{iss, irs, kMssTable[*index]};
}

uint32_t syn_cookie_option_bits(const SynCookieOptions& options) {
  uint32_t bits = options.window_scale ? std::min<uint32_t>(*options.window_scale, kMaxWindowScale)
                                       : uint32_t{kSynCookieNoWindowScale};
  if (options.sack_permitted) bits |= kTsOptSack;
  if (options.ecn) bits |= kTsOptEcn;
  return bits;
}

uint32_t syn_cookie_tsval(uint32_t ts_now, const SynCookieOptions& options) {
  uint32_t ts = (ts_now & ~kSynCookieTsMask) | syn_cookie_option_bits(options);
  // Linux cookie_init_timestamp: never ahead of the clock later TSvals come from, or the
  // peer's PAWS (RFC 7323 §5) would see our timestamps step backwards.
  if ((ts & kSynCookieTsMask) > (ts_now & kSynCookieTsMask)) ts -= kSynCookieTsMask + 1;
  return ts;
}

SynCookieOptions syn_cookie_options(std::optional<uint32_t> echoed_tsecr) {
  if (!echoed_tsecr) return SynCookieOptions{};
  const uint32_t bits = *echoed_tsecr;
  SynCookieOptions options;
  if ((bits & kTsOptWscaleMask) != kSynCookieNoWindowScale)
    options.window_scale = static_cast<uint8_t>(bits & kTsOptWscaleMask);
  options.sack_permitted = (bits & kTsOptSack) != 0;
  options.ecn = (bits & kTsOptEcn) != 0;
  return options;
}

}  // namespace synack::stack
