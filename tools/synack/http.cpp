#include "http.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "synack/markup.hpp"

namespace synack::cli::http {

namespace {

constexpr size_t kMaxInput = 64 * 1024;   // unparsed (pipelined) request bytes per connection
constexpr size_t kFileChunk = 64 * 1024;  // one read from disk

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool has_field(const http_parser_url& u, http_parser_url_fields f) {
  return (u.field_set & (1u << f)) != 0;
}

std::string_view field(std::string_view text, const http_parser_url& u, http_parser_url_fields f) {
  return text.substr(u.field_data[f].off, u.field_data[f].len);
}

wire::Bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

bool is_informational(int status) {
  return status >= 100 && status < 200;
}

bool inside_root(const std::string& root, const std::string& real) {
  return root == "/" || real == root ||
         (real.size() > root.size() && real.compare(0, root.size(), root) == 0 &&
          real[root.size()] == '/');
}

// Where an open file descriptor really is (/proc/self/fd): nullopt if /proc cannot say.
std::optional<std::string> fd_path(int fd) {
  char buf[PATH_MAX];
  const std::string link = fmt::format("/proc/self/fd/{}", fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

// Opens a path resolve_under_root() returned, and checks that what was opened still lies
// inside the root: a directory on the way swapped for a symlink between the realpath() and
// the open() cannot lead out. -1 with errno set (EACCES for a file that is outside).
int open_inside(const std::string& root, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
  if (fd < 0) return -1;
  auto real = fd_path(fd);
  if (real && !inside_root(root, *real)) {
    ::close(fd);
    errno = EACCES;
    return -1;
  }
  return fd;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

// ---- Text helpers --------------------------------------------------------------------------

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex_value(text[i + 1]);
    const int lo = hex_value(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string percent_encode_path(std::string_view path) {
  std::string out;
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~' || c == '/';
    if (unreserved) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  append_escaped(out, text, Markup::kHtml);
  return out;
}

std::string log_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '"' && c != '\\') {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", u);
    }
  }
  return out;
}

std::string_view content_type_for(std::string_view path) {
  const size_t slash = path.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return "application/octet-stream";
  const std::string_view ext = name.substr(dot + 1);
  static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"txt", "text/plain; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"svg", "image/svg+xml"},
      {"pcap", "application/vnd.tcpdump.pcap"},
  };
  for (const auto& [e, type] : kTypes) {
    if (iequals(ext, e)) return type;
  }
  return "application/octet-stream";
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string http_date(std::time_t t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT", kDays[tm.tm_wday % 7], tm.tm_mday,
                     kMonths[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

// ---- Request targets to files ---------------------------------------------------------------

std::optional<std::string> decode_request_path(std::string_view target) {
  if (target.empty() || target.size() > std::numeric_limits<uint16_t>::max()) return std::nullopt;
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(target.data(), target.size(), 0, &u) != 0) return std::nullopt;
  std::string_view raw = "/";
  if (has_field(u, UF_PATH)) {
    raw = field(target, u, UF_PATH);
  } else if (!has_field(u, UF_HOST)) {
    return std::nullopt;
  }
  auto decoded = percent_decode(raw);
  if (!decoded || decoded->empty() || decoded->front() != '/') return std::nullopt;
  if (decoded->find('\0') != std::string::npos || decoded->find('\\') != std::string::npos) {
    return std::nullopt;
  }
  std::string out;
  size_t start = 0;
  while (start <= decoded->size()) {
    size_t end = decoded->find('/', start);
    if (end == std::string::npos) end = decoded->size();
    const std::string_view segment = std::string_view(*decoded).substr(start, end - start);
    if (segment == "..") return std::nullopt;
    if (!segment.empty() && segment != ".") {
      out += '/';
      out += segment;
    }
    start = end + 1;
  }
  const std::string_view d = *decoded;
  if (out.empty() || d.ends_with('/') || d.ends_with("/.")) out += '/';
  return out;
}

Resolved resolve_under_root(const std::string& root, std::string_view decoded_path) {
  if (decoded_path.empty() || decoded_path.front() != '/' ||
      decoded_path.find('\0') != std::string_view::npos ||
      decoded_path.find('\\') != std::string_view::npos ||
      decoded_path.find("/../") != std::string_view::npos || decoded_path.ends_with("/..")) {
    return {.status = 400};
  }
  std::string candidate = root == "/" ? std::string() : root;
  candidate += decoded_path;
  char buf[PATH_MAX];
  if (::realpath(candidate.c_str(), buf) == nullptr) {
    return {.status = errno == EACCES ? 403 : 404};
  }
  std::string real(buf);
  if (!inside_root(root, real)) return {.status = 403};
  return {.status = 200, .path = std::move(real)};
}

// ---- Requests -------------------------------------------------------------------------------

std::string HttpRequest::request_line() const {
  return fmt::format("{} {} HTTP/{}.{}", method, target, version_major, version_minor);
}

RequestParser::RequestParser(RequestLimits limits) : limits_(limits) {
  http_parser_init(&parser_, HTTP_REQUEST);
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &RequestParser::on_message_begin;
  settings_.on_url = &RequestParser::on_url;
  settings_.on_header_field = &RequestParser::on_header_field;
  settings_.on_header_value = &RequestParser::on_header_value;
  settings_.on_headers_complete = &RequestParser::on_headers_complete;
  settings_.on_body = &RequestParser::on_body;
  settings_.on_message_complete = &RequestParser::on_message_complete;
}

int RequestParser::fail(int status, std::string detail) {
  error_status_ = status;
  error_detail_ = std::move(detail);
  return 1;
}

bool RequestParser::add_header_bytes(size_t n) {
  header_bytes_ += n;
  return header_bytes_ <= limits_.max_header_bytes;
}

int RequestParser::on_message_begin(http_parser* p) {
  auto* self = static_cast<RequestParser*>(p->data);
  self->request_ = HttpRequest{};
  self->header_bytes_ = 0;
  self->in_value_ = false;
  self->in_message_ = true;
  return 0;
}

int RequestParser::on_url(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<RequestParser*>(p->data);
  if (self->request_.target.size() + n > self->limits_.max_target) {
    return self->fail(414, fmt::format("request target over {} bytes", self->limits_.max_target));
  }
  self->request_.target.append(at, n);
  return 0;
}

int RequestParser::on_header_field(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<RequestParser*>(p->data);
  if (!self->add_header_bytes(n)) {
    return self->fail(431, fmt::format("headers over {} bytes", self->limits_.max_header_bytes));
  }
  Headers& headers = self->request_.headers;
  if (self->in_value_ || headers.empty()) {
    if (headers.size() >= self->limits_.max_headers) {
      return self->fail(431, fmt::format("more than {} headers", self->limits_.max_headers));
    }
    headers.emplace_back();
    self->in_value_ = false;
  }
  headers.back().first.append(at, n);
  return 0;
}

int RequestParser::on_header_value(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<RequestParser*>(p->data);
  if (!self->add_header_bytes(n)) {
    return self->fail(431, fmt::format("headers over {} bytes", self->limits_.max_header_bytes));
  }
  self->in_value_ = true;
  if (self->request_.headers.empty()) self->request_.headers.emplace_back();
  self->request_.headers.back().second.append(at, n);
  return 0;
}

int RequestParser::on_headers_complete(http_parser* p) {
  auto* self = static_cast<RequestParser*>(p->data);
  HttpRequest& r = self->request_;
  r.method = http_method_str(static_cast<http_method>(p->method));
  r.version_major = p->http_major;
  r.version_minor = p->http_minor;
  r.keep_alive = http_should_keep_alive(p) != 0;
  r.upgrade = p->upgrade != 0;
  return 0;
}

int RequestParser::on_body(http_parser* p, const char*, size_t n) {
  static_cast<RequestParser*>(p->data)->request_.body_bytes += n;
  return 0;
}

int RequestParser::on_message_complete(http_parser* p) {
  static_cast<RequestParser*>(p->data)->complete_ = true;
  http_parser_pause(p, 1);  // one request at a time: the rest waits for next()
  return 0;
}

RequestParser::State RequestParser::feed(std::string_view data, size_t& used) {
  used = 0;
  if (error_status_ != 0) return State::kError;
  if (complete_) return State::kComplete;
  if (data.empty()) return State::kNeedMore;  // (a zero length means end of stream to it)
  parser_.data = this;
  used = http_parser_execute(&parser_, &settings_, data.data(), data.size());
  if (complete_) return State::kComplete;
  if (error_status_ != 0) return State::kError;
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err != HPE_OK) {
    error_status_ = err == HPE_HEADER_OVERFLOW ? 431 : 400;
    error_detail_ = http_errno_description(err);
    return State::kError;
  }
  return State::kNeedMore;
}

RequestParser::State RequestParser::feed_eof() {
  if (error_status_ != 0) return State::kError;
  if (complete_) return State::kComplete;
  if (in_message_) {
    error_status_ = 400;
    error_detail_ = "the request was cut short";
    return State::kError;
  }
  return State::kNeedMore;
}

void RequestParser::next() {
  complete_ = false;
  in_message_ = false;
  request_ = HttpRequest{};
  http_parser_pause(&parser_, 0);
}

// ---- Responses ------------------------------------------------------------------------------

ResponseParser::ResponseParser(Handlers handlers, bool head_request, size_t max_header_bytes)
    : handlers_(std::move(handlers)),
      head_request_(head_request),
      max_header_bytes_(max_header_bytes) {
  http_parser_init(&parser_, HTTP_RESPONSE);
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &ResponseParser::on_message_begin;
  settings_.on_status = &ResponseParser::on_status;
  settings_.on_header_field = &ResponseParser::on_header_field;
  settings_.on_header_value = &ResponseParser::on_header_value;
  settings_.on_headers_complete = &ResponseParser::on_headers_complete;
  settings_.on_body = &ResponseParser::on_body;
  settings_.on_message_complete = &ResponseParser::on_message_complete;
}

int ResponseParser::on_message_begin(http_parser* p) {
  auto* self = static_cast<ResponseParser*>(p->data);
  self->head_ = HttpResponseHead{};
  self->header_bytes_ = 0;
  self->in_value_ = false;
  self->started_ = true;
  return 0;
}

int ResponseParser::on_status(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<ResponseParser*>(p->data);
  self->header_bytes_ += n;
  if (self->header_bytes_ > self->max_header_bytes_) {
    self->error_ = fmt::format("response head over {} bytes", self->max_header_bytes_);
    return 1;
  }
  self->head_.reason.append(at, n);
  return 0;
}

int ResponseParser::on_header_field(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<ResponseParser*>(p->data);
  self->header_bytes_ += n;
  if (self->header_bytes_ > self->max_header_bytes_) {
    self->error_ = fmt::format("response head over {} bytes", self->max_header_bytes_);
    return 1;
  }
  Headers& headers = self->head_.headers;
  if (self->in_value_ || headers.empty()) {
    headers.emplace_back();
    self->in_value_ = false;
  }
  headers.back().first.append(at, n);
  return 0;
}

int ResponseParser::on_header_value(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<ResponseParser*>(p->data);
  self->header_bytes_ += n;
  if (self->header_bytes_ > self->max_header_bytes_) {
    self->error_ = fmt::format("response head over {} bytes", self->max_header_bytes_);
    return 1;
  }
  self->in_value_ = true;
  if (self->head_.headers.empty()) self->head_.headers.emplace_back();
  self->head_.headers.back().second.append(at, n);
  return 0;
}

int ResponseParser::on_headers_complete(http_parser* p) {
  auto* self = static_cast<ResponseParser*>(p->data);
  HttpResponseHead& h = self->head_;
  h.status = static_cast<int>(p->status_code);
  h.version_major = p->http_major;
  h.version_minor = p->http_minor;
  h.chunked = (p->flags & F_CHUNKED) != 0;
  if ((p->flags & F_CONTENTLENGTH) != 0) h.content_length = p->content_length;
  h.keep_alive = http_should_keep_alive(p) != 0;
  if (h.status == 101) {
    self->error_ = "malformed response: 101 Switching Protocols to a plain GET";
    return 1;
  }
  if (is_informational(h.status)) return 0;  // 100 Continue and the like: the real one follows
  self->head_complete_ = true;
  if (self->handlers_.on_head && !self->handlers_.on_head(h)) {
    self->stopped_ = true;
    http_parser_pause(p, 1);
    return 0;
  }
  return self->head_request_ ? 1 : 0;  // 1: no body follows
}

int ResponseParser::on_body(http_parser* p, const char* at, size_t n) {
  auto* self = static_cast<ResponseParser*>(p->data);
  self->body_bytes_ += n;
  if (self->handlers_.on_body && !self->handlers_.on_body(std::string_view(at, n))) {
    self->body_refused_ = true;
    self->error_ = "stopped: the body was refused";
    return 1;
  }
  return 0;
}

int ResponseParser::on_message_complete(http_parser* p) {
  auto* self = static_cast<ResponseParser*>(p->data);
  if (!self->head_complete_) {  // an informational response ended: wait for the real one
    self->started_ = false;
    return 0;
  }
  self->complete_ = true;
  http_parser_pause(p, 1);  // whatever follows is not ours
  return 0;
}

ResponseParser::State ResponseParser::after_execute(size_t used, size_t size) {
  if (complete_ || stopped_) return State::kComplete;
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_OK && used == size) return State::kNeedMore;
  if (error_.empty()) {
    error_ = fmt::format("malformed response: {}", http_errno_description(err));
  }
  return State::kError;
}

ResponseParser::State ResponseParser::feed(std::string_view data) {
  if (complete_ || stopped_) return State::kComplete;
  if (!error_.empty()) return State::kError;
  if (data.empty()) return State::kNeedMore;
  parser_.data = this;
  const size_t used = http_parser_execute(&parser_, &settings_, data.data(), data.size());
  consumed_ += used;
  return after_execute(used, data.size());
}

std::string ResponseParser::truncation_message() const {
  if (!started_) return "connection closed without a response";
  if (!head_complete_) return "connection closed in the middle of the response head";
  if (head_.content_length) {
    return fmt::format("connection closed after {} of {} body bytes (truncated)", body_bytes_,
                       *head_.content_length);
  }
  if (head_.chunked) {
    return fmt::format("connection closed before the last chunk, after {} body bytes (truncated)",
                       body_bytes_);
  }
  return "connection closed early";
}

ResponseParser::State ResponseParser::feed_eof() {
  if (complete_ || stopped_) return State::kComplete;
  if (!error_.empty()) return State::kError;
  if (started_) {
    parser_.data = this;
    http_parser_execute(&parser_, &settings_, nullptr, 0);
    if (complete_) return State::kComplete;
  }
  truncated_ = true;
  error_ = truncation_message();
  return State::kError;
}

// ---- URLs -----------------------------------------------------------------------------------

expected<HttpUrl, std::string> parse_http_url(std::string_view url) {
  constexpr std::string_view kForm = "expected http://A.B.C.D[:PORT][/PATH]";
  if (url.empty() || url.size() > std::numeric_limits<uint16_t>::max()) {
    return unexpected(fmt::format("\"{}\": {}", url, kForm));
  }
  http_parser_url u;
  http_parser_url_init(&u);
  if (http_parser_parse_url(url.data(), url.size(), 0, &u) != 0 || !has_field(u, UF_SCHEMA) ||
      !has_field(u, UF_HOST)) {
    return unexpected(fmt::format("\"{}\": not a URL ({})", url, kForm));
  }
  const std::string_view schema = field(url, u, UF_SCHEMA);
  if (iequals(schema, "https")) {
    return unexpected(fmt::format("\"{}\": https is not supported (no TLS); use http://", url));
  }
  if (!iequals(schema, "http")) {
    return unexpected(fmt::format("\"{}\": only http:// URLs ({})", url, kForm));
  }
  if (has_field(u, UF_USERINFO)) {
    return unexpected(fmt::format("\"{}\": user names in URLs are not supported", url));
  }
  const std::string_view host = field(url, u, UF_HOST);
  auto addr = wire::Ipv4Address::parse(host);
  if (!addr) {
    return unexpected(fmt::format(
        "\"{}\": the host must be an IPv4 address A.B.C.D (synack resolves no names)", host));
  }
  HttpUrl out;
  out.host = *addr;
  if (has_field(u, UF_PORT)) {
    if (u.port == 0) return unexpected(fmt::format("\"{}\": port 0", url));
    out.port = u.port;
  }
  out.target = has_field(u, UF_PATH) ? std::string(field(url, u, UF_PATH)) : "/";
  if (has_field(u, UF_QUERY)) {
    out.target += '?';
    out.target += field(url, u, UF_QUERY);
  }
  out.authority =
      out.port == 80 ? addr->to_string() : fmt::format("{}:{}", addr->to_string(), out.port);
  return out;
}

// ---- The file server ------------------------------------------------------------------------

struct HttpFileServer::Conn {
  explicit Conn(const RequestLimits& limits) : parser(limits) {}
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  api::Socket socket;
  std::string peer;
  RequestParser parser;
  std::string in;  // received, not yet parsed (requests pipelined behind the current one)
  size_t in_off = 0;
  bool eof = false;
  Instant last_active;

