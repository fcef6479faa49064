// HTTP/1.1 for `synack serve --app http` and `synack get`, on Node's http_parser.
//
// The pieces, each usable on its own (and unit-tested in tests/cli/http_test.cpp):
//   percent_decode / decode_request_path / resolve_under_root  a request target to a file
//       under the served root, with no way out: "..", NUL and backslashes are refused
//       lexically (400), and the realpath() of the result must lie inside the root (a
//       symlink that leads out gives 403);
//   RequestParser   one request at a time off a connection's bytes (pipelining: it stops
//       after each message), with bounded request line and headers (414, 431);
//   ResponseParser  a response: Content-Length, chunked, or read-until-close bodies,
//       streamed to a callback; truncation and malformed input are errors;
//   parse_http_url  http://A.B.C.D[:port]/path (IPv4 literals only: synack has no resolver);
//   HttpFileServer  the file server on api::Host's non-blocking sockets (single thread);
//   http_get        one GET over api::BlockingHost.
#pragma once

#include <http_parser.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "synack/api/blocking.hpp"
#include "synack/api/socket.hpp"
#include "synack/expected.hpp"
#include "synack/tcp/four_tuple.hpp"
#include "synack/time.hpp"
#include "synack/wire/ipv4_address.hpp"

namespace synack::cli::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// The first header named `name` (case-insensitive), if any.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);
bool iequals(std::string_view a, std::string_view b);

// ---- Text helpers --------------------------------------------------------------------------

// %XX decoding; nullopt for a malformed escape ("%", "%4", "%zz"). '+' stays '+' (paths).
std::optional<std::string> percent_decode(std::string_view text);
// Escapes every byte outside RFC 3986's unreserved set and '/' (for links in listings).
std::string percent_encode_path(std::string_view path);
std::string html_escape(std::string_view text);
// Printable ASCII as is, '"' and '\' and everything else as \xHH (for log lines).
std::string log_escape(std::string_view text);
// From the extension (case-insensitive): html, txt, css, js, json, png, jpg, svg, pcap;
// application/octet-stream otherwise.
std::string_view content_type_for(std::string_view path);
// "Not Found" for 404 and so on; "Unknown" for codes it does not know.
std::string_view reason_phrase(int status);
// RFC 9110 §5.6.7 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(std::time_t t);
// "1.5 MiB", "512 B".
std::string human_bytes(double bytes);

// ---- Request targets to files ---------------------------------------------------------------

// The path of a request target ("/a%20b/c?q" -> "/a b/c"; absolute-form
// "http://h/x" -> "/x"), percent-decoded, with empty and "." segments dropped (a trailing
// '/' is kept). nullopt (400) for a target http_parser cannot parse, a bad escape, or a
// decoded path that does not start with '/', holds a NUL or a backslash, or has a ".."
// segment.
std::optional<std::string> decode_request_path(std::string_view target);

// The file a decoded path names under `root` (which must be a realpath() already: absolute,
// no symlinks): root + path, realpath()ed, and checked to lie inside root. The status is 200
// with the resolved path, 404 when it does not exist, 403 when it resolves outside the root
// (a symlink) or cannot be searched, 400 when the path is not a decoded request path.
struct Resolved {
  int status = 404;
  std::string path;
};
Resolved resolve_under_root(const std::string& root, std::string_view decoded_path);

// ---- Requests -------------------------------------------------------------------------------

struct HttpRequest {
  std::string method;  // "GET"
  std::string target;  // as sent: "/index.html?x=1"
  unsigned version_major = 1;
  unsigned version_minor = 1;
  Headers headers;
  bool keep_alive = true;   // http_should_keep_alive: the version and Connection header
  bool upgrade = false;     // Upgrade or CONNECT: the connection must not carry on as HTTP
  uint64_t body_bytes = 0;  // read and dropped

  // "GET /index.html HTTP/1.1"
  std::string request_line() const;
};

struct RequestLimits {
  size_t max_target = 8 * 1024;         // longer: 414 URI Too Long
  size_t max_header_bytes = 16 * 1024;  // names and values together; more: 431
  size_t max_headers = 100;             // more: 431
};

