// Translation entry points: decode a client request into the IR, encode it
// for the upstream's wire, and the reverse for the upstream's answer, whole
// or streamed. Each dispatches on the protocol to the per-protocol codec in
// codecs.h. Nothing here throws; errors carry the HTTP status to answer with.
#pragma once

#include <rapidjson/fwd.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "translate/ir.h"
#include "translate/session.h"
#include "translate/sse.h"

namespace agd::translate {

// Receives the IR events of a translated stream.
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void on(const ir::StreamEvent& ev) = 0;
};

// Turns one upstream stream into IR events: a per-request state machine fed
// one complete SSE event at a time, whatever the read boundaries were.
class StreamDecoder {
public:
    virtual ~StreamDecoder() = default;
    virtual void on_event(const sse::Event& ev, EventSink& sink) = 0;
    // The upstream's body ended cleanly. Emits Done when the protocol's end
    // was seen (or, for Gemini, a finishReason), else an Error: a stream
    // that stops short is a failure, never a clean end.
    virtual void on_close(EventSink& sink) = 0;
};

// Turns IR events into the client's stream bytes, appended to `out` (the
// caller sends and clears it). After Done or Error nothing more is written.
class StreamEncoder : public EventSink {
public:
    std::string out;
    bool finished() const { return finished_; }
    // The encoder ended the stream with an error of its own (a limit of
    // stream_limits.h); failure() says which.
    bool failed() const { return failed_; }
    const std::string& failure() const { return error_; }

protected:
    // Ends the stream with the client protocol's error event, as an Error
    // event from the upstream would.
    void fail_stream(int status, std::string_view message) {
        if (finished_) return;
        error_.assign(message);
        failed_ = true;
        ir::StreamEvent e;
        e.type = ir::StreamEvent::Type::Error;
        e.status = status;
        e.text = error_;
        on(e);
        finished_ = true;
    }

    // The JSON of one event, built here and then framed into `out`: emptied
    // for each event, its capacity kept for the next.
    std::string& event_json() {
        event_json_.clear();
        return event_json_;
    }

    bool finished_ = false;
    bool failed_ = false;
    std::string error_;

private:
    std::string event_json_;
};

using JsonValue = rapidjson::Value;

// A client's request: its text (parsed here; a 400 for text that is not a
// JSON object), or the DOM the body stage built from it.
Result<ir::Request> decode_request(Protocol client, std::string_view body, Session& s);
Result<ir::Request> decode_request(Protocol client, const JsonValue& body, Session& s);
Result<std::string> encode_request(Protocol upstream, const ir::Request& req, Session& s);
Result<ir::Response> decode_response(Protocol upstream, std::string_view body, Session& s);
std::string encode_response(Protocol client, const ir::Response& r, Session& s);
std::unique_ptr<StreamDecoder> make_stream_decoder(Protocol upstream, Session& s);
std::unique_ptr<StreamEncoder> make_stream_encoder(Protocol client, Session& s);

}  // namespace agd::translate