  // The response under way.
  bool responding = false;
  std::string out;  // head, in-memory body, or the file chunk being sent
  size_t out_off = 0;
  int fd = -1;
  uint64_t file_pos = 0;
  uint64_t file_left = 0;
  bool close_after = false;
  bool head_only = false;
  bool http10 = false;
  // Its log line.
  bool log_pending = false;
  std::string line;
  int status = 0;
  uint64_t head_size = 0;
  uint64_t sent = 0;

  bool draining = false;  // our FIN is queued; reading (and dropping) until the peer's
  bool done = false;
};

HttpFileServer::HttpFileServer(api::Host& host, FileServerConfig config, LogFn log)
    : host_(host), config_(std::move(config)), log_(std::move(log)) {}

HttpFileServer::~HttpFileServer() {
  // Closing a socket flushes the loop, which may call other sockets' callbacks: none of
  // them may reach a connection being destroyed.
  listener_.set_callbacks({});
  for (auto& [id, c] : conns_)
    c->socket.set_callbacks({});
  conns_.clear();
}

expected<std::unique_ptr<HttpFileServer>, std::string> HttpFileServer::create(
    api::Host& host, FileServerConfig config, LogFn log) {
  char buf[PATH_MAX];
  if (::realpath(config.root.c_str(), buf) == nullptr) {
    return unexpected(fmt::format("--root {}: {}", config.root, std::strerror(errno)));
  }
  struct stat st {};
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return unexpected(fmt::format("--root {}: not a directory", config.root));
  }
  config.root = buf;
  return std::unique_ptr<HttpFileServer>(
      new HttpFileServer(host, std::move(config), std::move(log)));
}

std::error_code HttpFileServer::listen(const tcp::Endpoint& local, uint32_t backlog) {
  listener_ = host_.socket();
  if (auto ec = listener_.bind(local)) return ec;
  if (auto ec = listener_.listen(backlog)) return ec;
  listener_.set_callbacks({.on_readable = [this] { accept_all(); }});
  return {};
}

void HttpFileServer::reap() {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->second->done) {
      it->second->socket.set_callbacks({});
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void HttpFileServer::tick(Instant now) {
  for (auto& [id, conn] : conns_) {
    Conn& c = *conn;
    if (c.done) continue;
    if (c.draining) {
      // Waited long enough for the peer's FIN: close (a RST only if it left data unread).
      if (now - c.last_active > config_.linger_timeout) end(c, /*abort=*/false);
    } else if (now - c.last_active > config_.idle_timeout) {
      end(c, /*abort=*/c.responding);
    }
  }
}

void HttpFileServer::accept_all() {
  while (true) {
    auto accepted = listener_.accept();
    if (!accepted) return;
    auto conn = std::make_unique<Conn>(config_.limits);
    conn->socket = std::move(*accepted);
    auto peer = conn->socket.peer_endpoint();
    conn->peer = peer ? peer->to_string() : "?";
    conn->last_active = api::EventLoop::clock_now();
    Conn* c = conn.get();
    conn->socket.set_callbacks({
        .on_readable = [this, c] { drive(*c); },
        .on_writable = [this, c] { drive(*c); },
        .on_error =
            [this, c](std::error_code ec) {
              if (c->done) return;
              fmt::print(stderr, "synack serve: {}: {}\n", c->peer, ec.message());
              end(*c, /*abort=*/true);
            },
        .on_closed = [this, c](std::error_code) { end(*c, /*abort=*/false); },
    });
    conns_.emplace(next_id_++, std::move(conn));
    drive(*c);
  }
}

// Reads what fits in the input buffer. True if bytes arrived, or if more may be waiting
// (the buffer is full: the socket is not read again until the parser has taken some, and
// no callback would say so, since nothing new arrives).
bool HttpFileServer::fill(Conn& c) {
  if (c.eof) return false;
  if (c.in_off == c.in.size()) {
    c.in.clear();
    c.in_off = 0;
  } else if (c.in_off > kMaxInput / 2) {
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }
  bool got = false;
  std::array<std::byte, 16384> buf;
  while (c.in.size() - c.in_off < kMaxInput) {
    const size_t room = std::min(buf.size(), kMaxInput - (c.in.size() - c.in_off));
    auto n = c.socket.recv(std::span(buf).first(room));
    if (!n) {
      if (n.error() == std::errc::resource_unavailable_try_again) break;
      fmt::print(stderr, "synack serve: {}: {}\n", c.peer, n.error().message());
      end(c, /*abort=*/true);
      return false;
    }
    if (*n == 0) {
      c.eof = true;
      break;
    }
    c.in.append(reinterpret_cast<const char*>(buf.data()), *n);
    got = true;
  }
  if (got) c.last_active = api::EventLoop::clock_now();
  return got || c.in.size() - c.in_off >= kMaxInput;
}

// Sends the response under way as far as the socket takes it; true once all of it is out.
bool HttpFileServer::pump(Conn& c) {
  while (true) {
    if (c.out_off < c.out.size()) {
      auto n = c.socket.send(as_bytes(std::string_view(c.out).substr(c.out_off)));
      if (!n) {
        if (n.error() == std::errc::resource_unavailable_try_again) return false;
        fmt::print(stderr, "synack serve: {}: {}\n", c.peer, n.error().message());
        end(c, /*abort=*/true);
        return false;
      }
      if (*n == 0) return false;
      c.out_off += *n;
      c.sent += *n;
      c.last_active = api::EventLoop::clock_now();
      continue;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.file_left == 0) return true;
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(kFileChunk, c.file_left));
    c.out.resize(chunk);
    const ssize_t r = ::pread(c.fd, c.out.data(), chunk, static_cast<off_t>(c.file_pos));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      // The file shrank or failed under us: the Content-Length cannot be kept.
      fmt::print(stderr, "synack serve: {}: reading the file: {}\n", c.peer,
                 r < 0 ? std::strerror(errno) : "it ended early");
      end(c, /*abort=*/true);
      return false;
    }
    c.out.resize(static_cast<size_t>(r));
    c.file_pos += static_cast<uint64_t>(r);
    c.file_left -= static_cast<uint64_t>(r);
  }
}

