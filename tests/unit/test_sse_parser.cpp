#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "protocol/sse_parser.h"
#include "signalr/signalr.h"
}

namespace {

struct Result {
  std::vector<std::string> events;
  int rc = 0;       // 0, or the error that stopped the stream
  bool partial = false;
};

// Feeds `stream` cut at `cuts` (each chunk a separate heap copy, freed right after: the parser
// must not keep pointers into it) and collects every event.
Result parse(const std::string& stream, const std::vector<size_t>& cuts, size_t max = 0) {
  Result r;
  sr_sse_parser p;
  sr_sse_parser_init(&p, max);
  size_t pos = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    std::vector<uint8_t> chunk(stream.begin() + pos, stream.begin() + end);
    pos = end;
    sr_sse_parser_feed(&p, chunk.data(), chunk.size());
    const uint8_t* d;
    size_t n;
    int rc;
    while ((rc = sr_sse_parser_next(&p, &d, &n)) == 1) r.events.emplace_back(reinterpret_cast<const char*>(d), n);
    if (rc < 0) {
      r.rc = rc;
      break;
    }
  }
  r.partial = sr_sse_parser_partial(&p) != 0;
  sr_sse_parser_free(&p);
  return r;
}

Result whole(const std::string& s, size_t max = 0) { return parse(s, {}, max); }

// The same events, status and partial state however the stream is cut: at every single byte
// position, and into one-byte chunks.
void expect_cut_invariant(const std::string& s, size_t max = 0) {
  Result w = whole(s, max);
  for (size_t i = 0; i <= s.size(); i++) {
    Result c = parse(s, {i}, max);
    EXPECT_EQ(c.events, w.events) << "cut at " << i;
    EXPECT_EQ(c.rc, w.rc) << "cut at " << i;
    if (!w.rc) EXPECT_EQ(c.partial, w.partial) << "cut at " << i;
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < s.size(); i++) every.push_back(i);
  Result bytes = parse(s, every, max);
  EXPECT_EQ(bytes.events, w.events) << "one-byte chunks";
  EXPECT_EQ(bytes.rc, w.rc) << "one-byte chunks";
}

using V = std::vector<std::string>;

TEST(SseParser, WhatAspNetCoreSends) {
  // the Firefox-workaround comment first, then one event per chunk of hub messages
  std::string s = ":\r\n\r\ndata: {}\x1e\r\n\r\ndata: {\"type\":6}\x1e{\"type\":6}\x1e\r\n\r\n";
  EXPECT_EQ(whole(s).events, (V{"{}\x1e", "{\"type\":6}\x1e{\"type\":6}\x1e"}));
  expect_cut_invariant(s);
}

TEST(SseParser, LineEndingsLfCrCrlfAndMixed) {
  EXPECT_EQ(whole("data: a\n\n").events, V{"a"});
  EXPECT_EQ(whole("data: a\r\r").events, V{"a"});
  EXPECT_EQ(whole("data: a\r\n\r\n").events, V{"a"});
  EXPECT_EQ(whole("data: a\r\ndata: b\rdata: c\n\r\n").events, V{"a\nb\nc"});
  // CR LF is one line end, CR CR and LF LF are two
  EXPECT_EQ(whole("data: a\r\n").events, V{});
  EXPECT_EQ(whole("data: a\n\r").events, V{"a"});
  EXPECT_EQ(whole("data: a\r\n\ndata: b\n\r\n").events, (V{"a", "b"}));
  for (const char* s : {"data: a\r\n\r\ndata: b\r\n\r\n", "data: a\r\rdata: b\n\n", "data: x\r\ndata: y\r\r\n"})
    expect_cut_invariant(s);
}

