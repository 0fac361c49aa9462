// CurlEngine: libcurl's multi interface driven by one worker's event_base
// (see client.h for where it serves). Keep-alive connections are pooled by
// libcurl, per engine.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "upstream/client.h"

struct event;
struct curl_slist;

namespace agd::upstream {

class CurlEngine;

class CurlTransfer final : public Transfer {
public:
    void pause() override;
    void resume() override;
    void cancel() override;
    void body_more() override;

private:
    friend class CurlEngine;
    CurlEngine* engine_ = nullptr;
    void* easy_ = nullptr;
    Listener* listener_ = nullptr;
    event* idle_timer_ = nullptr;
    std::chrono::milliseconds idle_timeout_{0};
    curl_slist* headers_ = nullptr;
    HeaderList response_headers_;
    BodySource* source_ = nullptr;  // a streamed body
    bool send_paused_ = false;      // the read callback found no byte ready: waits for body_more()
    bool headers_done_ = false;
    bool timed_out_ = false;
    // HTTP/2 through a libcurl that mishandles an answer completed before
    // the request was sent whole (see CurlEngine::check_complete): the
    // answer's declared length and the body bytes the listener took tell
    // when it is complete.
    bool watch_length_ = false;
    long long content_length_ = -1;  // -1: not known (not HTTP/2, or no content-length)
    long long delivered_ = 0;
    long long upload_len_ = 0;
    bool complete_ = false;     // every declared byte delivered
    bool finish_soon_ = false;  // complete while the request is still being sent: finished from the loop
    char errbuf_[256] = {};
};

class CurlEngine {
public:
    explicit CurlEngine(event_base* base);
    ~CurlEngine();
    CurlEngine(const CurlEngine&) = delete;
    CurlEngine& operator=(const CurlEngine&) = delete;

    Transfer* start(const Request& req, Listener* listener);
    size_t active() const { return active_; }

private:
    friend class CurlTransfer;
    struct Socket;
    static int on_socket(void* easy, int fd, int what, void* userp, void* socketp);
    static int on_timer(void* multi, long timeout_ms, void* userp);
    static void on_event(int fd, short events, void* arg);
    static void on_timeout(int fd, short events, void* arg);
    static void on_idle(int fd, short events, void* arg);
    static size_t on_header_line(char* data, size_t size, size_t n, void* userp);
    static size_t on_write(char* data, size_t size, size_t n, void* userp);
    static size_t on_read(char* buf, size_t size, size_t n, void* userp);
    static int on_seek(void* userp, int64_t offset, int origin);
    static void deliver_headers(CurlTransfer* t, long status);
    static void check_complete(CurlTransfer* t);

    void drain_messages();
    void finish(CurlTransfer* t, int code);
    void destroy(CurlTransfer* t);
    void arm_idle(CurlTransfer* t);

    event_base* base_;
    void* multi_;
    bool early_reset_fails_;  // this libcurl fails an answer the upstream completed early (< 8.3.0)
    std::unordered_set<CurlTransfer*> transfers_;
    static constexpr size_t kMaxIdleEasies = 64;
    std::vector<void*> idle_easies_;  // CURL* ready for reuse (curl_easy_reset)
    event* timer_;
    size_t active_ = 0;
};

}  // namespace agd::upstream