void HttpFileServer::drive(Conn& c) {
  while (!c.done) {
    if (c.draining) {
      std::array<std::byte, 16384> buf;
      while (true) {
        auto n = c.socket.recv(buf);
        if (!n && n.error() == std::errc::resource_unavailable_try_again) return;
        if (!n || *n == 0) {
          end(c, /*abort=*/false);
          return;
        }
        c.last_active = api::EventLoop::clock_now();
      }
    }
    const bool got = fill(c);
    if (c.done) return;
    if (c.responding) {
      if (!pump(c)) return;  // the socket is full (on_writable brings us back), or it failed
      finish_response(c);
      continue;
    }
    if (c.in_off < c.in.size()) {
      size_t used = 0;
      const auto state = c.parser.feed(std::string_view(c.in).substr(c.in_off), used);
      c.in_off += used;
      if (state == RequestParser::State::kComplete) {
        start_response(c);
        continue;
      }
      if (state == RequestParser::State::kError) {
        start_error(c, c.parser.error_status(), "-");
        continue;
      }
    }
    if (c.eof) {
      if (c.parser.feed_eof() == RequestParser::State::kError) {
        start_error(c, c.parser.error_status(), "-");
        continue;
      }
      end(c, /*abort=*/false);
      return;
    }
    if (!got) return;
  }
}