TEST(SseParser, CrlfSplitAcrossChunks) {
  std::string s = "data: a\r\n\r\ndata: b\r\n\r\n";
  // cut right between every CR and its LF
  EXPECT_EQ(parse(s, {8, 10, 19, 21}).events, (V{"a", "b"}));
  EXPECT_EQ(parse("data: a\r\r", {8}).events, V{"a"});         // CR | CR: empty line
  EXPECT_EQ(parse("data: a\r\n\n", {8, 9}).events, V{"a"});    // CR | LF | LF
  EXPECT_EQ(parse("data: a\r\ndata: b\r\n\r\n", {8}).events, V{"a\nb"});
}

TEST(SseParser, MultiLineDataIsJoinedWithLf) {
  EXPECT_EQ(whole("data: a\ndata: b\ndata: c\n\n").events, V{"a\nb\nc"});
  EXPECT_EQ(whole("data:a\ndata\ndata: c\n\n").events, V{"a\n\nc"});  // "data" alone: empty value
  EXPECT_EQ(whole("data: a\n: a comment in between\ndata: b\n\n").events, V{"a\nb"});
  expect_cut_invariant("data: line one\ndata:\ndata: line three\n\ndata: second\n\n");
}

TEST(SseParser, OneOptionalSpaceAfterTheColon) {
  EXPECT_EQ(whole("data:x\n\n").events, V{"x"});
  EXPECT_EQ(whole("data: x\n\n").events, V{"x"});
  EXPECT_EQ(whole("data:  x\n\n").events, V{" x"});
  EXPECT_EQ(whole("data:\tx\n\n").events, V{"\tx"});
  EXPECT_EQ(whole("data: a: b \n\n").events, V{"a: b "});
}

TEST(SseParser, CommentsAndOtherFieldsAreIgnored) {
  std::string s =
      ": comment\n:\nevent: custom\nid: 42\nretry: 1000\nfoo: bar\nData: not data\ndat: no\ndatas: no\n"
      "dataa: no\nnodata\ndata: yes\n\n";
  EXPECT_EQ(whole(s).events, V{"yes"});
  expect_cut_invariant(s);
  // an event made only of ignored fields dispatches nothing
  EXPECT_EQ(whole("event: x\nid: 1\n\n: c\n\n\n\n").events, V{});
}

TEST(SseParser, EmptyDataDispatchesAnEmptyEvent) {
  EXPECT_EQ(whole("data\n\n").events, V{""});
  EXPECT_EQ(whole("data:\n\n").events, V{""});
  EXPECT_EQ(whole("data: \n\n").events, V{""});
  EXPECT_EQ(whole("\n\n\n").events, V{});
}

TEST(SseParser, ByteOrderMarkOnlyAtTheStart) {
  EXPECT_EQ(whole("\xEF\xBB\xBF" "data: x\n\n").events, V{"x"});
  expect_cut_invariant("\xEF\xBB\xBF" "data: x\n\n");
  // later it is part of a field name that is not "data"
  EXPECT_EQ(whole("data: x\n\n\xEF\xBB\xBF" "data: y\n\n").events, V{"x"});
  // a partial mark then something else: that line is an unknown field
  EXPECT_EQ(whole("\xEF\xBB" "data: x\n\ndata: y\n\n").events, V{"y"});
  EXPECT_EQ(whole("\xEF\n" "data: y\n\n").events, V{"y"});
  expect_cut_invariant("\xEF\xBB" "data: x\n\ndata: y\n\n");
}

TEST(SseParser, SizeLimit) {
  EXPECT_EQ(whole("data: 12345\n\n", 5).events, V{"12345"});
  Result r = whole("data: 123456\n\n", 5);
  EXPECT_EQ(r.rc, SIGNALR_ETOOBIG);
  EXPECT_TRUE(r.events.empty());
  // the joining LF counts
  EXPECT_EQ(whole("data: a\ndata: b\n\n", 3).events, V{"a\nb"});
  EXPECT_EQ(whole("data: a\ndata: b\n\n", 2).rc, SIGNALR_ETOOBIG);
  // events before the big one are delivered; the error is reported at the overflow
  r = whole("data: ok\n\ndata: far too long\n\ndata: never\n\n", 8);
  EXPECT_EQ(r.events, V{"ok"});
  EXPECT_EQ(r.rc, SIGNALR_ETOOBIG);
  expect_cut_invariant("data: ok\n\ndata: far too long\n\ndata: never\n\n", 8);
  // comments and other fields are not stored, whatever their length
  std::string huge(1 << 20, 'x');
  EXPECT_EQ(whole(":" + huge + "\nid: " + huge + "\ndata: y\n\n", 4).events, V{"y"});
}

