// The libsignalr side of the differential test (tests/differential/README.md): runs the same
// scenario list as dotnet/Program.cs through the public C ABI and prints the same JSON lines:
// {"scenario": NAME, "observed": OBSERVATION}.
//
// Usage: libsignalr_side --url URL --transport websockets|serversentevents|longpolling
//                        --protocol json|messagepack
//
// Arguments go in as JSON (SIGNALR_ENCODING_JSON) whatever the protocol; results, items and
// client-result arguments are read back as JSON (signalr_value_json). Errors are
// signalr_error_message() as is. Everything runs in a poll-mode context, on this thread.
#include <signalr/signalr.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

const int32_t kTimeoutMs = 20000;

std::string quote(const char *s) {
  if (s == nullptr) return "null";
  std::string o = "\"";
  for (const unsigned char *p = reinterpret_cast<const unsigned char *>(s); *p; ++p) {
    switch (*p) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (*p < 0x20) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", *p);
          o += b;
        } else {
          o += static_cast<char>(*p);
        }
    }
  }
  return o + "\"";
}

std::string value_json(const signalr_value *v) {
  if (v == nullptr) return "null";
  const char *j = nullptr;
  size_t n = 0;
  if (signalr_value_json(v, &j, &n) != 0 || j == nullptr) return "\"<signalr_value_json failed>\"";
  return std::string(j, n);
}

// The text of an error: the server's text where the library has one.
std::string error_text(const signalr_error *err) {
  if (err == nullptr) return "null";
  const char *m = signalr_error_message(err);
  return quote(m != nullptr && *m ? m : signalr_strerror(signalr_error_code(err)));
}

void emit(const char *scenario, const std::string &observed) {
  std::printf("{\"scenario\": %s, \"observed\": %s}\n", quote(scenario).c_str(), observed.c_str());
  std::fflush(stdout);
}

struct Client {
  signalr_context *ctx = nullptr;
  signalr_connection *conn = nullptr;
  bool closed = false;
  std::string close_text = "null";

  template <class F> bool poll_until(F done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      signalr_context_poll(ctx, 50);
    }
    return true;
  }
};

// The inner value of a one-element JSON array ("[41]" -> "41").
std::string first_arg(const signalr_value *args) {
  std::string a = value_json(args);
  size_t b = a.find('['), e = a.rfind(']');
  if (b == std::string::npos || e == std::string::npos || e <= b) return a;
  return a.substr(b + 1, e - b - 1);
}

thread_local std::string g_answer;

int on_get_value(void *, signalr_connection *, const signalr_value *args, const void **result,
                 size_t *result_len, int *result_encoding, const char **) {
  g_answer = quote(("got:" + first_arg(args)).c_str());
  *result = g_answer.data();
  *result_len = g_answer.size();
  *result_encoding = SIGNALR_ENCODING_JSON;
  return 0;
}

int on_echo_back(void *, signalr_connection *, const signalr_value *args, const void **result,
                 size_t *result_len, int *result_encoding, const char **) {
  g_answer = first_arg(args);
  *result = g_answer.data();
  *result_len = g_answer.size();
  *result_encoding = SIGNALR_ENCODING_JSON;
  return 0;
}

int on_fail(void *, signalr_connection *, const signalr_value *, const void **, size_t *, int *,
            const char **error) {
  *error = "client-boom";
  return SIGNALR_EHUB;
}

void on_lifecycle(void *ud, signalr_connection *, int event, const signalr_error *err) {
  auto *c = static_cast<Client *>(ud);
  if (event == SIGNALR_EVENT_CLOSED) {
    c->closed = true;
    c->close_text = error_text(err);
    if (err != nullptr)
      std::fprintf(stderr, "closed: %s (%s)\n", signalr_error_name(signalr_error_code(err)),
                   signalr_error_message(err));
  }
}

