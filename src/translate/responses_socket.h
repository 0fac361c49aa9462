// The Responses API over a WebSocket (GET /v1/responses, as Codex uses it):
// what a client's messages ask for and the conversation one connection
// keeps. Each `response.create` message becomes the body of an ordinary
// streamed POST /v1/responses; its answer's events go back as text frames,
// the same JSON as the SSE stream's data. A message may continue the
// connection's last response (`previous_response_id`) with only the new
// input items: the connection keeps that response's input and output items
// and sends the upstream the whole conversation, whatever the upstream's wire
// (none of them is asked to keep state). Nothing here does I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agd::translate {

// What one message from the client asks.
struct SocketRequest {
    enum class Kind {
        Create,   // response.create: `body` is the POST /v1/responses body
        Ignore,   // a message that needs no answer (response.processed)
        Error,    // answered with an error event (status, code, message)
    };
    Kind kind = Kind::Error;
    std::string body;     // stream forced on; type, previous_response_id and generate removed
    std::string model;
    bool generate = true;  // false: the client warms up; no model is asked
    // Header fields the message carries in client_metadata
    // (`ws_request_header_<name with _ for ->`), for the upstream request.
    std::vector<std::pair<std::string, std::string>> headers;
    int status = 400;
    std::string code;     // error code ("invalid_request_error" type): previous_response_not_found, ...
    std::string message;
};

class SocketConversation {
public:
    // Most header fields one message may carry in client_metadata.
    static constexpr size_t kMaxMessageHeaders = 16;

    // `max_body`: the most bytes a request body may have
    // (server.max_body_size); a conversation that outgrows it is refused,
    // as the same request over HTTP would be.
    explicit SocketConversation(uint64_t max_body) : max_body_(max_body) {}

    // Reads one text message. A create that continues the last response gets
    // its items in front of the new ones; it becomes the pending request,
    // whose answer is watched with on_event().
    SocketRequest read(std::string_view text);

    // One event of the pending request's answer (the data of an SSE event).
    // Its output items are kept; response.completed makes the request and
    // its output the conversation later messages may continue.
    void on_event(std::string_view json);
    // The pending request ended without response.completed (an error, a
    // failed or incomplete response): nothing can continue from it.
    void on_failed();

    // The events answering a warm-up (generate: false) of the pending
    // request: response.created and response.completed of an empty
    // response, which becomes the conversation's last.
    std::vector<std::string> warm_up(std::string_view model);

    const std::string& last_id() const { return last_id_; }
    // Bytes held for the conversation (its items' JSON).
    size_t held_bytes() const { return items_.size() + pending_items_.size() + pending_output_.size(); }

private:
    void reset_pending();

    uint64_t max_body_;
    // The last completed response: its id and every item of its
    // conversation, input and output, as JSON texts joined by commas.
    std::string last_id_;
    std::string items_;
    // The request being answered: its whole input (joined items), the output
    // items of its answer so far, and its id once response.created named it.
    bool pending_ = false;
    bool pending_over_ = false;  // its output outgrew max_body_: not kept
    std::string pending_items_;
    std::string pending_output_;
    std::string pending_id_;
};

// Splits a client_metadata key `ws_request_header_x_foo` into the header
// name `x-foo`; false for other keys.
bool socket_header_name(std::string_view key, std::string* name);

}  // namespace agd::translate