TEST(SseParser, ErrorsAreSticky) {
  sr_sse_parser p;
  sr_sse_parser_init(&p, 2);
  std::string s = "data: abc\n\n";
  sr_sse_parser_feed(&p, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  const uint8_t* d;
  size_t n;
  EXPECT_EQ(sr_sse_parser_next(&p, &d, &n), SIGNALR_ETOOBIG);
  std::string ok = "data: a\n\n";
  sr_sse_parser_feed(&p, reinterpret_cast<const uint8_t*>(ok.data()), ok.size());
  EXPECT_EQ(sr_sse_parser_next(&p, &d, &n), SIGNALR_ETOOBIG);
  sr_sse_parser_free(&p);
}

TEST(SseParser, NoAllocationPerEventOnceGrown) {
  sr_sse_parser p;
  sr_sse_parser_init(&p, 0);
  std::string ev = "data: " + std::string(1000, 'm') + "\x1e\r\n\r\n";
  const uint8_t* d;
  size_t n;
  sr_sse_parser_feed(&p, reinterpret_cast<const uint8_t*>(ev.data()), ev.size());
  ASSERT_EQ(sr_sse_parser_next(&p, &d, &n), 1);
  EXPECT_EQ(n, 1001u);
  const uint8_t* buf = p.data.data;
  size_t cap = p.data.cap;
  for (int i = 0; i < 1000; i++) {
    sr_sse_parser_feed(&p, reinterpret_cast<const uint8_t*>(ev.data()), ev.size());
    ASSERT_EQ(sr_sse_parser_next(&p, &d, &n), 1);
    ASSERT_EQ(n, 1001u);
    ASSERT_EQ(sr_sse_parser_next(&p, &d, &n), 0);
  }
  EXPECT_EQ(p.data.data, buf);
  EXPECT_EQ(p.data.cap, cap);
  sr_sse_parser_free(&p);
}

TEST(SseParser, PartialAtTheEnd) {
  EXPECT_FALSE(whole("data: a\n\n").partial);
  EXPECT_TRUE(whole("data: a\n").partial);
  EXPECT_TRUE(whole("data: a").partial);
  EXPECT_TRUE(whole(": comment without end").partial);
  EXPECT_FALSE(whole(": comment\n").partial);
}

TEST(SseParser, NullAndEmptyChunks) {
  sr_sse_parser p;
  sr_sse_parser_init(&p, 0);
  const uint8_t* d;
  size_t n;
  sr_sse_parser_feed(&p, nullptr, 0);
  EXPECT_EQ(sr_sse_parser_next(&p, &d, &n), 0);
  std::string s = "data: z\n\n";
  sr_sse_parser_feed(&p, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  ASSERT_EQ(sr_sse_parser_next(&p, &d, &n), 1);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(d), n), "z");
  EXPECT_EQ(sr_sse_parser_next(&p, &d, &n), 0);
  sr_sse_parser_feed(&p, nullptr, 5);  // NULL with a length: treated as empty
  EXPECT_EQ(sr_sse_parser_next(&p, &d, &n), 0);
  sr_sse_parser_free(&p);
}

TEST(SseParser, BinaryBytesInDataArePassedThrough) {
  std::string payload("a\0b\x1e\xff", 5);
  EXPECT_EQ(whole("data: " + payload + "\n\n").events, V{payload});
}

}  // namespace