// Requests off one connection's bytes, one at a time.
//
//   RequestParser p;
//   size_t used = 0;
//   switch (p.feed(bytes, used)) {  // `used` bytes were parsed; keep the rest for later
//     case kComplete: serve(p.request()); p.next(); feed the rest...
//     case kNeedMore: read more
//     case kError:    answer p.error_status() (400, 414, 431) and close
//   }
class RequestParser {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestParser(RequestLimits limits = {});
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses `data` up to the end of one request at most; `used` says how far it got.
  State feed(std::string_view data, size_t& used);
  // The peer's end of stream: kError (400) if a request was cut short, kNeedMore otherwise.
  State feed_eof();
  // After kComplete: ready for the connection's next request.
  void next();

  const HttpRequest& request() const { return request_; }
  // Some of a request has arrived (a request line or headers under way).
  bool in_message() const { return in_message_; }
  int error_status() const { return error_status_; }
  const std::string& error_detail() const { return error_detail_; }

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, size_t n);
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t n);
  static int on_message_complete(http_parser* p);
  int fail(int status, std::string detail);
  bool add_header_bytes(size_t n);

  RequestLimits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  HttpRequest request_;
  size_t header_bytes_ = 0;
  bool in_value_ = false;
  bool in_message_ = false;
  bool complete_ = false;
  int error_status_ = 0;
  std::string error_detail_;
};

// ---- Responses ------------------------------------------------------------------------------

struct HttpResponseHead {
  int status = 0;
  std::string reason;
  unsigned version_major = 1;
  unsigned version_minor = 1;
  Headers headers;
  std::optional<uint64_t> content_length;  // from the header, when there was one
  bool chunked = false;
  bool keep_alive = false;
};

// A response off a connection's bytes; the body goes to a callback as it arrives.
class ResponseParser {
 public:
  enum class State { kNeedMore, kComplete, kError };
  struct Handlers {
    // The head is complete. False: stop here (no body wanted); feed() returns kComplete.
    std::function<bool(const HttpResponseHead&)> on_head;
    // Body bytes (chunk framing removed). False: stop; feed() returns kError.
    std::function<bool(std::string_view)> on_body;
  };

  // head_request: the response answers a HEAD (a head, never a body, whatever it says).
  explicit ResponseParser(Handlers handlers, bool head_request = false,
                          size_t max_header_bytes = 64 * 1024);
  ResponseParser(const ResponseParser&) = delete;
  ResponseParser& operator=(const ResponseParser&) = delete;

  State feed(std::string_view data);
  // End of stream: kComplete for a read-until-close body, kError if the response was cut
  // short (truncated() then tells so).
  State feed_eof();

  bool head_complete() const { return head_complete_; }
  bool complete() const { return complete_; }
  bool stopped() const { return stopped_; }  // on_head said no
  bool truncated() const { return truncated_; }
  const HttpResponseHead& head() const { return head_; }
  uint64_t body_bytes() const { return body_bytes_; }
  // Bytes of the input parsed so far: a complete response ends there (what follows is the
  // next one's).
  uint64_t consumed() const { return consumed_; }
  // What went wrong, for a message: "malformed response: invalid HTTP status code",
  // "connection closed after 10 of 100 body bytes", ...
  const std::string& error() const { return error_; }

 private:
  static int on_message_begin(http_parser* p);
  static int on_status(http_parser* p, const char* at, size_t n);
  static int on_header_field(http_parser* p, const char* at, size_t n);
  static int on_header_value(http_parser* p, const char* at, size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t n);
  static int on_message_complete(http_parser* p);
  State after_execute(size_t used, size_t size);
  std::string truncation_message() const;

  Handlers handlers_;
  bool head_request_;
  size_t max_header_bytes_;
  http_parser parser_{};
  http_parser_settings settings_{};
  HttpResponseHead head_;
  size_t header_bytes_ = 0;
  uint64_t body_bytes_ = 0;
  uint64_t consumed_ = 0;
  bool in_value_ = false;
  bool started_ = false;
  bool head_complete_ = false;
  bool complete_ = false;
  bool stopped_ = false;
  bool body_refused_ = false;
  bool truncated_ = false;
  std::string error_;
};

// ---- URLs -----------------------------------------------------------------------------------

struct HttpUrl {
  wire::Ipv4Address host;
  uint16_t port = 80;
  std::string target = "/";  // path and query, as sent in the request line
  std::string authority;     // the Host header: "10.0.0.2" or "10.0.0.2:8080"
  tcp::Endpoint endpoint() const { return {host, port}; }
};

// http://A.B.C.D[:port][/path][?query][#fragment]; the error is a message.
expected<HttpUrl, std::string> parse_http_url(std::string_view url);

// ---- The file server ------------------------------------------------------------------------

