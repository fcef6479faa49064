// The Linux kernel's own TCP/IP counters, as /proc/net/snmp shows them for the calling
// thread's network namespace — for setting synack's counters beside the kernel's.
#pragma once

#include <map>
#include <string>

namespace synack::dev {

// One group of /proc/thread-self/net/snmp ("Tcp", "Ip", "Icmp", ...), counter name to value;
// empty if the file or the group cannot be read.
std::map<std::string, long> kernel_snmp(const std::string& group);

}  // namespace synack::dev
