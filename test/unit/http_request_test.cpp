// The HTTP appliance's request heads (tools/httpd/http_request.hpp): what it takes and what it
// refuses, with the status a client is answered (RFC 9112, RFC 9110).
#include <gtest/gtest.h>

#include <string>

#include "tools/httpd/http_request.hpp"

namespace netfront::httpd {
namespace {

RequestHead parsed(const std::string& head) {
  auto r = parse_request_head(head);
  EXPECT_TRUE(std::holds_alternative<RequestHead>(r)) << head;
  return std::holds_alternative<RequestHead>(r) ? std::get<RequestHead>(r) : RequestHead{};
}

unsigned refused(const std::string& head) {
  auto r = parse_request_head(head);
  EXPECT_TRUE(std::holds_alternative<Refusal>(r)) << head;
  return std::holds_alternative<Refusal>(r) ? std::get<Refusal>(r).status : 0;
}

TEST(HttpRequestHeadTest, ReadsMethodTargetVersionAndTheFieldsTheServerUses) {
  const RequestHead get = parsed("GET /bytes/100 HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(get.method, Method::Get);
  EXPECT_EQ(get.target, "/bytes/100");
  EXPECT_EQ(get.minor_version, 1u);
  EXPECT_TRUE(get.keep_alive);
  EXPECT_EQ(get.content_length, 0u);
  const RequestHead post = parsed("POST /echo HTTP/1.1\r\nHost: a\r\ncontent-length:  12345 \r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(post.method, Method::Post);
  EXPECT_EQ(post.content_length, 12345u);
  EXPECT_TRUE(post.expect_continue);
  EXPECT_FALSE(post.keep_alive);
  EXPECT_EQ(parsed("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").method, Method::Head);
  EXPECT_EQ(parsed("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n").method, Method::Other);
}

TEST(HttpRequestHeadTest, KeepAliveFollowsTheVersionAndTheConnectionField) {
  EXPECT_FALSE(parsed("GET / HTTP/1.0\r\n\r\n").keep_alive);
  EXPECT_TRUE(parsed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
  EXPECT_FALSE(parsed("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\n\r\n").keep_alive);
  EXPECT_TRUE(parsed("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n").keep_alive);
}

TEST(HttpRequestHeadTest, RefusesMalformedRequestLinesWith400) {
  for (const char* head : {"\r\n\r\n", "GET\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n",
                           "GET x HTTP/1.1\r\n\r\n", "GET http:// HTTP/1.1\r\n\r\n", "GET ftp://a/ HTTP/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
                           "GET / HTTP/1\r\n\r\n", "GET / http/1.1\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n"})
    EXPECT_EQ(refused(head), 400u) << head;
}

// RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host, and to any
// request with more than one; HTTP/1.0 needs none.
TEST(HttpRequestHeadTest, AnHttp11RequestHasExactlyOneHost) {
  EXPECT_EQ(refused("GET / HTTP/1.1\r\n\r\n"), 400u);
  EXPECT_EQ(refused("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), 400u);
  EXPECT_EQ(refused("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400u);
  EXPECT_EQ(refused("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), 400u);
  EXPECT_EQ(parsed("GET / HTTP/1.0\r\n\r\n").target, "/");
  EXPECT_EQ(parsed("GET / HTTP/1.1\r\nHOST: a\r\n\r\n").target, "/");
}

// RFC 9112 §3.2.2: a server MUST accept absolute-form; what is asked for is its path.
TEST(HttpRequestHeadTest, AbsoluteFormIsAcceptedForItsPath) {
  EXPECT_EQ(parsed("GET http://a.example/bytes/5 HTTP/1.1\r\nHost: a\r\n\r\n").target, "/bytes/5");
  EXPECT_EQ(parsed("GET HTTP://a:80 HTTP/1.1\r\nHost: a\r\n\r\n").target, "/");
  EXPECT_EQ(parsed("POST https://10.9.0.2/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n").target, "/echo");
}

// RFC 9112 §2.2: empty lines before the request line are ignored, never taken for the end of
// a head, however they arrive.
TEST(HttpRequestHeadTest, EmptyLinesBeforeTheRequestLineAreIgnored) {
  EXPECT_EQ(parsed("\r\n\r\nGET /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n").target, "/bytes/3");
  EXPECT_FALSE(head_end("\r\n\r\n"));
  EXPECT_FALSE(head_end("\r\n\r\n\r\n\r\n", 5));
  const std::string head = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(head_end(head, 1), head.size());
}

TEST(HttpRequestHeadTest, RefusesBadFieldLinesWith400) {
  for (const char* head : {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "GET / HTTP/1.1\r\nName : v\r\n\r\n", "GET / HTTP/1.1\r\n: v\r\n\r\n",
                           "GET / HTTP/1.1\r\nA: \x01\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                           "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length:\r\n\r\n",
                           "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                           "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"})
    EXPECT_EQ(refused(head), 400u) << head;
  // The same length twice says one thing (RFC 9112 §6.3).
  EXPECT_EQ(parsed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n").content_length, 3u);
}

TEST(HttpRequestHeadTest, RefusesChunkedBodiesOtherVersionsAndLongHeads) {
  EXPECT_EQ(refused("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"), 501u);
  EXPECT_EQ(refused("GET / HTTP/2.0\r\n\r\n"), 505u);
  EXPECT_EQ(refused("GET / HTTP/1.2\r\n\r\n"), 505u);
  const std::string longest = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(kMaxHeadBytes - 32, 'a') + "\r\n\r\n";
  ASSERT_EQ(longest.size(), kMaxHeadBytes);
  parsed(longest);
  EXPECT_EQ(refused("GET / HTTP/1.1\r\nX: " + std::string(kMaxHeadBytes - 22, 'a') + "\r\n\r\n"), 431u);
}

TEST(HttpRequestHeadTest, FindsTheEndOfAHead) {
  EXPECT_EQ(head_end("GET / HTTP/1.1\r\n\r\nbody"), 18u);
  EXPECT_FALSE(head_end("GET / HTTP/1.1\r\nHost: a\r\n"));
  EXPECT_FALSE(head_end(""));
}

}  // namespace
}  // namespace netfront::httpd