void HttpFileServer::begin_response(Conn& c, int status, const std::string& content_type,
                                    uint64_t length,
                                    const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string head = fmt::format("HTTP/1.1 {} {}\r\nServer: synack\r\nDate: {}\r\n", status,
                                 reason_phrase(status), http_date(std::time(nullptr)));
  if (!content_type.empty()) head += fmt::format("Content-Type: {}\r\n", content_type);
  head += fmt::format("Content-Length: {}\r\n", length);
  for (const auto& [k, v] : extra)
    head += fmt::format("{}: {}\r\n", k, v);
  if (c.close_after) {
    head += "Connection: close\r\n";
  } else if (c.http10) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  c.responding = true;
  c.out = std::move(head);
  c.out_off = 0;
  c.head_size = c.out.size();
  c.sent = 0;
  c.status = status;
  c.log_pending = true;
  c.file_pos = 0;
  c.file_left = 0;
}

void HttpFileServer::start_error(Conn& c, int status, const std::string& line) {
  const bool parse_error = status == 400 || status == 414 || status == 431;
  if (parse_error) {
    c.close_after = true;  // the parser cannot find the next request
    c.head_only = false;
    c.line = line;
  }
  std::vector<std::pair<std::string, std::string>> extra;
  if (status == 405) extra.emplace_back("Allow", "GET, HEAD");
  const std::string body = fmt::format("{} {}\n", status, reason_phrase(status));
  begin_response(c, status, "text/plain; charset=utf-8", body.size(), extra);
  if (!c.head_only) c.out += body;
}

