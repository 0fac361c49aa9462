#include "upstream/curl_engine.h"

#include <curl/curl.h>
#include <event2/event.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "common/redact.h"

namespace agd::upstream {

struct CurlEngine::Socket {
    struct event* ev = nullptr;
    short kind = 0;
};

namespace {

CURLM* M(void* p) { return static_cast<CURLM*>(p); }
CURL* E(void* p) { return static_cast<CURL*>(p); }

timeval to_tv(std::chrono::milliseconds ms) {
    timeval tv;
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

Outcome classify(int code) {
    switch (code) {
        case CURLE_OK: return Outcome::Ok;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION: return Outcome::ConnectFailed;
        case CURLE_OPERATION_TIMEDOUT: return Outcome::Timeout;
        case CURLE_WRITE_ERROR: return Outcome::Aborted;
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM: return Outcome::Reset;
        default: return Outcome::Other;
    }
}

}  // namespace

CurlEngine::CurlEngine(event_base* base)
    : base_(base), multi_(curl_multi_init()),
      early_reset_fails_(curl_version_info(CURLVERSION_NOW)->version_num < 0x080300) {
    timer_ = evtimer_new(base_, &CurlEngine::on_timeout, this);
    curl_multi_setopt(M(multi_), CURLMOPT_SOCKETFUNCTION, &CurlEngine::on_socket);
    curl_multi_setopt(M(multi_), CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(M(multi_), CURLMOPT_TIMERFUNCTION, &CurlEngine::on_timer);
    curl_multi_setopt(M(multi_), CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(M(multi_), CURLMOPT_MAXCONNECTS, 1024L);
}

CurlEngine::~CurlEngine() {
    // Transfers still running belong to requests being torn down with the worker.
    while (!transfers_.empty()) destroy(*transfers_.begin());
    for (void* e : idle_easies_) curl_easy_cleanup(E(e));
    curl_multi_cleanup(M(multi_));
    event_free(timer_);
}

Transfer* CurlEngine::start(const Request& req, Listener* listener) {
    // Easy handles are reused: curl_easy_init allocates and clears several
    // KiB per transfer, a measurable part of a small request's cost.
    CURL* easy;
    if (!idle_easies_.empty()) {
        easy = E(idle_easies_.back());
        idle_easies_.pop_back();
        curl_easy_reset(easy);
    } else {
        easy = curl_easy_init();
    }
    if (!easy) return nullptr;
    auto* t = new CurlTransfer();
    t->engine_ = this;
    t->easy_ = easy;
    t->listener_ = listener;
    t->idle_timeout_ = req.idle_timeout;
    t->watch_length_ = req.h2 && early_reset_fails_;
    t->upload_len_ = req.post ? static_cast<long long>(req.body_len) : 0;
    for (const auto& h : req.headers) t->headers_ = curl_slist_append(t->headers_, h.c_str());
    // No "Expect: 100-continue" round trip on large bodies.
    t->headers_ = curl_slist_append(t->headers_, "Expect:");

    curl_easy_setopt(easy, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers_);
    if (req.post) {
        curl_easy_setopt(easy, CURLOPT_POST, 1L);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body_len));
        if (req.source) {
            t->source_ = req.source;
            curl_easy_setopt(easy, CURLOPT_READFUNCTION, &CurlEngine::on_read);
            curl_easy_setopt(easy, CURLOPT_READDATA, t);
            curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, &CurlEngine::on_seek);
            curl_easy_setopt(easy, CURLOPT_SEEKDATA, t);
        } else {
            curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body ? req.body : "");
        }
    } else {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
    // HTTP/1.1 unless the provider asked for HTTP/2 (http_client = libcurl-h2).
    // Then, over TLS, wait for a connection being set up that may turn out to
    // speak HTTP/2 rather than opening another.
    if (req.h2) {
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
        if (req.url.compare(0, 8, "https://") == 0) curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    } else {
        curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    }
    curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->errbuf_);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &CurlEngine::on_header_line);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlEngine::on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
    if (!req.proxy.empty()) curl_easy_setopt(easy, CURLOPT_PROXY, req.proxy.c_str());
    // A private CA, trusted besides the system store (Debian's libcurl keeps
    // its compiled-in CA path), never instead of verification.
    if (!req.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, req.ca_file.c_str());

    t->idle_timer_ = evtimer_new(base_, &CurlEngine::on_idle, t);
    if (curl_multi_add_handle(M(multi_), easy) != CURLM_OK) {
        curl_easy_cleanup(easy);
        curl_slist_free_all(t->headers_);
        event_free(t->idle_timer_);
        delete t;
        return nullptr;
    }
    ++active_;
    transfers_.insert(t);
    arm_idle(t);
    return t;
}

