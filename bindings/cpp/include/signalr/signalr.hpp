// signalr.hpp: a header-only C++17 API over libsignalr's C ABI (signalr.h).
//
// Ownership: signalr::context owns a signalr_context (shared with its runners and connections,
// freed when the last goes), signalr::connection a signalr_connection. Callbacks (handlers, completions, stream
// items, lifecycle events) run on the thread that polls the context (context::poll, or a
// signalr::runner), on the I/O thread only for a context made with direct = true.
// A std::future returned here is fulfilled by such a callback: something must poll.
#pragma once

#include <signalr/signalr.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace signalr {

enum class encoding : int { json = SIGNALR_ENCODING_JSON, messagepack = SIGNALR_ENCODING_MSGPACK };

enum class connection_state : int {
  disconnected = SIGNALR_STATE_DISCONNECTED,
  connecting = SIGNALR_STATE_CONNECTING,
  connected = SIGNALR_STATE_CONNECTED,
  reconnecting = SIGNALR_STATE_RECONNECTING,
  disconnecting = SIGNALR_STATE_DISCONNECTING,
};

// ------------------------------------------------------------------ error

// A libsignalr failure: code() is a SIGNALR_E* code (SIGNALR_EHUB for a hub method's exception,
// what() then the server's text).
class error : public std::runtime_error {
 public:
  error(int code, const std::string &message, int http_status = 0, std::string hint = {},
        bool allow_reconnect = false)
      : std::runtime_error(message),
        code_(code),
        http_status_(http_status),
        hint_(std::move(hint)),
        allow_reconnect_(allow_reconnect) {}

  // From a C error detail (borrowed); code when err is NULL.
  static error from(const signalr_error *err, int code) {
    if (!err) return error(code, message_for(code));
    const char *m = signalr_error_message(err);
    const char *h = signalr_error_hint(err);
    int c = signalr_error_code(err);
    return error(c, (m && *m) ? std::string(m) : message_for(c), signalr_error_http_status(err),
                 h ? std::string(h) : std::string(), signalr_error_allow_reconnect(err) != 0);
  }

  [[nodiscard]] int code() const noexcept { return code_; }
  [[nodiscard]] int http_status() const noexcept { return http_status_; }
  [[nodiscard]] const std::string &hint() const noexcept { return hint_; }
  [[nodiscard]] bool allow_reconnect() const noexcept { return allow_reconnect_; }
  // The code's name, e.g. "SIGNALR_EHUB".
  [[nodiscard]] const char *name() const noexcept { return signalr_error_name(code_); }

 private:
  static std::string message_for(int code) {
    const char *s = signalr_strerror(code);
    return s ? std::string(s) : std::string("signalr error ") + std::to_string(code);
  }
  int code_;
  int http_status_;
  std::string hint_;
  bool allow_reconnect_;
};

namespace detail {
inline void check(int rc, const char *what) {
  if (rc < 0) {
    const char *s = signalr_strerror(rc);
    throw error(rc, std::string(what) + ": " + (s ? s : "error"));
  }
}
inline void check_owned(int rc, signalr_error *err) {
  if (rc < 0 || err) {
    error e = error::from(err, rc < 0 ? rc : SIGNALR_EPROTO);
    signalr_error_free(err);
    throw e;
  }
}
inline std::exception_ptr to_exception(const signalr_error *err, int code) {
  return std::make_exception_ptr(error::from(err, code));
}

// Decodes one JSON string literal (with its quotes) to UTF-8; false when s is not one.
inline bool json_unquote(std::string_view s, std::string &out) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r')) --e;
  if (e - b < 2 || s[b] != '"' || s[e - 1] != '"') return false;
  out.clear();
  auto hex4 = [&](size_t i, uint32_t &cp) {
    if (i + 4 > e - 1) return false;
    cp = 0;
    for (size_t k = i; k < i + 4; ++k) {
      char c = s[k];
      cp <<= 4;
      if (c >= '0' && c <= '9') cp |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') cp |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') cp |= uint32_t(c - 'A' + 10);
      else return false;
    }
    return true;
  };
  for (size_t i = b + 1; i < e - 1; ++i) {
    char c = s[i];
    if (c == '"') return false;
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= e - 1) return false;
    switch (s[i]) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        uint32_t cp;
        if (!hex4(i + 1, cp)) return false;
        i += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
          uint32_t lo;
          if (i + 2 < e - 1 && s[i + 1] == '\\' && s[i + 2] == 'u' && hex4(i + 3, lo) && lo >= 0xDC00 &&
              lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp < 0xE000) {
          cp = 0xFFFD;
        }
        if (cp < 0x80) {
          out.push_back(char(cp));
        } else if (cp < 0x800) {
          out.push_back(char(0xC0 | (cp >> 6)));
          out.push_back(char(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
          out.push_back(char(0xE0 | (cp >> 12)));
          out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
          out.push_back(char(0x80 | (cp & 0x3F)));
        } else {
          out.push_back(char(0xF0 | (cp >> 18)));
          out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
          out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
          out.push_back(char(0x80 | (cp & 0x3F)));
        }
        break;
      }
      default: return false;
    }
  }
  return true;
}
}  // namespace detail