void HttpFileServer::start_response(Conn& c) {
  const HttpRequest& r = c.parser.request();
  c.line = log_escape(r.request_line());
  c.close_after = !r.keep_alive || r.upgrade;
  c.http10 = r.version_major == 1 && r.version_minor == 0;
  c.head_only = r.method == "HEAD";
  if (r.version_major != 1) {
    c.close_after = true;
    return start_error(c, 505, c.line);
  }
  if (r.method != "GET" && r.method != "HEAD") return start_error(c, 405, c.line);
  auto path = decode_request_path(r.target);
  if (!path) return start_error(c, 400, c.line);
  Resolved resolved = resolve_under_root(config_.root, *path);
  if (resolved.status != 200) return start_error(c, resolved.status, c.line);

  std::string type(content_type_for(*path));
  int fd = open_inside(config_.root, resolved.path);
  if (fd < 0) return start_error(c, errno == EACCES ? 403 : 404, c.line);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return start_error(c, 404, c.line);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fd = -1;
    const std::string dir_url = path->ends_with('/') ? *path : *path + "/";
    Resolved index = resolve_under_root(config_.root, dir_url + "index.html");
    if (index.status == 200) {
      fd = open_inside(config_.root, index.path);
      if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        ::close(fd);
        fd = -1;
      }
      type = content_type_for("index.html");
    }
    if (fd < 0) {
      std::optional<std::string> body;
      if (config_.listings) body = listing(resolved.path, dir_url);
      if (!body) return start_error(c, 404, c.line);
      begin_response(c, 200, "text/html; charset=utf-8", body->size(), {});
      if (!c.head_only) c.out += *body;
      return;
    }
  }
  if (!S_ISREG(st.st_mode)) {  // a FIFO, a device...: not served
    ::close(fd);
    return start_error(c, 403, c.line);
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  begin_response(c, 200, type, size, {{"Last-Modified", http_date(st.st_mtime)}});
  if (c.head_only) {
    ::close(fd);
    return;
  }
  c.fd = fd;
  c.file_left = size;
}