bool connect(Client &c, const std::string &url, const std::string &transport,
             const std::string &protocol) {
  if (signalr_context_new(&c.ctx, 0) != 0) return false;
  signalr_builder *b = nullptr;
  char errbuf[256] = "";
  signalr_builder_new(&b);
  if (signalr_builder_set(b, "url", url.c_str(), errbuf, sizeof errbuf) != 0 ||
      signalr_builder_set(b, "transports", transport.c_str(), errbuf, sizeof errbuf) != 0 ||
      signalr_builder_set(b, "protocol", protocol.c_str(), errbuf, sizeof errbuf) != 0) {
    std::fprintf(stderr, "builder: %s\n", errbuf);
    return false;
  }
  signalr_builder_set_lifecycle(b, on_lifecycle, &c, nullptr);
  int rc = signalr_builder_build(b, c.ctx, &c.conn, errbuf, sizeof errbuf);
  signalr_builder_free(b);
  if (rc != 0) {
    std::fprintf(stderr, "build: %s\n", errbuf);
    return false;
  }
  signalr_connection_on(c.conn, "GetValue", on_get_value, nullptr, nullptr, nullptr);
  signalr_connection_on(c.conn, "EchoBack", on_echo_back, nullptr, nullptr, nullptr);
  signalr_connection_on(c.conn, "Fail", on_fail, nullptr, nullptr, nullptr);
  signalr_error *err = nullptr;
  rc = signalr_connection_start_blocking(c.conn, kTimeoutMs, &err);
  if (rc != 0) {
    std::fprintf(stderr, "start failed: %s\n", err ? signalr_error_message(err) : signalr_strerror(rc));
    signalr_error_free(err);
    return false;
  }
  return true;
}

void disconnect(Client &c) {
  if (c.conn) signalr_connection_free(c.conn);
  if (c.ctx) signalr_context_free(c.ctx);
  c.conn = nullptr;
  c.ctx = nullptr;
}

struct Outcome {
  bool done = false;
  std::string observed;
};

void on_invoke_done(void *ud, signalr_connection *, const signalr_value *result,
                    const signalr_error *err) {
  auto *o = static_cast<Outcome *>(ud);
  o->observed = err ? "{\"error\": " + error_text(err) + "}" : "{\"result\": " + value_json(result) + "}";
  o->done = true;
}

void invoke(Client &c, const char *scenario, const char *method, const char *args) {
  Outcome o;
  int rc = signalr_connection_invoke(c.conn, method, args, std::strlen(args), SIGNALR_ENCODING_JSON,
                                     on_invoke_done, &o);
  if (rc != 0) {
    o.observed = "{\"error\": " + quote((std::string("invoke returned ") + signalr_strerror(rc)).c_str()) + "}";
  } else if (!c.poll_until([&] { return o.done; })) {
    o.observed = "{\"error\": \"TIMEOUT: no completion\"}";
  }
  emit(scenario, o.observed);
}

struct StreamState {
  std::vector<std::string> items;
  bool done = false;
  std::string error = "null";
};

void on_item(void *ud, signalr_connection *, const signalr_value *item) {
  static_cast<StreamState *>(ud)->items.push_back(value_json(item));
}

void on_stream_done(void *ud, signalr_connection *, const signalr_value *, const signalr_error *err) {
  auto *s = static_cast<StreamState *>(ud);
  s->error = error_text(err);
  s->done = true;
}

void stream(Client &c, const char *scenario, const char *method, const char *args) {
  StreamState s;
  int rc = signalr_connection_stream(c.conn, method, args, std::strlen(args), SIGNALR_ENCODING_JSON,
                                     on_item, on_stream_done, &s, nullptr);
  if (rc != 0) {
    s.error = quote((std::string("stream returned ") + signalr_strerror(rc)).c_str());
  } else if (!c.poll_until([&] { return s.done; })) {
    s.error = "\"TIMEOUT: stream did not end\"";
  }
  std::string items = "[";
  for (size_t i = 0; i < s.items.size(); ++i) items += (i ? ", " : "") + s.items[i];
  emit(scenario, "{\"items\": " + items + "], \"error\": " + s.error + "}");
}

bool close_scenario(const std::string &url, const std::string &transport, const std::string &protocol,
                    const char *scenario, const char *method, const char *args) {
  Client c;
  if (!connect(c, url, transport, protocol)) {
    disconnect(c);
    return false;
  }
  Outcome o;  // the invoke's own outcome is not compared: the close may overtake it
  if (signalr_connection_invoke(c.conn, method, args, std::strlen(args), SIGNALR_ENCODING_JSON,
                                on_invoke_done, &o) == 0) {
    c.poll_until([&] { return c.closed; });
  }
  emit(scenario, "{\"close\": " + (c.closed ? c.close_text : std::string("\"TIMEOUT: not closed\"")) + "}");
  disconnect(c);
  return true;
}

}  // namespace

