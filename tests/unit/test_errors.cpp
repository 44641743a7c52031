#include <gtest/gtest.h>

#include <set>
#include <string>

#include "signalr/signalr.h"

TEST(Errors, EveryCodeHasANameAndText) {
  for (int code = 0; code >= SIGNALR_ERROR_LAST; code--) {
    ASSERT_NE(signalr_error_name(code), nullptr) << code;
    EXPECT_STRNE(signalr_strerror(code), "unknown error") << code;
  }
  EXPECT_STREQ(signalr_error_name(SIGNALR_EPROTO), "SIGNALR_EPROTO");
  EXPECT_EQ(signalr_error_name(SIGNALR_ERROR_LAST - 1), nullptr);
  EXPECT_EQ(signalr_error_name(1), nullptr);
  EXPECT_STREQ(signalr_strerror(-1000), "unknown error");
}

TEST(Errors, IteratorListsEachCodeOnce) {
  size_t cursor = 0;
  int code;
  const char *name, *text;
  std::set<int> seen;
  while (signalr_error_next(&cursor, &code, &name, &text)) {
    EXPECT_TRUE(seen.insert(code).second);
    EXPECT_STREQ(name, signalr_error_name(code));
    EXPECT_STREQ(text, signalr_strerror(code));
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(1 - SIGNALR_ERROR_LAST));
  EXPECT_EQ(signalr_error_next(nullptr, nullptr, nullptr, nullptr), 0);
}

TEST(Version, MatchesHeader) {
  EXPECT_STREQ(signalr_version(), SIGNALR_VERSION_STRING);
  EXPECT_EQ(signalr_version_number(), SIGNALR_VERSION_NUMBER);
}