void CurlEngine::arm_idle(CurlTransfer* t) {
    if (t->finish_soon_) {  // the timer ends the transfer, from the loop, at once
        timeval now{0, 0};
        evtimer_add(t->idle_timer_, &now);
        return;
    }
    if (t->idle_timeout_.count() <= 0) return;
    timeval tv = to_tv(t->idle_timeout_);
    evtimer_add(t->idle_timer_, &tv);
}

int CurlEngine::on_socket(void* /*easy*/, int fd, int what, void* userp, void* socketp) {
    auto* self = static_cast<CurlEngine*>(userp);
    auto* s = static_cast<Socket*>(socketp);
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            event_free(s->ev);
            delete s;
            curl_multi_assign(M(self->multi_), fd, nullptr);
        }
        return 0;
    }
    short kind = static_cast<short>(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (!s) {
        s = new Socket();
        s->ev = event_new(self->base_, fd, kind, &CurlEngine::on_event, self);
        s->kind = kind;
        event_add(s->ev, nullptr);
        curl_multi_assign(M(self->multi_), fd, s);
        return 0;
    }
    if (s->kind != kind) {  // only touch the event when the interest really changes
        event_del(s->ev);
        event_assign(s->ev, self->base_, fd, kind, &CurlEngine::on_event, self);
        s->kind = kind;
        event_add(s->ev, nullptr);
    }
    return 0;
}

int CurlEngine::on_timer(void* /*multi*/, long timeout_ms, void* userp) {
    auto* self = static_cast<CurlEngine*>(userp);
    if (timeout_ms < 0) {
        evtimer_del(self->timer_);
        return 0;
    }
    timeval tv = to_tv(std::chrono::milliseconds(timeout_ms));
    evtimer_add(self->timer_, &tv);
    return 0;
}