struct FileServerConfig {
  std::string root = ".";  // made absolute with realpath() by create()
  RequestLimits limits;
  bool listings = true;  // a directory without index.html: an HTML listing (else 404)
  Duration idle_timeout = Duration::seconds(60);   // no bytes either way: the connection ends
  Duration linger_timeout = Duration::seconds(5);  // after our FIN, for the peer's
};

// GET and HEAD of the files under a root, over HTTP/1.1 on an api::Host (the thread that
// runs the host's loop calls everything). Persistent connections (HTTP/1.1 by default,
// "Connection: close" honoured; HTTP/1.0 only with "Connection: keep-alive") and pipelining
// (requests answered in order, one at a time; further requests wait, unparsed, in a 64 KiB
// buffer, and the socket is not read beyond it); a file streams from disk in 64 KiB reads as
// the socket takes them. Every response has a Content-Length. A directory gives its
// index.html, else an HTML listing (FileServerConfig::listings; 404 without). Statuses:
// 400 malformed request or a target decode_request_path() refuses ("..", NUL, backslash,
// bad escape), 403 a path that resolves outside the root (symlinks; the file opened is
// checked again through /proc/self/fd, so a swap after the realpath() cannot lead out) or
// that is not a regular file or directory, 404 missing, 405 (with Allow) for methods other
// than GET and HEAD, 414 and 431 (RequestLimits), 505 for versions other than 1.x. After a
// 400, 414, 431 or 505 the connection closes. One log line per request:
// `http 10.66.0.1:41234 "GET /index.html HTTP/1.1" 200 1234` (the last field: body bytes
// handed to the stack; "-" for the request line when it could not be parsed).
class HttpFileServer {
 public:
  using LogFn = std::function<void(const std::string& line)>;

  // Fails (with a message) if the root is not a directory.
  static expected<std::unique_ptr<HttpFileServer>, std::string> create(api::Host& host,
                                                                       FileServerConfig config,
                                                                       LogFn log);
  ~HttpFileServer();
  HttpFileServer(const HttpFileServer&) = delete;
  HttpFileServer& operator=(const HttpFileServer&) = delete;

  std::error_code listen(const tcp::Endpoint& local, uint32_t backlog = 128);
  // Drops finished connections (call between loop turns, never from a callback).
  void reap();
  // Ends connections idle for too long (call now and then, e.g. once a second).
  void tick(Instant now);
  size_t connections() const { return conns_.size(); }
  const std::string& root() const { return config_.root; }

 private:
  struct Conn;
  HttpFileServer(api::Host& host, FileServerConfig config, LogFn log);
  void accept_all();
  void drive(Conn& c);
  bool fill(Conn& c);
  bool pump(Conn& c);
  void start_response(Conn& c);
  void start_error(Conn& c, int status, const std::string& line);
  void begin_response(Conn& c, int status, const std::string& content_type, uint64_t length,
                      const std::vector<std::pair<std::string, std::string>>& extra);
  void finish_response(Conn& c);
  void log_request(Conn& c);
  void end(Conn& c, bool abort);
  std::optional<std::string> listing(const std::string& dir, const std::string& url_path);

  api::Host& host_;
  FileServerConfig config_;
  LogFn log_;
  api::Socket listener_;
  std::map<uint64_t, std::unique_ptr<Conn>> conns_;
  uint64_t next_id_ = 0;
};

// ---- The client -----------------------------------------------------------------------------

struct GetOptions {
  std::optional<Duration> connect_timeout;  // nullopt: the stack's SYN retries decide
  std::optional<Duration> idle_timeout;     // no data for this long: ETIMEDOUT
  std::string user_agent = "synack";
};

struct GetHandlers {
  std::function<void(const std::string& request_head)> on_request;  // what is sent
  // As ResponseParser::Handlers (false from on_head: no body wanted; from on_body: abort).
  std::function<bool(const HttpResponseHead&)> on_head;
  std::function<bool(std::string_view)> on_body;
};

struct GetResult {
  HttpResponseHead head;
  uint64_t body_bytes = 0;
  bool complete = false;  // the whole body arrived (false when on_head declined it)
};

// GET url over a new connection ("Connection: close"); a failure is a message naming the
// peer: "10.0.0.2:80: Connection refused", "...: connection closed after 10 of 100 body
// bytes", "...: malformed response: ...". HTTP error statuses are not failures here.
expected<GetResult, std::string> http_get(api::BlockingHost& host, const HttpUrl& url,
                                          const GetOptions& options, const GetHandlers& handlers);

}  // namespace synack::cli::http
