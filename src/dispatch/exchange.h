// Exchange: one request's trip upstream. Picks a credential, runs the
// upstream transfer on the worker's client, fails over before the first
// byte (at most routing.max_attempts attempts, never the same credential
// twice), and relays the answer to the client chunk by chunk with
// backpressure. After the first byte a failure ends the stream with the
// protocol's own error event, never a fake clean end.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dispatch/router.h"
#include "record/usage_scan.h"
#include "translate/sse.h"
#include "upstream/client.h"

struct event;

namespace agd {
class RequestContext;
}

namespace agd::dispatch {

class Translation;
class MediaFetch;

// Watches a relayed Gemini JSON-array stream (streamGenerateContent without
// alt=sse) for the end of its answer: a "finishReason" or an error element,
// found across read boundaries (the SSE form's test, on a byte stream).
class ArrayEndWatch {
public:
    // Looks at the next bytes of the body; true once the end was seen.
    bool scan(std::string_view data);
    bool seen() const { return seen_; }
    void clear() { *this = ArrayEndWatch(); }

private:
    static constexpr size_t kTail = 13;  // the longest needle, "finishReason" in quotes, less one
    bool seen_ = false;
    char tail_[kTail] = {};
    size_t tail_len_ = 0;
};

// Whether an upstream stream's event carries the first of the answer's
// content (text, a tool call, reasoning), on that wire: the time to first
// token, and the end of a first-token hold. JSON whitespace is allowed.
bool carries_content(Protocol wire, const sse::Event& ev);

class Exchange : public upstream::Listener {
public:
    static constexpr size_t kHighWatermark = 256 * 1024;  // pause upstream above this much unsent output
    static constexpr size_t kLowWatermark = 64 * 1024;    // resume below this
    static constexpr size_t kMaxErrorBody = 1 << 20;
    static constexpr size_t kMaxTranslatedBody = 64u << 20;  // a whole answer decoded for translation
    static constexpr size_t kMaxLoggedAttempts = 16;
    // A stream under a first-token deadline is held back until its first
    // content; past this much held (events without content) it goes out.
    static constexpr size_t kMaxHeld = 256 * 1024;
    // The longest an attempt waits for an OAuth2 token refresh.
    static constexpr int kTokenWaitSeconds = 45;

    // `matches`: the providers serving the model (Match::translated set);
    // `session`: the sticky-session key (0: none).
    Exchange(RequestContext& ctx, std::vector<Match> matches, uint64_t session);
    ~Exchange() override;

    void start();               // first attempt; may answer the client synchronously
    void cancel();              // the client is gone: stop the upstream transfer now
    void on_client_drained();   // the client's buffer fell below the low watermark
    // A streamed upload (ctx.upload) got more bytes, or its last
    // (ctx.body_complete): the transfer sends them, and an answer held
    // until the body's end goes on.
    void on_upload_progress();

    // upstream::Listener
    void on_headers(long status, upstream::HeaderList&& headers) override;
    size_t on_body(const char* data, size_t len) override;
    void on_done(upstream::Outcome outcome, std::string_view message) override;

private:
    enum class Mode { Idle, Relay, BufferError };

    void attempt();
    // Every credential of the model failed before the first byte: the next
    // model of its [model.NAME] fallback list that a provider serves (and
    // the client may use). False when there is none.
    bool next_model();
    // The answer names a fallback model that served: x-antigravityd-model.
    void note_served_model();
    // The first-token deadline ([routing] / [model.NAME] first_token_timeout):
    // armed when a stream's transfer starts; until the first content the
    // answer is held back (emit), so a stream that stays silent can fail
    // over before the client got a byte.
    void arm_first_token_deadline();
    void release_held();  // the first content came (or the hold ends): what was held goes out
    void disarm_first_token_deadline();
    static void on_first_token_deadline(int, short, void* arg);
    // Bytes of a 2xx answer for the client: held, or written.
    void emit(const char* data, size_t len);
    // OAuth2 credentials: the attempt waits (on this loop) for an access
    // token; `stale` is a generation the upstream refused (401).
    void wait_for_token(const std::string& upstream_model, uint64_t stale);
    void token_ready(uint64_t wait);
    static void on_token_wait_timeout(int, short, void* arg);
    void report(Outcome o, int status, int64_t now);
    void fail_final();
    void relay_error();
    void start_client_response();  // status and headers, once, at the first byte
    void finish_relay(int64_t now);
    size_t relay_sse(const char* data, size_t len);
    void relay_events(std::string_view complete);
    void on_upstream_event(const sse::Event& ev);  // usage tap, first token, terminal event
    bool counting_call() const;  // a count_tokens / countTokens call (translated or not): no usage, no rules
    void settle_usage(bool complete);
    void relay_array(const char* data, size_t len);
    size_t abort_for_limit(std::string message);
    void end_stream_with_error(std::string_view message);
    // Translated answers (tr_ set and translating_).
    bool prepare_translation();
    bool launch(const std::string& upstream_model);
    bool fetch_media(const std::string& upstream_model);
    size_t translate_sse(const char* data, size_t len);
    void flush_translated();
    void finish_translated(int64_t now);
    void end_translated();

