// ResponseSink: where the answer of a request that is not an HTTP exchange
// of its own goes: a message on a WebSocket (server/websocket_connection.h).
// A RequestContext made with a sink runs the same stages and Exchange as an
// HTTP request; what it would write to its evhtp request goes here instead.
// Every call comes from the context's worker.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agd {

// Request header fields, names in lower case.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

class ResponseSink {
public:
    virtual ~ResponseSink() = default;
    // A whole answer (a local reply or a buffered upstream error).
    virtual void sink_whole(int status, std::string_view body, std::string_view content_type) = 0;
    // A streamed answer: its status, its bytes as they come, its end.
    virtual void sink_start(int status) = 0;
    virtual void sink_write(const char* data, size_t len) = 0;
    virtual void sink_end() = 0;
    // The answer cannot be completed (a failure after its first byte that
    // the protocol has no in-band form for).
    virtual void sink_abort() = 0;
    // Bytes queued for the client and not yet on the wire.
    virtual size_t sink_pending() const = 0;
    // Call RequestContext::on_drained() from a later loop turn once fewer
    // than `low` bytes are pending.
    virtual void sink_watch_drain(size_t low) = 0;
    // The request is over: its context may be freed (never from inside this call).
    virtual void sink_finished() = 0;
};

}  // namespace agd
