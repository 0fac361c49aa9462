// Incremental parser of one HTTP/1.x response (RFC 9112), fed the bytes of an
// upstream connection as they are read. It never copies body bytes: a Body
// step points into the caller's buffer, and the caller says how much of it
// it took (consume_body), so a reader that must stop (back-pressure) keeps
// the rest and feeds it again later.
//
// Framing handled: Content-Length, chunked (extensions ignored, trailers
// skipped), bodiless statuses (1xx, 204, 304, or a HEAD request), and a body
// delimited by the connection closing. Interim 1xx responses are skipped;
// 101 is an error (nothing upgrades an upstream call). Bare LF line endings
// are accepted. Header names are lower-cased, values trimmed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agd::upstream {

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // names lower-cased

class ResponseParser {
public:
    static constexpr size_t kMaxHead = 64 * 1024;  // status line + headers (+ trailers)

    enum class Event {
        NeedMore,  // all `used` bytes taken; feed more
        Head,      // the final status line and headers are complete after `used` bytes
        Body,      // `used` framing bytes taken, then `body` (which follows them) is available
        Done,      // the response is complete after `used` bytes
        Error,     // malformed; error() says why; the connection must be closed
    };
    struct Step {
        Event event;
        size_t used;            // bytes of the input taken by this step
        std::string_view body;  // Body: data[used, used + body.size()), not yet taken
    };

    // For a response to a HEAD request: no body whatever the headers say.
    void set_head_request(bool v) { head_request_ = v; }

    // Parses from data. After Body the caller must call consume_body(n) with
    // n <= body.size() before feeding again from data + used + n. After Done
    // or Error, feed() returns the same event with used = 0.
    Step feed(const char* data, size_t len);
    void consume_body(size_t n);

    // The connection closed. True if that completes the response (a body
    // delimited by the close); false if the response was cut short.
    bool eof();

    int status() const { return status_; }
    // Headers of the final response; valid after Head, may be moved from.
    HeaderList& headers() { return headers_; }
    // After Done: the connection may carry another request (HTTP/1.1 without
    // "Connection: close", or HTTP/1.0 with "Connection: keep-alive", and a
    // body not delimited by the close).
    bool keep_alive() const;
    // A byte of the response has been seen (a stale pooled connection that
    // closes before any byte may be retried).
    bool started() const { return started_; }
    const std::string& error() const { return error_; }

private:
    // StatusLine: collecting a head whose status line is not complete yet;
    // Headers: its status line is complete and valid, the headers are not.
    enum class State { StatusLine, Headers, BodyLength, ChunkSize, ChunkData, ChunkDataEnd, Trailers, BodyClose, Done, Error };
    enum class Collect { Found, More, TooLarge };
    static constexpr size_t kMaxChunkLine = 4096;  // chunk size + extensions

    Step fail(std::string why);
    // Internal helpers are free to change; only the interface above is used.
    Collect collect_block(const char* data, size_t len, size_t& pos, std::string_view& block);
    Collect collect_line(const char* data, size_t len, size_t& pos, std::string_view& line);
    bool check_status_so_far(std::string_view head);
    bool parse_status_line(std::string_view line);
    bool parse_head(std::string_view block);
    bool parse_trailers(std::string_view block);
    bool parse_chunk_size(std::string_view line);
    bool chunk_data_end(const char* data, size_t len, size_t& pos);
    void start_body();

    State state_ = State::StatusLine;
    std::string partial_;     // a line or head / trailer block split across feeds
    size_t line_start_ = 0;   // in the block being collected: where its last, incomplete line starts
    HeaderList headers_;
    std::string error_;
    uint64_t remaining_ = 0;  // BodyLength / ChunkData
    size_t offered_ = 0;      // size of the last Body slice not yet consumed
    int status_ = 0;
    int minor_version_ = 1;
    bool head_request_ = false;
    bool has_te_ = false;      // a Transfer-Encoding header
    bool chunked_ = false;     // ... whose last coding is chunked
    bool has_length_ = false;  // a valid Content-Length (ignored with Transfer-Encoding)
    bool close_ = false;       // no reuse: "Connection: close", HTTP/1.0 without keep-alive, close-delimited body...
    bool started_ = false;
};

}  // namespace agd::upstream