    RequestContext& ctx_;
    std::vector<Match> matches_;
    uint64_t session_ = 0;
    int model_attempts_ = 0;        // attempts on the current model (routing.max_attempts each)
    size_t fallback_next_ = 0;      // the next entry of the asked model's fallback list
    std::string serving_;           // a fallback model now serving ("" = the model asked)
    ::event* first_token_timer_ = nullptr;
    // OAuth2: the token generation this attempt sent, the wait for a new one.
    uint64_t token_generation_ = 0;
    bool oauth_retried_ = false;    // this credential's 401 was answered with a refresh and one more try
    bool waiting_token_ = false;
    uint64_t wait_id_ = 0;          // each wait's own: a late callback of an earlier one is ignored
    std::string token_sent_;        // the access token the current attempt sent (to redact what quotes it)
    std::string token_model_;       // the attempt's upstream model, while it waits
    ::event* token_timer_ = nullptr;
    std::shared_ptr<Exchange*> alive_ = std::make_shared<Exchange*>(this);  // callbacks from other threads check it
    bool holding_ = false;          // a first-token deadline runs: output waits in held_
    std::string held_;
    std::vector<const Credential*> tried_;
    upstream::Transfer* transfer_ = nullptr;
    const Provider* provider_ = nullptr;
    const Credential* cred_ = nullptr;
    std::string owned_body_;
    std::string ruled_body_;  // the upstream body as payload rules edited it

    Mode mode_ = Mode::Idle;
    long status_ = 0;
    upstream::HeaderList headers_;  // of the current attempt's upstream answer
    std::string error_body_;
    bool have_error_ = false;       // a complete upstream error answer is kept in error_*
    std::string last_failure_;      // transport failure message of the last attempt
    bool last_failure_timeout_ = false;

    bool sse_ = false;
    bool saw_terminal_ = false;
    bool usage_asked_ = false;      // this attempt asked a Chat stream's usage for the client: its chunk is dropped
    record::UsageScanner usage_{Protocol::OpenAIChat};  // of the current attempt's answer, by its wire
    sse::Framer relay_framer_;      // a relayed SSE stream: the event not yet complete (at most kMaxEvent)
    bool backpressured_ = false;
    // A streamed upload: a 2xx answer is relayed only once the client's
    // body has ended (its transfer is paused until then, or, complete
    // already, finished then).
    bool upload_hold_ = false;
    bool upload_finish_ = false;
    bool limit_hit_ = false;        // this attempt was stopped for a limit (last_failure_ says which)

    bool watch_array_ = false;      // a relayed Gemini JSON-array stream
    ArrayEndWatch array_end_;
    std::string array_tail_;        // its closing ']' (and what follows), held back until the body ends

    std::unique_ptr<Translation> tr_;  // decoded once, at the first attempt that needs it
    bool translating_ = false;         // the current attempt goes through the codecs
    std::string whole_;                // a translated non-stream answer, collected
    sse::Framer framer_;               // a translated stream's events, reassembled
    std::unique_ptr<MediaFetch> fetch_;  // images downloaded for a wire that takes them inline only
    bool media_fetched_ = false;
    std::string pending_model_;        // the attempt waiting for the downloads
};

}  // namespace agd::dispatch