int main(int argc, char **argv) {
  std::string url, transport, protocol;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--url") url = argv[i + 1];
    else if (k == "--transport") transport = argv[i + 1];
    else if (k == "--protocol") protocol = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (url.empty() || transport.empty() || protocol.empty()) {
    std::fprintf(stderr, "usage: libsignalr_side --url URL --transport T --protocol P\n");
    return 2;
  }
  const char *complex =
      R"({"Name":"n","Number":7,"Value":2.5,"Flag":true,"Items":["a","b"],"Map":{"k":1},"Nested":null})";
  const std::string complex_arg = std::string("[") + complex + "]";
  const std::string complex_cr = std::string(R"(["EchoBack", )") + complex + "]";

  Client c;
  if (!connect(c, url, transport, protocol)) {
    disconnect(c);
    return 1;
  }
  invoke(c, "echo_string", "Echo", R"(["hello \u00e9\u00e8 \"q\""])");
  invoke(c, "echo_int", "EchoInt", "[42]");
  invoke(c, "echo_negative_int", "EchoInt", "[-9007199254740993]");
  invoke(c, "echo_double", "EchoDouble", "[1.5]");
  invoke(c, "echo_bool", "EchoBool", "[true]");
  invoke(c, "echo_null", "EchoAny", "[null]");
  invoke(c, "echo_any_number", "EchoAny", "[42]");
  invoke(c, "echo_any_array", "EchoAny", R"([[1, "x", null, true]])");
  invoke(c, "echo_object", "EchoObject", complex_arg.c_str());
  invoke(c, "echo_null_returning", "EchoNull", "[]");
  invoke(c, "void_method", "NoReturn", "[]");
  invoke(c, "add", "Add", "[2, 3]");
  invoke(c, "hub_exception", "ThrowHubException", R"(["boom-hub"])");
  invoke(c, "other_exception", "Throw", R"(["boom-plain"])");
  invoke(c, "unknown_method", "NoSuchMethod", "[1]");
  invoke(c, "too_few_args", "Add", "[1]");
  invoke(c, "too_many_args", "Echo", R"(["a", "b"])");
  invoke(c, "wrong_arg_type", "EchoInt", R"(["not a number"])");
  stream(c, "stream_counter", "Counter", "[5, 0]");
  stream(c, "stream_empty", "EmptyStream", "[]");
  stream(c, "stream_then_fail", "StreamThenFail", R"([3, "stream-boom"])");
  stream(c, "stream_then_hub_exception", "StreamThenHubException", R"([2, "stream-hub-boom"])");
  stream(c, "stream_unknown_method", "NoSuchStream", "[]");
  stream(c, "stream_wrong_arg_count", "Counter", "[5]");
  stream(c, "stream_non_stream_method", "Echo", R"(["x"])");
  invoke(c, "invoke_stream_method", "Counter", "[2, 0]");
  invoke(c, "client_result", "GetClientResult", R"(["GetValue", 41])");
  invoke(c, "client_result_object", "GetClientResult", complex_cr.c_str());
  invoke(c, "client_result_error", "GetClientResult", R"(["Fail", 1])");
  invoke(c, "client_result_no_handler", "GetClientResult", R"(["NoSuchHandler", 1])");
  signalr_connection_stop_blocking(c.conn, kTimeoutMs);
  disconnect(c);
  // The same hub without EnableDetailedErrors (/hubs/test-nodetail).
  Client nd;
  if (!connect(nd, url + "-nodetail", transport, protocol)) {
    disconnect(nd);
    return 1;
  }
  invoke(nd, "nodetail_hub_exception", "ThrowHubException", R"(["boom-hub"])");
  invoke(nd, "nodetail_other_exception", "Throw", R"(["boom-plain"])");
  invoke(nd, "nodetail_wrong_arg_type", "EchoInt", R"(["not a number"])");
  stream(nd, "nodetail_stream_then_fail", "StreamThenFail", R"([3, "stream-boom"])");
  signalr_connection_stop_blocking(nd.conn, kTimeoutMs);
  disconnect(nd);
  if (!close_scenario(url, transport, protocol, "close_with_error_allow_reconnect", "CloseWithError",
                      R"(["bye-reconnect", true])"))
    return 1;
  if (!close_scenario(url, transport, protocol, "close_with_error", "CloseWithError", R"(["bye-error", false])"))
    return 1;
  if (!close_scenario(url, transport, protocol, "abort_connection", "AbortConnection", "[]")) return 1;
  return 0;
}
