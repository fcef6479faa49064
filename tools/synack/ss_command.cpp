// `synack ss` and `synack nstat`: the connections and counters of every running synack
// process, asked through each one's control socket (api::ControlServer, a unix socket in
// api::control_dir()). `synack ss` prints them as `ss -tan` does, with rtt, rto, cwnd and
// retransmits, and the process each belongs to; `synack nstat` prints each process's
// counters under their nstat names. A socket whose process is gone is removed.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "synack/api/control.hpp"

namespace synack::cli {

namespace {

struct ProcessAnswer {
  std::string name;  // "serve", "connect", ...
  long pid = 0;
  std::vector<std::vector<std::string>> rows;  // the answer's lines, split at spaces
};

std::vector<std::string> split(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  std::string field;
  while (in >> field)
    out.push_back(field);
  return out;
}

long pid_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return std::strtol(path.c_str() + (slash == std::string::npos ? 0 : slash + 1), nullptr, 10);
}

// Every live process's answer to `request`, or only `only_pid`'s. Stale sockets are
// removed; other failures are reported on stderr and skipped.
std::vector<ProcessAnswer> ask_all(std::string_view request, long only_pid, const char* command) {
  std::vector<ProcessAnswer> answers;
  for (const std::string& path : api::control_sockets()) {
    const long pid = pid_of(path);
    if (only_pid != 0 && pid != only_pid) continue;
    auto reply = api::control_query(path, request);
    if (!reply) {
      const bool gone = ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
      if (gone || reply.error() == std::errc::connection_refused) {
        (void)::unlink(path.c_str());  // its process died without removing it
      } else {
        fmt::print(stderr, "synack {}: {}: {}\n", command, path, reply.error().message());
      }
      continue;
    }
    ProcessAnswer answer;
    std::istringstream lines(*reply);
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
      auto fields = split(line);
      if (first) {
        first = false;
        if (fields.size() == 3 && fields[0] == "process") {
          answer.name = fields[1];
          answer.pid = std::strtol(fields[2].c_str(), nullptr, 10);
          continue;
        }
        fmt::print(stderr, "synack {}: {}: unexpected answer \"{}\"\n", command, path, line);
        break;
      }
      if (!fields.empty()) answer.rows.push_back(std::move(fields));
    }
    if (answer.pid != 0) answers.push_back(std::move(answer));
  }
  return answers;
}

std::string wildcard(const std::string& endpoint) {
  return endpoint.starts_with("0.0.0.0:") ? "*" + endpoint.substr(7) : endpoint;
}

std::string millis(const std::string& micros) {
  if (micros == "-") return "";
  return fmt::format("{:.3f}", std::strtod(micros.c_str(), nullptr) / 1000.0);
}

struct SsOptions {
  bool listening = false;
  bool all = false;
  bool info = false;
  long pid = 0;
};

std::string rate_text(const std::string& bytes_per_second) {
  const double bps = std::strtod(bytes_per_second.c_str(), nullptr) * 8;
  if (bps <= 0) return "-";
  if (bps >= 1e9) return fmt::format("{:.2f}Gbps", bps / 1e9);
  if (bps >= 1e6) return fmt::format("{:.1f}Mbps", bps / 1e6);
  return fmt::format("{:.0f}kbps", bps / 1e3);
}

// ss -i's second line: the options, RTT, windows and loss recovery of a connection.
void print_info(const std::vector<std::string>& f) {
  // state recv_q send_q local peer rtt_us rto_us cwnd retrans snd_wnd rcv_wnd mss ssthresh
  // rttvar_us pacing_Bps in_flight sack_holes lost recovery fast_rec rto_rec tlp options
  if (f.size() < 23) return;
  fmt::print(
      "\t options:{} mss:{} rtt:{}/{} rto:{} cwnd:{} ssthresh:{} pacing_rate:{} in_flight:{} "
      "snd_wnd:{} rcv_wnd:{} retrans:{} recovery:{} fast_recoveries:{} rto_recoveries:{} "
      "tlp_probes:{} sack_holes:{} lost:{}\n",
      f[22], f[11], millis(f[5]), millis(f[13]), millis(f[6]), f[7], f[12], rate_text(f[14]), f[15],
      f[9], f[10], f[8], f[18], f[19], f[20], f[21], f[16], f[17]);
}

int run_ss(const SsOptions& options) {
  const auto answers = ask_all("ss", options.pid, "ss");
  fmt::print("{:<11}{:>6} {:>6}  {:<21} {:<21} {:>8} {:>8} {:>8} {:>7}  {}\n", "State", "Recv-Q",
             "Send-Q", "Local Address:Port", "Peer Address:Port", "rtt(ms)", "rto(ms)", "cwnd",
             "retrans", "Process");
  for (const ProcessAnswer& p : answers) {
    for (const auto& f : p.rows) {
      // state recv_q send_q local peer rtt_us rto_us cwnd retrans snd_wnd rcv_wnd mss
      if (f.size() < 9) continue;
      const bool listener = f[0] == "LISTEN";
      if (options.listening && !listener) continue;
      if (!options.listening && !options.all && listener) continue;
      fmt::print("{:<11}{:>6} {:>6}  {:<21} {:<21} {:>8} {:>8} {:>8} {:>7}  synack {} pid={}\n",
                 f[0], f[1], f[2], wildcard(f[3]), f[4], millis(f[5]), millis(f[6]),
                 listener ? "" : f[7], listener ? "" : f[8], p.name, p.pid);
      if (options.info && !listener) print_info(f);
    }
  }
  return 0;
}

struct NstatOptions {
  bool zeros = false;
  long pid = 0;
};

int run_nstat(const NstatOptions& options) {
  const auto answers = ask_all("nstat", options.pid, "nstat");
  for (const ProcessAnswer& p : answers) {
    fmt::print("#synack {} pid={}\n", p.name, p.pid);
    for (const auto& f : p.rows) {
      if (f.size() != 2) continue;
      if (!options.zeros && f[1] == "0") continue;
      fmt::print("{:<32}{:>20}\n", f[0], f[1]);
    }
  }
  if (answers.empty() && options.pid != 0) {
    fmt::print(stderr, "synack nstat: no synack process with pid {} (in {})\n", options.pid,
               api::control_dir());
    return 1;
  }
  return 0;
}

}  // namespace

void register_ss_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<SsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "ss",
      "List the TCP connections of running synack processes, like `ss -tn` (with -a, like\n"
      "`ss -tan`), through their control sockets in $SYNACK_RUNTIME_DIR, $XDG_RUNTIME_DIR/\n"
      "synack or /run/synack.");
  cmd->add_flag("-l,--listening", options->listening, "only listening sockets");
  cmd->add_flag("-a,--all", options->all, "listening sockets too");
  cmd->add_flag("-i,--info", options->info,
                "a second line per connection: options, RTT, windows, pacing, loss recovery");
  cmd->add_option("-p,--pid", options->pid, "only this process");
  cmd->callback([options, &exit_code] { exit_code = run_ss(*options); });
}

void register_nstat_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<NstatOptions>();
  CLI::App* cmd = app.add_subcommand(
      "nstat",
      "Print the counters of running synack processes under nstat's names (absolute values,\n"
      "like `nstat -as`), through their control sockets.");
  cmd->add_flag("-z,--zeros", options->zeros, "counters that are zero too");
  cmd->add_option("-p,--pid", options->pid, "only this process");
  cmd->callback([options, &exit_code] { exit_code = run_nstat(*options); });
}

}  // namespace synack::cli
