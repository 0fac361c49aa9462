// upstream::Client: the worker's HTTP client toward the providers. One
// client per worker; every transfer it runs belongs to a request on that
// worker. It has two engines behind one interface:
//  - H1Engine (h1_engine.h): HTTP/1.1 over TCP, with its own pool of
//    kept-alive connections, each registered once with the worker's loop:
//    one write and one read per small request on a pooled connection; the
//    same over TLS for https upstreams with a TlsContext;
//  - CurlEngine (curl_engine.h): libcurl's multi interface, for everything
//    else (http_client = libcurl[-h2], proxies, hosts the asynchronous
//    resolver has not resolved yet, a scheme the environment names a proxy
//    for: http_proxy, https_proxy, all_proxy).
//
// Callbacks to a Listener come from the worker's loop. on_headers and
// on_body are called from inside an engine: a listener must not cancel or
// start transfers there (return kAbort from on_body to stop one). on_done is
// called outside the engine, exactly once, after which the transfer is gone.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct event_base;

namespace agd::upstream {

class TlsContext;

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // names lower-cased

// A request body that arrives while it is sent (a streamed upload). The
// engine sends what is ready and, once it has sent all of it, waits for
// Transfer::body_more(). Owned by the caller; outlives the transfer.
class BodySource {
public:
    virtual ~BodySource() = default;
    // The next bytes to send (empty: none yet); valid until sent() or the next call.
    virtual std::string_view ready() = 0;
    virtual void sent(size_t n) = 0;  // n bytes of ready() went out
    // From the first byte again (the request is sent again on a new
    // connection): false when the bytes sent are gone.
    virtual bool rewind() = 0;
};

struct Request {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    const char* body = nullptr;        // must outlive the transfer
    size_t body_len = 0;
    BodySource* source = nullptr;      // set: body_len bytes come from it, not from `body`
    std::string proxy;                 // "" = none
    std::string ca_file;               // https: certificates trusted besides the system store ("" = the store only)
    const TlsContext* tls = nullptr;   // https through the native engine: the context (ca_file's); null = libcurl
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds idle_timeout{300'000};  // no byte from upstream for this long = timeout
    bool post = true;
    bool native_ok = true;             // false: always through libcurl (provider http_client = libcurl[-h2])
    bool h2 = false;                   // libcurl: offer HTTP/2 over TLS (ALPN); else HTTP/1.1 only
};

enum class Outcome {
    Ok,          // complete response received
    ConnectFailed,
    Timeout,
    Reset,       // connection lost / protocol error mid-transfer
    Aborted,     // the listener returned kAbort
    Other,
};

class Listener {
public:
    static constexpr size_t kPause = static_cast<size_t>(-1) - 1;  // == CURL_WRITEFUNC_PAUSE semantics
    static constexpr size_t kAbort = 0;
    virtual ~Listener() = default;
    virtual void on_headers(long status, HeaderList&& headers) = 0;
    // Return len to accept, kPause to be called again with the same bytes after resume(), kAbort to stop.
    virtual size_t on_body(const char* data, size_t len) = 0;
    virtual void on_done(Outcome outcome, std::string_view message) = 0;
};

// Handle of one running transfer. Owned by its engine; valid until on_done
// or cancel().
class Transfer {
public:
    virtual void pause() = 0;
    // on_body may be called again from inside resume() (never on_done).
    virtual void resume() = 0;
    virtual void cancel() = 0;  // no callback follows; the handle is freed
    // The request's BodySource has more bytes ready (a failure it meets is
    // reported from the loop, never inside this call).
    virtual void body_more() = 0;
    bool paused() const { return paused_; }

protected:
    Transfer() = default;
    ~Transfer() = default;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;
    bool paused_ = false;
};

class CurlEngine;
class H1Engine;

class Client {
public:
    explicit Client(event_base* base);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts a transfer; returns nullptr (and no callback) if it cannot start.
    Transfer* start(const Request& req, Listener* listener);
    // Transfers running now.
    size_t active() const;

private:
    std::unique_ptr<H1Engine> h1_;
    std::unique_ptr<CurlEngine> curl_;
    bool http_proxy_ = false;   // the environment names a proxy for http:// (libcurl carries those)
    bool https_proxy_ = false;  // ... for https://
};

}  // namespace agd::upstream