// ------------------------------------------------------------------ value

// A hub value (arguments, a result, a stream item) in an encoding: JSON text or MessagePack
// bytes. Owns a copy of its bytes.
class value {
 public:
  // JSON null.
  value() : enc_(encoding::json), bytes_("null") {}
  // Copies a received (borrowed) value; NULL gives null.
  explicit value(const signalr_value *v) : value() {
    if (!v) return;
    size_t len = 0;
    const uint8_t *d = signalr_value_data(v, &len);
    enc_ = signalr_value_encoding(v) == SIGNALR_ENCODING_MSGPACK ? encoding::messagepack : encoding::json;
    bytes_.assign(d ? reinterpret_cast<const char *>(d) : "", d ? len : 0);
  }
  [[nodiscard]] static value from_json(std::string json) { return value(encoding::json, std::move(json)); }
  [[nodiscard]] static value from_messagepack(std::string bytes) {
    return value(encoding::messagepack, std::move(bytes));
  }
  // A JSON string value holding s (escaped).
  [[nodiscard]] static value from_string(std::string_view s) {
    std::string j = "\"";
    for (char c : s) {
      unsigned char u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        j.push_back('\\');
        j.push_back(c);
      } else if (u < 0x20) {
        static const char hex[] = "0123456789abcdef";
        j += "\\u00";
        j.push_back(hex[u >> 4]);
        j.push_back(hex[u & 15]);
      } else {
        j.push_back(c);
      }
    }
    j.push_back('"');
    return from_json(std::move(j));
  }

  [[nodiscard]] encoding get_encoding() const noexcept { return enc_; }
  // The bytes in their encoding (JSON text or MessagePack).
  [[nodiscard]] const std::string &bytes() const noexcept { return bytes_; }
  // The value as JSON text (converted from MessagePack when needed).
  [[nodiscard]] std::string json() const {
    if (enc_ == encoding::json) return bytes_;
    char *out = nullptr;
    size_t len = 0;
    detail::check(signalr_msgpack_to_json(reinterpret_cast<const uint8_t *>(bytes_.data()), bytes_.size(),
                                          &out, &len),
                  "signalr_msgpack_to_json");
    std::string s(out, len);
    signalr_free(out);
    return s;
  }
  [[nodiscard]] bool is_null() const { return json() == "null"; }
  // The value of a JSON string, unquoted; signalr::error (SIGNALR_EENCODING) for another value.
  [[nodiscard]] std::string as_string() const {
    std::string out;
    if (!detail::json_unquote(json(), out)) throw error(SIGNALR_EENCODING, "the value is not a string");
    return out;
  }

 private:
  value(encoding e, std::string b) : enc_(e), bytes_(std::move(b)) {}
  encoding enc_;
  std::string bytes_;
};

// ------------------------------------------------------------------ context

namespace detail {
// The signalr_context, shared by the context object, its runners and its connections: it is
// freed when the last of them goes, so their order of destruction does not matter.
struct ctx_core {
  signalr_context *raw = nullptr;
  ~ctx_core() {
    if (raw) (void)signalr_context_free(raw);
  }
};
}  // namespace detail

// The event context: one I/O thread shared by its connections. Move-only. The C context is
// freed when the context, its runners and its connections are all gone.
class context {
 public:
  // direct: callbacks run on the I/O thread (must not block); otherwise through poll().
  explicit context(bool direct = false) : core_(std::make_shared<detail::ctx_core>()) {
    detail::check(signalr_context_new(&core_->raw, direct ? SIGNALR_CONTEXT_DIRECT : 0), "signalr_context_new");
  }
  context(const context &) = delete;
  context &operator=(const context &) = delete;
  context(context &&) noexcept = default;
  context &operator=(context &&) noexcept = default;