std::optional<std::string> HttpFileServer::listing(const std::string& dir,
                                                   const std::string& url_path) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK) {
      struct stat st {};
      is_dir = ::fstatat(::dirfd(d), e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
    }
    names.push_back(std::string(name) + (is_dir ? "/" : ""));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  const std::string title = html_escape(url_path);
  std::string body = fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {0}</title></head>\n"
      "<body>\n<h1>Index of {0}</h1>\n<ul>\n",
      title);
  if (url_path != "/") {
    std::string parent = url_path.substr(0, url_path.size() - 1);
    parent = parent.substr(0, parent.rfind('/') + 1);
    body +=
        fmt::format("<li><a href=\"{}\">../</a></li>\n", html_escape(percent_encode_path(parent)));
  }
  for (const std::string& name : names) {
    body += fmt::format("<li><a href=\"{}\">{}</a></li>\n",
                        html_escape(percent_encode_path(url_path + name)), html_escape(name));
  }
  body += "</ul>\n</body></html>\n";
  return body;
}

void HttpFileServer::log_request(Conn& c) {
  if (!c.log_pending) return;
  c.log_pending = false;
  const uint64_t body = c.sent > c.head_size ? c.sent - c.head_size : 0;
  if (log_) log_(fmt::format("http {} \"{}\" {} {}", c.peer, c.line, c.status, body));
}