void CurlEngine::on_event(int fd, short events, void* arg) {
    auto* self = static_cast<CurlEngine*>(arg);
    int flags = ((events & EV_READ) ? CURL_CSELECT_IN : 0) | ((events & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(M(self->multi_), fd, flags, &running);
    self->drain_messages();
}

void CurlEngine::on_timeout(int, short, void* arg) {
    auto* self = static_cast<CurlEngine*>(arg);
    int running = 0;
    curl_multi_socket_action(M(self->multi_), CURL_SOCKET_TIMEOUT, 0, &running);
    self->drain_messages();
}

void CurlEngine::on_idle(int, short, void* arg) {
    auto* t = static_cast<CurlTransfer*>(arg);
    if (t->finish_soon_) return t->engine_->finish(t, CURLE_OK);
    if (t->paused_) return;  // waiting on the client, not on the upstream
    t->timed_out_ = true;
    t->engine_->finish(t, CURLE_OPERATION_TIMEDOUT);
}

size_t CurlEngine::on_header_line(char* data, size_t size, size_t n, void* userp) {
    auto* t = static_cast<CurlTransfer*>(userp);
    size_t len = size * n;
    std::string_view line(data, len);
    t->engine_->arm_idle(t);
    if (line.substr(0, 5) == "HTTP/") {
        t->response_headers_.clear();
        t->headers_done_ = false;
        return len;
    }
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) {
        long status = 0;
        curl_easy_getinfo(E(t->easy_), CURLINFO_RESPONSE_CODE, &status);
        if (status >= 100 && status < 200) {  // interim response: wait for the real one
            t->response_headers_.clear();
            return len;
        }
        deliver_headers(t, status);
        return len;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    t->response_headers_.emplace_back(std::move(name), std::string(value));
    return len;
}

void CurlEngine::deliver_headers(CurlTransfer* t, long status) {
    t->headers_done_ = true;
    if (t->watch_length_) {
        long version = 0;
        curl_off_t length = -1;
        curl_easy_getinfo(E(t->easy_), CURLINFO_HTTP_VERSION, &version);
        curl_easy_getinfo(E(t->easy_), CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        t->content_length_ = version == CURL_HTTP_VERSION_2_0 ? static_cast<long long>(length) : -1;
    }
    t->listener_->on_headers(status, std::move(t->response_headers_));
    t->response_headers_.clear();
    check_complete(t);
}

// An HTTP/2 answer is complete when the listener took every byte its
// content-length declared (libcurl never hands over more; without a
// content-length nothing here says the stream ended). If the request is
// still being sent then, the upstream answered early: this libcurl would
// wait for the rest of a request nobody reads, or fail the transfer, so the
// transfer is ended from the loop (libcurl resets the stream; the
// connection stays). A transfer libcurl ends itself meanwhile ends as usual.
void CurlEngine::check_complete(CurlTransfer* t) {
    if (t->complete_ || t->content_length_ < 0 || t->delivered_ != t->content_length_) return;
    t->complete_ = true;
    curl_off_t sent = 0;
    curl_easy_getinfo(E(t->easy_), CURLINFO_SIZE_UPLOAD_T, &sent);
    if (static_cast<long long>(sent) < t->upload_len_) {
        t->finish_soon_ = true;
        t->engine_->arm_idle(t);
    }
}

// A streamed body: the bytes ready, or a pause until body_more().
size_t CurlEngine::on_read(char* buf, size_t size, size_t n, void* userp) {
    auto* t = static_cast<CurlTransfer*>(userp);
    std::string_view ready = t->source_->ready();
    if (ready.empty()) {
        t->send_paused_ = true;
        return CURL_READFUNC_PAUSE;
    }
    size_t len = std::min(ready.size(), size * n);
    std::memcpy(buf, ready.data(), len);
    t->source_->sent(len);
    t->engine_->arm_idle(t);  // an upload on its way is not an idle upstream
    return len;
}

// libcurl sends the body again (a reused connection that was closed): only
// from its start, and only while the source still has it.
int CurlEngine::on_seek(void* userp, int64_t offset, int origin) {
    static_assert(std::is_same_v<curl_off_t, int64_t>, "CURLOPT_SEEKFUNCTION takes a curl_off_t");
    auto* t = static_cast<CurlTransfer*>(userp);
    if (origin == SEEK_SET && offset == 0 && t->source_->rewind()) return CURL_SEEKFUNC_OK;
    return CURL_SEEKFUNC_CANTSEEK;
}

size_t CurlEngine::on_write(char* data, size_t size, size_t n, void* userp) {
    auto* t = static_cast<CurlTransfer*>(userp);
    size_t len = size * n;
    if (!t->headers_done_) {  // a body without the end of a header block (should not happen)
        long status = 0;
        curl_easy_getinfo(E(t->easy_), CURLINFO_RESPONSE_CODE, &status);
        deliver_headers(t, status);
    }
    size_t r = t->listener_->on_body(data, len);
    if (r == Listener::kPause) {
        t->paused_ = true;
        evtimer_del(t->idle_timer_);
        return CURL_WRITEFUNC_PAUSE;
    }
    t->engine_->arm_idle(t);
    if (r == len) {
        t->delivered_ += static_cast<long long>(len);
        check_complete(t);
    }
    return r;
}

void CurlEngine::drain_messages() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(M(multi_), &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        CurlTransfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
        if (t) finish(t, msg->data.result);
    }
}

void CurlEngine::finish(CurlTransfer* t, int code) {
    Listener* l = t->listener_;
    // An upstream may answer in full before it has read the request body and
    // then reset the stream with NO_ERROR (RFC 9113 8.1). libcurl before
    // 8.3.0 fails such a transfer with CURLE_HTTP2_STREAM, usually with no
    // text, although the answer is complete (check_complete).
    if (code == CURLE_HTTP2_STREAM && t->complete_) code = CURLE_OK;
    Outcome outcome = t->timed_out_ ? Outcome::Timeout : classify(code);
    std::string message;
    if (t->timed_out_) {
        message = "no data from upstream for " + std::to_string(t->idle_timeout_.count()) + " ms";
    } else if (code != CURLE_OK) {
        // libcurl's text may quote a URL or a proxy, credentials included.
        message = redact_urls(t->errbuf_[0] ? t->errbuf_ : curl_easy_strerror(static_cast<CURLcode>(code)));
    }
    destroy(t);  // the connection goes back to the pool before a retry starts
    l->on_done(outcome, message);
}

void CurlEngine::destroy(CurlTransfer* t) {
    curl_multi_remove_handle(M(multi_), E(t->easy_));
    if (idle_easies_.size() < kMaxIdleEasies) idle_easies_.push_back(t->easy_);
    else curl_easy_cleanup(E(t->easy_));
    curl_slist_free_all(t->headers_);
    event_free(t->idle_timer_);
    --active_;
    transfers_.erase(t);
    delete t;
}

void CurlTransfer::pause() {
    if (paused_) return;
    paused_ = true;
    evtimer_del(idle_timer_);
    curl_easy_pause(E(easy_), CURLPAUSE_RECV);
}

void CurlTransfer::resume() {
    if (!paused_) return;
    paused_ = false;
    engine_->arm_idle(this);
    curl_easy_pause(E(easy_), CURLPAUSE_CONT);
}

void CurlTransfer::cancel() { engine_->destroy(this); }

void CurlTransfer::body_more() {
    if (!send_paused_) return;
    send_paused_ = false;
    // Only the sending side: a receive the listener paused stays paused.
    curl_easy_pause(E(easy_), paused_ ? CURLPAUSE_RECV : CURLPAUSE_CONT);
}

}  // namespace agd::upstream
