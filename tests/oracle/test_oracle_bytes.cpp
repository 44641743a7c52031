// The other half of the oracle: bytes written by Microsoft's own encoders (produced by
// oracle.mjs --out) must decode in our codecs to the vectors' messages.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "../support/vector_check.h"

using namespace srtest;

TEST(Oracle, MicrosoftBytesParseInOurCodecs) {
  const char *out = std::getenv("SIGNALR_ORACLE_OUT");
  ASSERT_NE(out, nullptr) << "SIGNALR_ORACLE_OUT not set";
  std::string theirs_text = read_file(out);
  std::string ours_text = read_file(std::string(SIGNALR_VECTORS_DIR) + "/hub_messages.json");
  cJSON *theirs = cJSON_Parse(theirs_text.c_str()), *ours = cJSON_Parse(ours_text.c_str());
  ASSERT_NE(theirs, nullptr) << "cannot read " << out;
  ASSERT_NE(ours, nullptr);
  std::map<std::string, const cJSON *> by_name;
  const cJSON *v;
  cJSON_ArrayForEach(v, cJSON_GetObjectItem(ours, "vectors"))
    by_name[cJSON_GetObjectItem(v, "name")->valuestring] = v;
  sr_decoder d;
  sr_decoder_init(&d);
  int checked = 0;
  cJSON_ArrayForEach(v, cJSON_GetObjectItem(theirs, "vectors")) {
    std::string name = cJSON_GetObjectItem(v, "name")->valuestring;
    SCOPED_TRACE(name);
    ASSERT_TRUE(by_name.count(name));
    const cJSON *mine = by_name[name];
    const cJSON *msg = cJSON_GetObjectItem(mine, "message");
    const cJSON *view = cJSON_GetObjectItem(mine, "json_view");
    const cJSON *j = cJSON_GetObjectItem(v, "json"), *m = cJSON_GetObjectItem(v, "msgpack");
    if (cJSON_IsString(j)) {
      std::string s = j->valuestring;
      std::vector<uint8_t> wire(s.begin(), s.end());
      sr_hub_message hm;
      ASSERT_EQ(decode_wire(&d, false, wire, &hm), 0) << d.error;
      EXPECT_EQ(compare(hm, msg, nullptr), "") << "json";
      checked++;
    }
    if (cJSON_IsString(m)) {
      std::vector<uint8_t> wire = from_hex(m->valuestring);
      sr_hub_message hm;
      ASSERT_EQ(decode_wire(&d, true, wire, &hm), 0) << d.error;
      EXPECT_EQ(compare(hm, msg, cJSON_IsString(view) ? view->valuestring : nullptr), "") << "msgpack";
      checked++;
    }
  }
  EXPECT_GT(checked, 100);
  sr_decoder_free(&d);
  cJSON_Delete(theirs);
  cJSON_Delete(ours);
}
