// One scripted answer to a generation request: error, JSON body or stream,
// written at once or paced on the connection's event loop; or no answer,
// the connection closed instead.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <event2/event.h>
#include <evhtp.h>

#include "formats.h"
#include "http_out.h"
#include "script.h"

namespace mock {

struct Worker;

// An answer computed only when it is sent (after the delay).
struct LateAnswer {
    int status = 200;
    Headers headers;
    std::string body;  // application/json
};

struct Plan {
    Reply reply;
    Script script;
    std::string credential;
    bool stream = false;
    int error_status = 0;                  // answer with this error instead
    bool hangup = false;                   // close the connection without answering
    bool auth_failed = false;              // auth=oauth refused the credential (error_status 401)
    std::optional<std::string> fixed_body;  // 200 body given up front (count endpoints)
    std::function<LateAnswer()> late;       // or the answer, computed when due (must not throw)
    Headers headers;                       // sent on every response of this request
    // When non-empty: the pieces to send instead of the generated text
    // (script.chunks is their count): a tool result echo, or the argument
    // fragments of reply.calls.
    std::vector<std::string> pieces;
};

// Answers the request as planned. Returns at once; paced work continues on
// the event loop and is cleaned up when libevhtp frees the request.
void serve(evhtp_request_t* req, Plan plan);

class Exchange {
public:
    Exchange(evhtp_request_t* req, Plan plan);
    ~Exchange();
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    // True when the answer needs timers (delay, pace, hold, reset, hangup).
    bool needs_loop() const;
    // Writes the whole answer now (only when !needs_loop()).
    void run_now();
    // Pauses the request and continues from timers on w's loop. Owns
    // itself from here; freed when libevhtp frees the request.
    void start_async(Worker& w);

private:
    enum class Phase { waiting, streaming, holding, draining, done };
    enum class Cut { none, reset, error };

    static void on_timer(evutil_socket_t fd, short what, void* arg);
    static void on_watch(evutil_socket_t fd, short what, void* arg);
    static evhtp_res on_request_fini(evhtp_request_t* req, void* arg);
    static void on_request_error(evhtp_request_t* req, evhtp_error_flags flags, void* arg);

    void begin();
    void pump();
    void send_piece();
    void start_hold(int64_t ns);
    void hold_tick();
    void cut();
    void end_stream(std::vector<std::string> events);
    void finish_plain(int status, Headers headers, const char* content_type,
                      const std::string& body);
    void start_reset();
    void reset_tick();
    void reset_now();
    void hang_up();
    void client_gone();
    void resume_if_paused();
    void stop_watch();
    void arm(int64_t ns);
    void set_done();

    evhtp_request_t* req_;
    evhtp_connection_t* conn_;
    Plan plan_;
    Worker* worker_ = nullptr;
    std::unique_ptr<Encoder> enc_;
    Phase phase_ = Phase::waiting;
    Cut cut_kind_ = Cut::none;
    int cut_at_ = 0;          // pieces written before the cut
    int next_ = 0;            // next piece to write
    bool paused_ = false;
    bool held_ = false;       // the hold after piece 0 has been done
    bool first_held_ = false; // the hold before piece 0 has been done
    bool paced_ = false;      // the pace wait before next_ has been done
    int64_t due_ns_ = 0;      // when the last paced piece was due
    int64_t hold_end_ns_ = 0;
    int64_t reset_deadline_ns_ = 0;
    event* timer_ = nullptr;
    event* watch_ = nullptr;
};

}  // namespace mock