  // Runs queued callbacks on this thread, waiting up to timeout (negative: no limit) for the
  // first; returns how many ran. One thread at a time; not from a callback.
  int poll(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    auto ms = timeout.count();
    int32_t t = ms < 0 ? -1 : ms > INT32_MAX ? INT32_MAX : static_cast<int32_t>(ms);
    int rc = signalr_context_poll(raw(), t);
    detail::check(rc, "signalr_context_poll");
    return rc;
  }
  // Makes a waiting poll() return. Thread-safe.
  void interrupt() { (void)signalr_context_interrupt(raw()); }
  // Readable while events are queued (for event loops).
  [[nodiscard]] int wakeup_fd() const { return signalr_context_wakeup_fd(raw()); }
  [[nodiscard]] signalr_context *native_handle() const noexcept { return core_ ? core_->raw : nullptr; }
  [[nodiscard]] const std::shared_ptr<detail::ctx_core> &core() const noexcept { return core_; }

 private:
  signalr_context *raw() const {
    if (!core_) throw error(SIGNALR_EINVAL, "the context was moved from");
    return core_->raw;
  }
  std::shared_ptr<detail::ctx_core> core_;
};

// Polls a context on a thread of its own until destroyed (callbacks then run there).
// Not to be destroyed from one of its own callbacks.
class runner {
 public:
  explicit runner(context &ctx) : ctx_(ctx.core()) {
    if (!ctx_) throw error(SIGNALR_EINVAL, "the context was moved from");
    thread_ = std::thread([this] { run(); });
  }
  ~runner() {
    stop_.store(true);
    (void)signalr_context_interrupt(ctx_->raw);
    if (thread_.joinable()) thread_.join();
  }
  runner(const runner &) = delete;
  runner &operator=(const runner &) = delete;

