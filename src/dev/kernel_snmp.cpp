#include "synack/dev/kernel_snmp.hpp"

#include <fstream>
#include <sstream>

namespace synack::dev {

std::map<std::string, long> kernel_snmp(const std::string& group) {
  // Each group is two lines: "Tcp: Name Name ..." then "Tcp: value value ...". The file
  // of the thread, not of the process: a thread may have entered its own namespace.
  std::ifstream in("/proc/thread-self/net/snmp");
  std::map<std::string, long> values;
  std::string names;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(group + ":", 0) != 0) continue;
    if (names.empty()) {
      names = line;
      continue;
    }
    std::istringstream n(names.substr(group.size() + 1));
    std::istringstream v(line.substr(group.size() + 1));
    std::string name;
    long value = 0;
    while (n >> name && v >> value)
      values[name] = value;
    break;
  }
  return values;
}

}  // namespace synack::dev
