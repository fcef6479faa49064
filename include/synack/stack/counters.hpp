// The stack's counters, named as Linux's `nstat` names them wherever Linux has the counter
// (so a person can compare synack with the kernel line by line), plus synack's drop reasons.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "synack/wire/parse_error.hpp"

namespace synack::stack {

// X(name): every counter, in the order nstat prints them.
#define SYNACK_COUNTERS(X)      \
  X(IpInReceives)               \
  X(IpInHdrErrors)              \
  X(IpInAddrErrors)             \
  X(IpInUnknownProtos)          \
  X(IpInDelivers)               \
  X(IpOutRequests)              \
  X(IpReasmReqds)               \
  X(IpReasmFails)               \
  X(Ip6InReceives)              \
  X(IcmpInMsgs)                 \
  X(IcmpInErrors)               \
  X(IcmpInCsumErrors)           \
  X(IcmpInDestUnreachs)         \
  X(IcmpInEchos)                \
  X(IcmpOutMsgs)                \
  X(IcmpOutEchoReps)            \
  X(TcpActiveOpens)             \
  X(TcpPassiveOpens)            \
  X(TcpAttemptFails)            \
  X(TcpEstabResets)             \
  X(TcpCurrEstab)               \
  X(TcpInSegs)                  \
  X(TcpOutSegs)                 \
  X(TcpRetransSegs)             \
  X(TcpInErrs)                  \
  X(TcpOutRsts)                 \
  X(TcpInCsumErrors)            \
  X(TcpExtSyncookiesSent)       \
  X(TcpExtSyncookiesRecv)       \
  X(TcpExtSyncookiesFailed)     \
  X(TcpExtListenOverflows)      \
  X(TcpExtListenDrops)          \
  X(TcpExtTCPReqQFullDrop)      \
  X(TcpExtTCPChallengeACK)      \
  X(TcpExtTCPTimeouts)          \
  X(TcpExtTW)                   \
  X(TcpExtTWRecycled)           \
  X(TcpExtTCPAbortOnData)       \
  X(TcpExtTCPAbortOnTimeout)    \
  X(TcpExtPAWSEstab)            \
  X(TcpExtTCPSackRecovery)      \
  X(TcpExtTCPRenoRecovery)      \
  X(TcpExtTCPFastRetrans)       \
  X(TcpExtTCPLossProbes)        \
  X(TcpExtTCPLossProbeRecovery) \
  X(TcpExtTCPDSACKRecv)         \
  X(TcpExtTCPFullUndo)          \
  X(SynackRackLost)             \
  X(SynackEcnCeRecv)            \
  X(SynackEcnReductions)

struct Counters {
#define SYNACK_DECLARE(name) uint64_t name = 0;
  SYNACK_COUNTERS(SYNACK_DECLARE)
#undef SYNACK_DECLARE

  // Malformed packets dropped, by reason (wire::ParseError), shown as "SynackDrop_<reason>".
  std::array<uint64_t, wire::kParseErrorCount> parse_drops{};

  // Calls f(name, value) for every counter, nstat's order, then the drop reasons.
  template <class F>
  void for_each(F&& f) const {
#define SYNACK_VISIT(name) f(std::string_view(#name), name);
    SYNACK_COUNTERS(SYNACK_VISIT)
#undef SYNACK_VISIT
    for (size_t i = 0; i < parse_drops.size(); ++i) {
      const std::string name =
          "SynackDrop_" + std::string(wire::to_string(static_cast<wire::ParseError>(i + 1)));
      f(std::string_view(name), parse_drops[i]);
    }
  }

  void count_drop(wire::ParseError e) {
    ++parse_drops[wire::index_of(e)];
  }

  // Adds another stack's counters (the simulator sums both hosts).
  Counters& operator+=(const Counters& o) {
#define SYNACK_ADD(name) name += o.name;
    SYNACK_COUNTERS(SYNACK_ADD)
#undef SYNACK_ADD
    for (size_t i = 0; i < parse_drops.size(); ++i)
      parse_drops[i] += o.parse_drops[i];
    return *this;
  }
};

}  // namespace synack::stack
