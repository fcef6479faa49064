// api::ControlServer — the control socket of a running synack process, through which
// `synack ss` lists its connections and `synack nstat` prints its counters.
//
// A process that runs a Host starts one:
//   auto control = api::ControlServer::start(host, "serve");  // in the loop's thread
// It listens on a unix stream socket <control_dir()>/<pid>.sock, watched by the host's
// EventLoop (EventLoop::add_fd), and removes the file when destroyed. Unix sockets with a
// path are not tied to a network namespace, so `synack ss` outside a namespace sees a
// synack process inside one.
//
// The protocol is text: the client sends one request line, the server answers and closes.
//   "ss\n"     -> "process <name> <pid>\n", then one line per listener and connection of
//                 23 fields separated by single spaces ("-": does not apply):
//                 state recv_q send_q local peer rtt_us rto_us cwnd retrans snd_wnd rcv_wnd
//                 mss ssthresh rttvar_us pacing_Bps in_flight sack_holes lost recovery
//                 fast_recoveries rto_recoveries tlp_probes options
//                 (options: s SACK, t timestamps, w window scaling, e ECN, "-" each if not)
//   "nstat\n"  -> "process <name> <pid>\n", then "<Name> <value>\n" for every counter
// Anything else gets "error unknown request\n". A request must arrive within 1 s; the
// answer is written before the loop goes on (a control request is rare and small).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "synack/api/socket.hpp"
#include "synack/expected.hpp"
#include "synack/time.hpp"

namespace synack::api {

// Where control sockets live: $SYNACK_RUNTIME_DIR if set, else $XDG_RUNTIME_DIR/synack,
// else /run/synack for root, else /tmp/synack-<uid>.
std::string control_dir();

class ControlServer {
 public:
  // Creates the directory (mode 0700) if needed and starts listening. Call from the thread
  // that runs host's loop (with BlockingHost: inside with_host()).
  static expected<std::unique_ptr<ControlServer>, std::error_code> start(Host& host,
                                                                         std::string name);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }
  // The answer to one request line (without its newline); what a client receives.
  std::string answer(std::string_view request) const;

 private:
  ControlServer(Host& host, std::string name) : host_(host), name_(std::move(name)) {}
  void on_ready();

  Host& host_;
  std::string name_;
  std::string path_;
  int fd_ = -1;
};

// One control socket's answer to `request` (without the newline), or the error (a socket
// whose process is gone gives ECONNREFUSED).
expected<std::string, std::error_code> control_query(const std::string& path,
                                                     std::string_view request,
                                                     Duration timeout = Duration::seconds(2));

// The control sockets in control_dir(), oldest process first (by pid).
std::vector<std::string> control_sockets();

}  // namespace synack::api
