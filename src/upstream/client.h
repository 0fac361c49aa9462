// UpstreamClient: libcurl's multi interface driven by one worker's
// event_base. One client per worker; every transfer it runs belongs to a
// request on that worker. Keep-alive connections are pooled per client.
//
// Callbacks to a Listener come from the worker's loop. on_headers and
// on_body are called from inside libcurl: a listener must not cancel or
// start transfers there (return kAbort from on_body to stop one). on_done is
// called outside libcurl, exactly once, after which the transfer is gone.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

struct event_base;
struct event;
struct curl_slist;

namespace agd::upstream {

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // names lower-cased

struct Request {
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    const char* body = nullptr;        // must outlive the transfer
    size_t body_len = 0;
    std::string proxy;                 // "" = none
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds idle_timeout{300'000};  // no byte from upstream for this long = timeout
    bool post = true;
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

class Client;

// Handle of one running transfer. Owned by the Client; valid until on_done
// or cancel().
class Transfer {
public:
    void pause();
    void resume();
    void cancel();  // no callback follows; the handle is freed
    bool paused() const { return paused_; }

private:
    friend class Client;
    Transfer() = default;
    Client* client_ = nullptr;
    void* easy_ = nullptr;
    Listener* listener_ = nullptr;
    event* idle_timer_ = nullptr;
    std::chrono::milliseconds idle_timeout_{0};
    curl_slist* headers_ = nullptr;
    HeaderList response_headers_;
    bool headers_done_ = false;
    bool paused_ = false;
    bool timed_out_ = false;
    char errbuf_[256] = {};
};

class Client {
public:
    explicit Client(event_base* base);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts a transfer; returns nullptr (and no callback) if it cannot start.
    Transfer* start(const Request& req, Listener* listener);
    size_t active() const { return active_; }

private:
    friend class Transfer;
    struct Socket;
    static int on_socket(void* easy, int fd, int what, void* userp, void* socketp);
    static int on_timer(void* multi, long timeout_ms, void* userp);
    static void on_event(int fd, short events, void* arg);
    static void on_timeout(int fd, short events, void* arg);
    static void on_idle(int fd, short events, void* arg);
    static size_t on_header_line(char* data, size_t size, size_t n, void* userp);
    static size_t on_write(char* data, size_t size, size_t n, void* userp);
    static void deliver_headers(Transfer* t, long status);

    void drain_messages();
    void finish(Transfer* t, int code);
    void destroy(Transfer* t);
    void arm_idle(Transfer* t);

    event_base* base_;
    void* multi_;
    std::unordered_set<Transfer*> transfers_;
    static constexpr size_t kMaxIdleEasies = 64;
    std::vector<void*> idle_easies_;  // CURL* ready for reuse (curl_easy_reset)
    event* timer_;
    size_t active_ = 0;
};

}  // namespace agd::upstream
