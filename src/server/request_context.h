// RequestContext: all per-request state, owned by the worker that accepted
// the request. Created when the request headers are parsed, destroyed when
// libevhtp frees the request. Stages read and fill it; the dispatcher's
// Exchange streams the upstream answer through it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/cidr.h"
#include "pipeline/body.h"
#include "pipeline/classify.h"
#include "pipeline/errors.h"
#include "record/record.h"
#include "server/response_sink.h"

struct evhtp_request;
struct bufferevent;
struct evbuffer;
struct evbuffer_cb_entry;
struct evbuffer_cb_info;
struct event;

namespace agd {

struct Snapshot;
class Worker;
class UploadStream;
namespace dispatch {
class Exchange;
}
namespace clients {
class ClientState;
}

// What the request's record (record/record.h) is made of, filled as the
// request goes; complete() turns it into the RequestRecord.
struct AccessRecord {
    int status = 0;
    std::string model_sent;
    std::string provider;
    int provider_index = -1; // in snap->config->providers
    std::string credential;  // fingerprint only
    int attempts = 0;
    std::vector<record::Attempt> attempt_log;
    int upstream_status = 0;
    uint64_t bytes_out = 0;
    int64_t first_byte_ns = 0;
    int64_t first_token_ns = 0;
    std::string error;       // short reason when the request failed
    std::string limit;       // the client limit that refused it
    record::Usage usage;
    record::UsageState usage_state = record::UsageState::None;
    // The answer's body as sent, when [log] bodies keeps it (at most body_max).
    bool keep_body = false;
    bool body_truncated = false;
    std::string body;
};

class RequestContext {
public:
    RequestContext(evhtp_request* req, Worker& worker, std::shared_ptr<const Snapshot> snap);
    // A request carried by another transport (a WebSocket message): its
    // header fields are `headers` (kept alive by the caller for the
    // context's life) and its answer goes to `sink`. req is nullptr.
    RequestContext(ResponseSink& sink, const HeaderList& headers, Worker& worker,
                   std::shared_ptr<const Snapshot> snap);
    ~RequestContext();
    RequestContext(const RequestContext&) = delete;
    RequestContext& operator=(const RequestContext&) = delete;

    // --- identity (set by the server before the stages run)
    evhtp_request* req;
    Worker& worker;
    std::shared_ptr<const Snapshot> snap;
    uint64_t id = 0;
    int64_t start_ns = 0;
    HttpMethod method = HttpMethod::Other;
    std::string method_text;
    std::string path;             // without the query
    std::string query;            // raw, without '?'
    Route route;
    bool peer_is_ip = false;      // false for unix-socket clients
    IpAddr peer;                  // TCP peer
    IpAddr client;                // after trusted X-Forwarded-For / X-Real-IP
    std::string client_text;      // for the access line
    int client_index = -1;        // the named client (index in snap->config->clients) its key belongs to; -1 none
    clients::ClientState* admitted = nullptr;  // its in-flight slot, released when the request ends

    // --- request body
    uint64_t body_received = 0;
    bool body_complete = false;
    const char* body_data = nullptr;  // contiguous, NUL-terminated, valid for the request's life
    size_t body_len = 0;
    BodyInfo body;
    // The body's DOM, built by the body scan when the request may be
    // translated (Router::may_translate); the codecs decode it instead of
    // parsing the text again, and the Exchange frees it once decoded.
    std::unique_ptr<translate::JsonDoc> body_dom;
    // A body that goes upstream while it arrives (server/upload_stream.h):
    // body_data stays null; the Body phase runs once its model is known.
    // Declared before `exchange`, which reads from it: it outlives it.
    std::unique_ptr<UploadStream> upload;
    // More of it arrived, or all of it (body_complete): the exchange sends it.
    void upload_progress();
    // The scan refused it: what went upstream is cut off (the provider
    // never got the refused part) and the client gets the 400.
    void refuse_upload(std::string_view message);

    // --- headers
    std::string_view header(const char* name) const;  // "" when absent
    // Every field named `name`, in order, at most `max` of them; returns how many.
    size_t header_values(const char* name, std::string_view* out, size_t max) const;
    // The response header fields added so far (a sink's answer; an HTTP
    // request's go into its evhtp request instead).
    const HeaderList& response_headers() const { return response_headers_; }

    // --- local replies (in the client's protocol)
    void fail(ErrorKind kind, std::string_view message, int retry_after_s = -1);
    void reply(int status, std::string body, const char* content_type = "application/json");
    void add_response_header(std::string_view name, std::string_view value);
    bool has_reply() const { return reply_state_ != ReplyState::None; }
    // Bytes of an answer were queued (a pending reply does not count).
    bool answer_started() const { return reply_state_ != ReplyState::None && reply_state_ != ReplyState::Pending; }
    // Sends a reply set while the body was still arriving (called by the server).
    void flush_pending_reply();
    // Sends a reply set while reading the head right away, closing the
    // connection after it (for clients that wait on 100-continue).
    void reply_before_body();