void HttpFileServer::finish_response(Conn& c) {
  log_request(c);
  if (c.fd >= 0) {
    ::close(c.fd);
    c.fd = -1;
  }
  c.responding = false;
  c.out.clear();
  c.out_off = 0;
  if (c.close_after) {
    // A FIN after the response; then read (and drop) until the peer's, so that requests it
    // pipelined behind this one do not turn our close into a RST that could destroy the
    // response before it is read.
    (void)c.socket.shutdown(api::ShutdownHow::kWrite);
    c.draining = true;
    c.last_active = api::EventLoop::clock_now();
    return;
  }
  c.parser.next();
}

void HttpFileServer::end(Conn& c, bool abort) {
  if (c.done) return;
  c.done = true;
  log_request(c);
  if (c.fd >= 0) {
    ::close(c.fd);
    c.fd = -1;
  }
  if (abort) {
    (void)c.socket.abort();
  } else {
    (void)c.socket.close();
  }
}

// ---- The client -----------------------------------------------------------------------------

expected<GetResult, std::string> http_get(api::BlockingHost& host, const HttpUrl& url,
                                          const GetOptions& options, const GetHandlers& handlers) {
  const std::string peer = url.endpoint().to_string();
  api::SocketOptions socket_options;
  socket_options.nodelay = true;
  socket_options.linger = Duration::seconds(1);  // close() waits a little for our FIN's ack
  auto conn = host.connect(url.endpoint(), options.connect_timeout, socket_options);
  if (!conn) return unexpected(fmt::format("{}: {}", peer, conn.error().message()));

  const std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
      url.target, url.authority, options.user_agent);
  if (handlers.on_request) handlers.on_request(request);
  auto sent = conn->send(as_bytes(request), options.idle_timeout);
  if (!sent)
    return unexpected(fmt::format("{}: sending the request: {}", peer, sent.error().message()));
  if (*sent != request.size()) {
    return unexpected(fmt::format("{}: sending the request: {}", peer,
                                  std::make_error_code(std::errc::timed_out).message()));
  }

  ResponseParser parser({.on_head = handlers.on_head, .on_body = handlers.on_body});
  std::vector<std::byte> buf(64 * 1024);
  while (true) {
    auto n = conn->recv(buf, options.idle_timeout);
    if (!n) {
      std::string where;
      if (parser.head_complete()) where = fmt::format(" after {} body bytes", parser.body_bytes());
      return unexpected(fmt::format("{}: {}{}", peer, n.error().message(), where));
    }
    ResponseParser::State state;
    if (*n == 0) {
      state = parser.feed_eof();
    } else {
      state = parser.feed(std::string_view(reinterpret_cast<const char*>(buf.data()), *n));
    }
    if (state == ResponseParser::State::kComplete) break;
    if (state == ResponseParser::State::kError) {
      (void)conn->with_socket([](api::Socket& s) { return s.abort(); });
      return unexpected(fmt::format("{}: {}", peer, parser.error()));
    }
  }
  (void)conn->close();
  return GetResult{
      .head = parser.head(), .body_bytes = parser.body_bytes(), .complete = parser.complete()};
}

}  // namespace synack::cli::http
