#include "tools/httpd/http_request.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace netfront::httpd {
namespace {

constexpr Refusal kBadRequest{400, "Bad Request"};

bool is_tchar(char c) {  // RFC 9110 §5.6.2: the characters of a token
  return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y)); });
}

std::string_view trim(std::string_view s) {  // optional whitespace, RFC 9110 §5.6.3
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A comma-separated field value holding `token` (Connection: keep-alive, Upgrade).
bool lists(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    if (equals_ignoring_case(trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

Method method_of(std::string_view m) {
  if (m == "GET") return Method::Get;
  if (m == "HEAD") return Method::Head;
  if (m == "POST") return Method::Post;
  return Method::Other;
}

// RFC 9112 §3: method SP request-target SP HTTP-version.
std::optional<Refusal> parse_request_line(std::string_view line, RequestHead& r) {
  const std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return kBadRequest;
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return kBadRequest;
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1), version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), is_tchar)) return kBadRequest;
  std::string_view path = target;
  // RFC 9112 §3.2.2: absolute-form MUST be accepted; its path is what is asked for (an empty
  // one is "/"), and the Host field is not looked at for where (§3.2.2: ignored).
  for (std::string_view scheme : {"http://", "https://"})
    if (target.size() > scheme.size() && equals_ignoring_case(target.substr(0, scheme.size()), scheme)) {
      const std::size_t slash = target.find('/', scheme.size());
      path = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (target.substr(scheme.size(), slash - scheme.size()).empty()) return kBadRequest;  // no authority
    }
  if (path.empty() || path.front() != '/') return kBadRequest;
  if (std::any_of(target.begin(), target.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    return kBadRequest;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || !std::isdigit(static_cast<unsigned char>(version[5])) ||
      version[6] != '.' || !std::isdigit(static_cast<unsigned char>(version[7])))
    return kBadRequest;
  if (version[5] != '1' || version[7] > '1') return Refusal{505, "HTTP Version Not Supported"};
  r.method = method_of(method);
  r.target = std::string(path);
  r.minor_version = static_cast<unsigned>(version[7] - '0');
  r.keep_alive = r.minor_version == 1;
  return std::nullopt;
}

// RFC 9112 §2.2: empty lines before the request line are ignored (a client may send one after
// a body); they belong to the head that follows them.
std::size_t leading_empty_lines(std::string_view bytes) {
  std::size_t n = 0;
  while (bytes.substr(n, 2) == "\r\n") n += 2;
  return n;
}

}  // namespace

std::optional<std::size_t> head_end(std::string_view bytes, std::size_t from) {
  const std::size_t at = bytes.find("\r\n\r\n", std::max(from, leading_empty_lines(bytes)));
  if (at == std::string_view::npos) return std::nullopt;
  return at + 4;
}

std::variant<RequestHead, Refusal> parse_request_head(std::string_view head) {
  if (head.size() > kMaxHeadBytes) return Refusal{431, "Request Header Fields Too Large"};
  head.remove_prefix(leading_empty_lines(head));
  if (head.size() < 4 || head.substr(head.size() - 4) != "\r\n\r\n") return kBadRequest;
  head.remove_suffix(2);  // each line below ends in CRLF; the blank one is gone
  RequestHead r;
  std::size_t eol = head.find("\r\n");
  if (auto refused = parse_request_line(head.substr(0, eol), r)) return *refused;
  std::optional<std::uint64_t> length;
  unsigned hosts = 0;
  for (std::size_t at = eol + 2; at < head.size(); at = eol + 2) {
    eol = head.find("\r\n", at);
    const std::string_view line = head.substr(at, eol - at);
    const std::size_t colon = line.find(':');
    // RFC 9112 §5.1: no whitespace between the field name and the colon.
    if (colon == std::string_view::npos || colon == 0) return kBadRequest;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (!std::all_of(name.begin(), name.end(), is_tchar)) return kBadRequest;
    if (std::any_of(value.begin(), value.end(), [](char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }))
      return kBadRequest;
    if (equals_ignoring_case(name, "Content-Length")) {
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc{} || end != value.data() + value.size()) return kBadRequest;
      // RFC 9112 §6.3: differing lengths make the message's end unknowable.
      if (length && *length != n) return kBadRequest;
      length = n;
    } else if (equals_ignoring_case(name, "Transfer-Encoding")) {
      return Refusal{501, "Not Implemented"};
    } else if (equals_ignoring_case(name, "Connection")) {
      if (lists(value, "close")) r.keep_alive = false;
      else if (lists(value, "keep-alive")) r.keep_alive = true;
    } else if (equals_ignoring_case(name, "Expect")) {
      r.expect_continue = equals_ignoring_case(value, "100-continue");
    } else if (equals_ignoring_case(name, "Host")) {
      ++hosts;
    }
  }
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host and for any with more than one.
  if (hosts > 1 || (hosts == 0 && r.minor_version == 1)) return kBadRequest;
  r.content_length = length.value_or(0);
  return r;
}

}  // namespace netfront::httpd