    // --- streamed responses (the Exchange relays upstream answers through these)
    void start_response(int status, int64_t content_length);  // -1: chunked
    void write_body(const char* data, size_t len);
    void end_response();
    void abort_connection();        // close without a clean end: the client sees a truncated response
    // The connection leaves HTTP (a WebSocket upgrade): from the next loop
    // turn, once libevhtp's parser has returned, `take` gets a bufferevent
    // of its own, with no callbacks, reading and writing off, to free when
    // done (it closes the socket): on a duplicate of a plain socket, or the
    // connection's own OpenSSL bufferevent on an `ssl` listener. With it the
    // bytes the client sent after this request (an evbuffer it may drain)
    // and, when `peer_counted`, the connection's count in PeerLimit (to
    // release when it closes); the request's record says `status`, and
    // libevhtp frees its connection without writing another byte. Nothing
    // is taken if the client left meanwhile.
    using Taker = std::function<void(bufferevent* bev, evbuffer* unread, bool peer_counted)>;
    void take_connection(int status, Taker take);
    size_t output_pending() const;  // bytes queued for the client, not yet on the wire
    bool response_started() const { return reply_state_ == ReplyState::Streaming; }

    // Backpressure: ask for on_drained() once the client's buffer falls below `low`.
    void watch_drain(size_t low);
    void on_drained();  // the client's buffer fell below the watched mark

    // Client connection timeouts (libevhtp's, set in server.cc): an idle
    // keep-alive connection or a stalled request read is closed after
    // kClientIdleSeconds, a client that takes no byte of its answer for
    // kClientStalledSeconds too. The read side's is off while paused.
    static constexpr long kClientIdleSeconds = 120;
    static constexpr long kClientStalledSeconds = 300;
    // Most bytes read from a client and not yet parsed (what it pipelines
    // while its request is paused); reading stops there until they are.
    static constexpr size_t kMaxUnparsedInput = 1 << 20;

    // The request is waiting on asynchronous work (evhtp paused); the server
    // calls these.
    void pause();
    bool paused() const { return paused_; }
    // Set by the server while libevhtp's parser calls it back with this
    // request complete: an answer given meanwhile resumes the connection
    // only once the parser has returned (resume_after_parse), so the
    // requests pipelined behind it are parsed from the loop, in order.
    bool in_parser = false;
    void resume_after_parse();
    // The answer is complete: the connection goes on (or closes).
    void finish_paused();
    void on_client_gone();         // the client closed or errored: cancel upstream work

    std::unique_ptr<dispatch::Exchange> exchange;
    AccessRecord access;
    bool client_gone = false;

    // The request is over (answered, failed, or the client left): its record
    // goes to every consumer of the completion hook, once.
    void complete();

private:
    enum class ReplyState { None, Pending, Sent, Streaming, Done };
    static void drain_cb(evbuffer* buf, const evbuffer_cb_info* info, void* arg);
    static void drained_cb(int fd, short what, void* arg);
    void send_now(int status, std::string body, const char* content_type);
    // The answer leaves through flush_output(), called at once or from the
    // loop turn that produced it (schedule_flush), not by the bufferevent,
    // which would register write interest for every answer and remove it
    // once sent: two epoll_ctl per request. hold_output() before adding
    // bytes keeps libevent from registering it.
    void hold_output();
    void schedule_flush();
    void flush_output();
    static void flush_cb(int fd, short what, void* arg);
    void resume_connection();
    static void resume_cb(int fd, short what, void* arg);
    static void take_cb(int fd, short what, void* arg);
    void hand_over();
    void close_connection();
    void watch_output();  // drain_cb on the client's output buffer, once

    ResponseSink* sink_ = nullptr;
    const HeaderList* sink_headers_ = nullptr;
    HeaderList response_headers_;
    ReplyState reply_state_ = ReplyState::None;
    int pending_status_ = 0;
    std::string pending_body_;
    const char* pending_type_ = "application/json";
    bool paused_ = false;
    bool resume_pending_ = false;  // finish_paused() ran inside the parser
    bool logged_ = false;
    bool chunked_ = false;
    bool aborting_ = false;
    size_t drain_low_ = 0;
    evbuffer_cb_entry* drain_entry_ = nullptr;
    event* drained_ev_ = nullptr;
    event* flush_ev_ = nullptr;
    event* resume_ev_ = nullptr;
    event* take_ev_ = nullptr;
    Taker take_;
};

int64_t mono_ns();

}  // namespace agd
