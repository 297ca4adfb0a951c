// The head of an HTTP/1.1 request (RFC 9112 §2-§3, §6; RFC 9110 for the fields read): parsed
// whole once its blank line arrived, refused with the status the server answers when it
// breaks the rules the server relies on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace netfront::httpd {

// Heads beyond this (request line and fields, blank line included) are refused with 431.
inline constexpr std::size_t kMaxHeadBytes = 8192;

enum class Method { Get, Head, Post, Other };

struct RequestHead {
  Method method = Method::Other;
  std::string target;           // the path (origin-form, or absolute-form's path): starts with '/'
  unsigned minor_version = 1;   // HTTP/1.minor
  std::uint64_t content_length = 0;  // of the body that follows the head
  bool keep_alive = true;       // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive
  bool expect_continue = false;  // "Expect: 100-continue"
};

// A refusal: the status and its reason phrase. The connection is closed after it.
struct Refusal {
  unsigned status;
  const char* reason;
};

// `head`: the bytes up to and including the first CRLF CRLF after any empty lines before the
// request line (RFC 9112 §2.2: ignored). Refuses (400) a malformed request line, a target in
// neither origin-form nor absolute-form (whose path is taken, RFC 9112 §3.2.2), an HTTP/1.1
// request without a Host field and any with two (§3.2), a field line without a colon or with
// whitespace before it, control characters, a Content-Length that is not one decimal number
// (or appears twice with different values); (501) Transfer-Encoding (no chunked bodies); (505)
// a version other than HTTP/1.0 or HTTP/1.1; (431) a head beyond kMaxHeadBytes.
std::variant<RequestHead, Refusal> parse_request_head(std::string_view head);

// Where the head ends in `bytes` (the offset just past CRLF CRLF), or nullopt if it has not
// ended yet. `from`: where the end may start at the earliest (what was searched before, less
// three bytes); empty lines before the request line are never taken for the end.
std::optional<std::size_t> head_end(std::string_view bytes, std::size_t from = 0);

}  // namespace netfront::httpd