 private:
  void run() {
    while (!stop_.load()) {
      if (signalr_context_poll(ctx_->raw, 50) < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::shared_ptr<detail::ctx_core> ctx_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ------------------------------------------------------------------ connection internals

namespace detail {
// The connection pointer shared with subscriptions and stream handles, which may outlive it.
struct conn_core {
  std::mutex mu;
  signalr_connection *raw = nullptr;
  template <class F>
  int with(F &&f) {
    std::lock_guard<std::mutex> g(mu);
    return raw ? f(raw) : SIGNALR_ECLOSED;
  }
};

struct lifecycle_slots {
  std::mutex mu;
  std::function<void(std::exception_ptr)> closed;
  std::function<void(std::exception_ptr)> reconnecting;
  std::function<void()> reconnected;
  std::function<void()> connected;
  std::function<void(int, const signalr_error *)> any;
};

inline void lifecycle_trampoline(void *ud, signalr_connection *, int event, const signalr_error *err) noexcept {
  auto &slots = **static_cast<std::shared_ptr<lifecycle_slots> *>(ud);
  std::function<void(std::exception_ptr)> with_err;
  std::function<void()> plain;
  std::function<void(int, const signalr_error *)> any;
  {
    std::lock_guard<std::mutex> g(slots.mu);
    any = slots.any;
    if (event == SIGNALR_EVENT_CLOSED) with_err = slots.closed;
    else if (event == SIGNALR_EVENT_RECONNECTING) with_err = slots.reconnecting;
    else if (event == SIGNALR_EVENT_RECONNECTED) plain = slots.reconnected;
    else if (event == SIGNALR_EVENT_CONNECTED) plain = slots.connected;
  }
  try {
    if (any) any(event, err);
    if (with_err) with_err(err ? to_exception(err, SIGNALR_ECLOSED) : nullptr);
    if (plain) plain();
  } catch (...) {
    // Nothing may cross the C boundary.
  }
}
inline void free_lifecycle(void *ud) noexcept { delete static_cast<std::shared_ptr<lifecycle_slots> *>(ud); }

inline void void_completion(void *ud, signalr_connection *, const signalr_value *, const signalr_error *err) noexcept {
  std::unique_ptr<std::promise<void>> p(static_cast<std::promise<void> *>(ud));
  try {
    if (err) p->set_exception(to_exception(err, SIGNALR_EPROTO));
    else p->set_value();
  } catch (...) {
  }
}
inline void value_completion(void *ud, signalr_connection *, const signalr_value *result,
                             const signalr_error *err) noexcept {
  std::unique_ptr<std::promise<value>> p(static_cast<std::promise<value> *>(ud));
  try {
    if (err) p->set_exception(to_exception(err, SIGNALR_EPROTO));
    else p->set_value(value(result));
  } catch (...) {
  }
}
using invoke_callback = std::function<void(const value &, std::exception_ptr)>;
inline void callback_completion(void *ud, signalr_connection *, const signalr_value *result,
                                const signalr_error *err) noexcept {
  std::unique_ptr<invoke_callback> cb(static_cast<invoke_callback *>(ud));
  try {
    if (err) (*cb)(value(), to_exception(err, SIGNALR_EPROTO));
    else (*cb)(value(result), nullptr);
  } catch (...) {
  }
}

using handler_fn = std::function<std::optional<value>(const value &)>;
struct handler_answer {
  std::string bytes, message;
};
inline handler_answer &answer_buffer() {
  thread_local handler_answer a;
  return a;
}
inline int handler_trampoline(void *ud, signalr_connection *, const signalr_value *args, const void **result,
                              size_t *result_len, int *result_encoding, const char **err) noexcept {
  // Held by a reference of its own: the handler may destroy its own connection (and with it
  // the registration) while it runs.
  std::shared_ptr<handler_fn> fn = *static_cast<std::shared_ptr<handler_fn> *>(ud);
  handler_answer &a = answer_buffer();
  try {
    std::optional<value> r = (*fn)(value(args));
    if (r) {
      a.bytes = r->bytes();
      *result = a.bytes.data();
      *result_len = a.bytes.size();
      *result_encoding = static_cast<int>(r->get_encoding());
    }
    return 0;
  } catch (const std::exception &e) {
    a.message = e.what();
  } catch (...) {
    a.message = "the client handler threw";
  }
  *err = a.message.c_str();
  return SIGNALR_EHUB;
}
inline void free_handler(void *ud) noexcept { delete static_cast<std::shared_ptr<handler_fn> *>(ud); }

struct stream_state {
  std::function<void(const value &)> on_item;
  std::function<void(std::exception_ptr)> on_done;
};
inline void stream_item(void *ud, signalr_connection *, const signalr_value *item) noexcept {
  auto *s = static_cast<stream_state *>(ud);
  try {
    if (s->on_item) s->on_item(value(item));
  } catch (...) {
  }
}
inline void stream_done(void *ud, signalr_connection *, const signalr_value *, const signalr_error *err) noexcept {
  std::unique_ptr<stream_state> s(static_cast<stream_state *>(ud));
  try {
    if (s->on_done) s->on_done(err ? to_exception(err, SIGNALR_EPROTO) : nullptr);
  } catch (...) {
  }
}
}  // namespace detail

// A registered handler; unregisters it when destroyed (or on reset()). Move-only. May
// outlive its connection (then does nothing).
class [[nodiscard]] subscription {
 public:
  subscription() = default;
  subscription(std::weak_ptr<detail::conn_core> core, uint64_t handle) : core_(std::move(core)), handle_(handle) {}
  ~subscription() { reset(); }
  subscription(const subscription &) = delete;
  subscription &operator=(const subscription &) = delete;
  subscription(subscription &&o) noexcept : core_(std::move(o.core_)), handle_(std::exchange(o.handle_, 0)) {}
  subscription &operator=(subscription &&o) noexcept {
    if (this != &o) {
      reset();
      core_ = std::move(o.core_);
      handle_ = std::exchange(o.handle_, 0);
    }
    return *this;
  }
  // Unregisters now.
  void reset() noexcept {
    if (auto c = core_.lock()) {
      if (handle_) c->with([&](signalr_connection *raw) { return signalr_connection_off(raw, handle_); });
    }
    core_.reset();
    handle_ = 0;
  }
  // Keeps the handler for the connection's lifetime.
  void release() noexcept {
    core_.reset();
    handle_ = 0;
  }
  [[nodiscard]] uint64_t handle() const noexcept { return handle_; }

 private:
  std::weak_ptr<detail::conn_core> core_;
  uint64_t handle_ = 0;
};

// Identifies a running server-to-client stream for cancel(). Destroying it does not cancel.
class stream_handle {
 public:
  stream_handle() = default;
  stream_handle(std::weak_ptr<detail::conn_core> core, uint64_t handle) : core_(std::move(core)), handle_(handle) {}
  // Sends CancelInvocation; on_done then runs with SIGNALR_ECANCELED (unless already ended).
  void cancel() const {
    auto c = core_.lock();
    int rc = c ? c->with([&](signalr_connection *raw) { return signalr_connection_stream_cancel(raw, handle_); })
               : SIGNALR_ECLOSED;
    detail::check(rc, "signalr_connection_stream_cancel");
  }
  [[nodiscard]] uint64_t handle() const noexcept { return handle_; }

 private:
  std::weak_ptr<detail::conn_core> core_;
  uint64_t handle_ = 0;
};

// A client-to-server (upload) stream: the official clients' ChannelWriter / IAsyncEnumerable
// argument. Open it with connection::upload(), attach it to one call (the *_with_uploads
// members: the hub method receives it after the arguments), then write items and complete it.
// write() never blocks: signalr::error with SIGNALR_EAGAIN when the outgoing buffer is full
// (nothing accepted: write again after SIGNALR_EVENT_WRITABLE, see on_event). Thread-safe.
// Destroying an upload that was not completed completes it with an error, so that the hub
// method does not wait forever.
class upload_stream {
 public:
  upload_stream() = default;
  upload_stream(std::weak_ptr<detail::conn_core> core, uint64_t handle) : core_(std::move(core)), handle_(handle) {}
  upload_stream(const upload_stream &) = delete;
  upload_stream &operator=(const upload_stream &) = delete;
  upload_stream(upload_stream &&o) noexcept : core_(std::move(o.core_)), handle_(std::exchange(o.handle_, 0)) {}
  upload_stream &operator=(upload_stream &&o) noexcept {
    if (this != &o) {
      abandon();
      core_ = std::move(o.core_);
      handle_ = std::exchange(o.handle_, 0);
    }
    return *this;
  }
  ~upload_stream() { abandon(); }

  // One item: a single value (not an array), JSON text or MessagePack bytes.
  void write(const value &item) {
    detail::check(call([&](signalr_connection *raw) {
                    return signalr_connection_upload_write(raw, handle_, item.bytes().data(), item.bytes().size(),
                                                           static_cast<int>(item.get_encoding()));
                  }),
                  "upload write");
  }
  void write_json(std::string_view json) { write(value::from_json(std::string(json))); }
  // Ends the stream normally; fail(message) ends it with an error the hub method observes.
  void complete() { finish(nullptr); }
  void fail(std::string_view message) {
    std::string m(message);
    finish(m.c_str());
  }
  [[nodiscard]] uint64_t handle() const noexcept { return handle_; }

 private:
  template <class F>
  int call(F &&f) const {
    auto c = core_.lock();
    if (!handle_) return SIGNALR_ESTATE;
    return c ? c->with(std::forward<F>(f)) : SIGNALR_ECLOSED;
  }
  void finish(const char *error) {
    int rc = call([&](signalr_connection *raw) { return signalr_connection_upload_complete(raw, handle_, error); });
    handle_ = 0;
    detail::check(rc, "upload complete");
  }
  void abandon() noexcept {
    if (!handle_) return;
    call([&](signalr_connection *raw) {
      return signalr_connection_upload_complete(raw, handle_, "the client abandoned the upload stream");
    });
    handle_ = 0;
  }
  std::weak_ptr<detail::conn_core> core_;
  uint64_t handle_ = 0;
};

// ------------------------------------------------------------------ connection

// A hub connection (from hub_connection_builder::build). Move-only; destroying it stops it
// and completes every pending operation with SIGNALR_ECLOSED (on the destroying thread).
class connection {
 public:
  connection(signalr_connection *raw, std::shared_ptr<detail::lifecycle_slots> slots,
             std::shared_ptr<detail::ctx_core> ctx)
      : core_(std::make_shared<detail::conn_core>()), slots_(std::move(slots)), ctx_(std::move(ctx)) {
    core_->raw = raw;
  }
  ~connection() { reset(); }
  connection(const connection &) = delete;
  connection &operator=(const connection &) = delete;
  connection(connection &&) noexcept = default;
  connection &operator=(connection &&o) noexcept {
    if (this != &o) {
      reset();
      core_ = std::move(o.core_);
      slots_ = std::move(o.slots_);
      ctx_ = std::move(o.ctx_);
    }
    return *this;
  }
  // Frees the connection now (as the destructor does).
  void reset() noexcept {
    if (!core_) return;
    signalr_connection *raw;
    {
      std::lock_guard<std::mutex> g(core_->mu);
      raw = std::exchange(core_->raw, nullptr);
    }
    core_.reset();
    if (raw) signalr_connection_free(raw);
    ctx_.reset();  // the last owner frees the context
  }

  [[nodiscard]] std::future<void> start() {
    auto p = std::make_unique<std::promise<void>>();
    auto f = p->get_future();
    detail::check(signalr_connection_start(raw(), detail::void_completion, p.get()), "start");
    p.release();
    return f;
  }
  void start_blocking(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1)) {
    signalr_error *err = nullptr;
    detail::check_owned(signalr_connection_start_blocking(raw(), ms(timeout), &err), err);
  }
  [[nodiscard]] std::future<void> stop() {
    auto p = std::make_unique<std::promise<void>>();
    auto f = p->get_future();
    detail::check(signalr_connection_stop(raw(), detail::void_completion, p.get()), "stop");
    p.release();
    return f;
  }
  void stop_blocking(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1)) {
    detail::check(signalr_connection_stop_blocking(raw(), ms(timeout)), "stop");
  }

  // Calls a hub method; args is a JSON array ("[1, \"a\"]").
  [[nodiscard]] std::future<value> invoke(std::string_view method, std::string_view json_args = "[]") {
    return invoke(method, value::from_json(std::string(json_args)));
  }
  // args: an array in either encoding (value::from_json / from_messagepack).
  [[nodiscard]] std::future<value> invoke(std::string_view method, const value &args) {
    return invoke_with_uploads(method, args, {});
  }
  // As Microsoft's client: callback(result, nullptr) or callback(null, exception).
  void invoke(std::string_view method, std::string_view json_args,
              std::function<void(const value &, std::exception_ptr)> callback) {
    auto cb = std::make_unique<detail::invoke_callback>(std::move(callback));
    std::string m(method);
    detail::check(signalr_connection_invoke(raw(), m.c_str(), json_args.data(), json_args.size(),
                                            SIGNALR_ENCODING_JSON, detail::callback_completion, cb.get()),
                  "invoke");
    cb.release();
  }
  // Calls and waits (no polling needed). The result is JSON when args are JSON.
  [[nodiscard]] value invoke_blocking(std::string_view method, std::string_view json_args = "[]",
                                      std::chrono::milliseconds timeout = std::chrono::milliseconds(-1)) {
    return invoke_blocking(method, value::from_json(std::string(json_args)), timeout);
  }
  [[nodiscard]] value invoke_blocking(std::string_view method, const value &args,
                                      std::chrono::milliseconds timeout = std::chrono::milliseconds(-1)) {
    void *res = nullptr;
    size_t len = 0;
    signalr_error *err = nullptr;
    std::string m(method);
    int rc = signalr_connection_invoke_blocking(raw(), m.c_str(), args.bytes().data(), args.bytes().size(),
                                                static_cast<int>(args.get_encoding()), ms(timeout), &res, &len, &err);
    if (rc < 0) {
      signalr_free(res);
      detail::check_owned(rc, err);
    }
    if (!res) return value();
    std::string bytes(static_cast<const char *>(res), len);
    signalr_free(res);
    return args.get_encoding() == encoding::messagepack ? value::from_messagepack(std::move(bytes))
                                                        : value::from_json(std::move(bytes));
  }

  // Fire and forget (SendAsync without awaiting): throws when not accepted (SIGNALR_ESTATE
  // when not connected, SIGNALR_EAGAIN when the outgoing buffer is full).
  void send(std::string_view method, std::string_view json_args = "[]") {
    send(method, value::from_json(std::string(json_args)));
  }
  void send(std::string_view method, const value &args) { send_with_uploads(method, args, {}); }
  // Send with a completion: fulfilled once the message was handed to the transport.
  [[nodiscard]] std::future<void> send_async(std::string_view method, std::string_view json_args = "[]") {
    auto p = std::make_unique<std::promise<void>>();
    auto f = p->get_future();
    std::string m(method);
    detail::check(signalr_connection_send_with_completion(raw(), m.c_str(), json_args.data(), json_args.size(),
                                                          SIGNALR_ENCODING_JSON, detail::void_completion, p.get()),
                  "send");
    p.release();
    return f;
  }

  // Registers a handler for a client method. fn(args) gets the arguments array; it returns
  // void, or std::optional<value> to answer a server call that expects a result (client
  // results); an exception it throws is sent as the error. Unregistered when the returned
  // subscription is destroyed.
  template <class F>
  [[nodiscard]] subscription on(std::string_view method, F &&fn) {
    using R = std::invoke_result_t<F &, const value &>;
    detail::handler_fn h;
    if constexpr (std::is_void_v<R>) {
      h = [f = std::forward<F>(fn)](const value &a) mutable -> std::optional<value> {
        f(a);
        return std::nullopt;
      };
    } else {
      h = std::forward<F>(fn);
    }
    auto ud = std::make_unique<std::shared_ptr<detail::handler_fn>>(std::make_shared<detail::handler_fn>(std::move(h)));
    uint64_t handle = 0;
    std::string m(method);
    int rc = signalr_connection_on(raw(), m.c_str(), detail::handler_trampoline, ud.get(), detail::free_handler, &handle);
    detail::check(rc, "on");
    ud.release();
    return subscription(core_, handle);
  }

  // Starts a server-to-client stream: on_item for each item, on_done once at the end
  // (nullptr when it completed; else the error, SIGNALR_ECANCELED after cancel()).
  [[nodiscard]] stream_handle stream(std::string_view method, std::string_view json_args,
                                     std::function<void(const value &)> on_item,
                                     std::function<void(std::exception_ptr)> on_done) {
    return stream(method, value::from_json(std::string(json_args)), std::move(on_item), std::move(on_done));
  }
  // args: an array in either encoding.
  [[nodiscard]] stream_handle stream(std::string_view method, const value &args,
                                     std::function<void(const value &)> on_item,
                                     std::function<void(std::exception_ptr)> on_done) {
    return stream_with_uploads(method, args, {}, std::move(on_item), std::move(on_done));
  }

  // A new upload stream, to attach to one call below.
  [[nodiscard]] upload_stream upload() {
    uint64_t h = 0;
    detail::check(signalr_connection_upload_open(raw(), &h), "upload open");
    return upload_stream(core_, h);
  }
  // invoke / send / stream with upload streams attached (each to one call only; none: the
  // plain calls above).
  [[nodiscard]] std::future<value> invoke_with_uploads(std::string_view method, const value &args,
                                                       std::initializer_list<const upload_stream *> uploads) {
    auto hs = handles(uploads);
    auto p = std::make_unique<std::promise<value>>();
    auto f = p->get_future();
    std::string m(method);
    detail::check(signalr_connection_invoke_with_uploads(raw(), m.c_str(), args.bytes().data(), args.bytes().size(),
                                                         static_cast<int>(args.get_encoding()), hs.data(), hs.size(),
                                                         detail::value_completion, p.get()),
                  "invoke");
    p.release();
    return f;
  }
  void send_with_uploads(std::string_view method, const value &args,
                         std::initializer_list<const upload_stream *> uploads) {
    auto hs = handles(uploads);
    std::string m(method);
    detail::check(signalr_connection_send_with_uploads(raw(), m.c_str(), args.bytes().data(), args.bytes().size(),
                                                       static_cast<int>(args.get_encoding()), hs.data(), hs.size()),
                  "send");
  }
  [[nodiscard]] stream_handle stream_with_uploads(std::string_view method, const value &args,
                                                  std::initializer_list<const upload_stream *> uploads,
                                                  std::function<void(const value &)> on_item,
                                                  std::function<void(std::exception_ptr)> on_done) {
    auto hs = handles(uploads);
    auto st = std::make_unique<detail::stream_state>();
    st->on_item = std::move(on_item);
    st->on_done = std::move(on_done);
    uint64_t handle = 0;
    std::string m(method);
    detail::check(signalr_connection_stream_with_uploads(raw(), m.c_str(), args.bytes().data(), args.bytes().size(),
                                                         static_cast<int>(args.get_encoding()), hs.data(), hs.size(),
                                                         detail::stream_item, detail::stream_done, st.get(), &handle),
                  "stream");
    st.release();
    return stream_handle(core_, handle);
  }

  // Lifecycle callbacks (replacing the previous one; run on the polling thread).
  // on_closed(nullptr) after stop() or a server Close without an error (as the official
  // clients), on_closed(error) when the connection was lost for good.
  void on_closed(std::function<void(std::exception_ptr)> f) { set(&detail::lifecycle_slots::closed, std::move(f)); }
  void on_reconnecting(std::function<void(std::exception_ptr)> f) {
    set(&detail::lifecycle_slots::reconnecting, std::move(f));
  }
  void on_reconnected(std::function<void()> f) { set(&detail::lifecycle_slots::reconnected, std::move(f)); }
  void on_connected(std::function<void()> f) { set(&detail::lifecycle_slots::connected, std::move(f)); }
  // Every SIGNALR_EVENT_* (err borrowed, may be NULL).
  void on_event(std::function<void(int, const signalr_error *)> f) { set(&detail::lifecycle_slots::any, std::move(f)); }

  [[nodiscard]] connection_state state() const { return static_cast<connection_state>(signalr_connection_state(raw())); }
  [[nodiscard]] std::string connection_id() const {
    char buf[256] = {0};
    detail::check(signalr_connection_id(raw(), buf, sizeof buf), "connection_id");
    return buf;
  }
  [[nodiscard]] signalr_connection *native_handle() const noexcept { return core_ ? core_->raw : nullptr; }

 private:
  signalr_connection *raw() const {
    signalr_connection *r = native_handle();
    if (!r) throw error(SIGNALR_EINVAL, "the connection was moved from or reset");
    return r;
  }
  static int32_t ms(std::chrono::milliseconds t) {
    auto v = t.count();
    return v < 0 ? -1 : v > INT32_MAX ? INT32_MAX : static_cast<int32_t>(v);
  }
  static std::vector<uint64_t> handles(std::initializer_list<const upload_stream *> uploads) {
    std::vector<uint64_t> hs;
    for (const upload_stream *u : uploads) hs.push_back(u ? u->handle() : 0);
    return hs;
  }
  template <class M, class F>
  void set(M member, F f) {
    std::lock_guard<std::mutex> g(slots_->mu);
    (*slots_).*member = std::move(f);
  }
  std::shared_ptr<detail::conn_core> core_;
  std::shared_ptr<detail::lifecycle_slots> slots_;
  std::shared_ptr<detail::ctx_core> ctx_;
};

// ------------------------------------------------------------------ builder

// Builds connections, in the official clients' words:
//   auto conn = signalr::hub_connection_builder().with_url(url).with_automatic_reconnect().build(ctx);
class hub_connection_builder {
 public:
  hub_connection_builder() = default;
  hub_connection_builder &with_url(std::string url) { return with_option("url", std::move(url)); }
  hub_connection_builder &with_automatic_reconnect() { return with_option("reconnect", "true"); }
  // Delays before each reconnect attempt.
  hub_connection_builder &with_automatic_reconnect(const std::vector<std::chrono::milliseconds> &delays) {
    std::string list;
    for (auto d : delays) list += (list.empty() ? "" : ",") + std::to_string(d.count());
    with_option("reconnect", "true");
    return with_option("reconnect_delays_ms", std::move(list));
  }
  hub_connection_builder &with_messagepack() { return with_option("protocol", "messagepack"); }
  hub_connection_builder &with_json() { return with_option("protocol", "json"); }
  // "websockets", "serversentevents", "longpolling", comma-separated.
  hub_connection_builder &with_transports(std::string list) { return with_option("transports", std::move(list)); }
  hub_connection_builder &with_stateful_reconnect() { return with_option("stateful_reconnect", "true"); }
  hub_connection_builder &with_skip_negotiation() { return with_option("skip_negotiation", "true"); }
  // An HTTP header on every request (repeat for more).
  hub_connection_builder &with_header(const std::string &name, const std::string &value) {
    return with_option("header", name + ": " + value);
  }
  hub_connection_builder &with_access_token(std::string token) { return with_option("access_token", std::move(token)); }
  hub_connection_builder &with_handshake_timeout(std::chrono::milliseconds t) {
    return with_option("handshake_timeout_ms", std::to_string(t.count()));
  }
  hub_connection_builder &with_server_timeout(std::chrono::milliseconds t) {
    return with_option("server_timeout_ms", std::to_string(t.count()));
  }
  hub_connection_builder &with_keepalive_interval(std::chrono::milliseconds t) {
    return with_option("keep_alive_interval_ms", std::to_string(t.count()));
  }
  // Any libsignalr option (signalr_option_next lists them); checked at build().
  hub_connection_builder &with_option(std::string key, std::string value) {
    options_.emplace_back(std::move(key), std::move(value));
    return *this;
  }

  // Makes a (disconnected) connection on ctx. signalr::error (SIGNALR_EINVAL) for a bad option.
  [[nodiscard]] connection build(context &ctx) const {
    signalr_builder *b = nullptr;
    detail::check(signalr_builder_new(&b), "signalr_builder_new");
    std::unique_ptr<signalr_builder, void (*)(signalr_builder *)> guard(b, signalr_builder_free);
    char errbuf[512];
    for (const auto &kv : options_) {
      errbuf[0] = 0;
      int rc = signalr_builder_set(b, kv.first.c_str(), kv.second.c_str(), errbuf, sizeof errbuf);
      if (rc < 0) throw error(rc, errbuf[0] ? std::string(errbuf) : "option " + kv.first + ": invalid");
    }
    auto slots = std::make_shared<detail::lifecycle_slots>();
    auto *ud = new std::shared_ptr<detail::lifecycle_slots>(slots);
    int rc = signalr_builder_set_lifecycle(b, detail::lifecycle_trampoline, ud, detail::free_lifecycle);
    if (rc < 0) {
      delete ud;
      detail::check(rc, "signalr_builder_set_lifecycle");
    }
    signalr_connection *raw = nullptr;
    errbuf[0] = 0;
    if (!ctx.native_handle()) throw error(SIGNALR_EINVAL, "the context was moved from");
    rc = signalr_builder_build(b, ctx.native_handle(), &raw, errbuf, sizeof errbuf);
    if (rc < 0) throw error(rc, errbuf[0] ? std::string(errbuf) : std::string("build failed"));
    return connection(raw, std::move(slots), ctx.core());
  }

 private:
  std::vector<std::pair<std::string, std::string>> options_;
};

}  // namespace signalr
