// The usage tap: reads the token usage of an upstream answer from its bytes,
// by the upstream's wire protocol, without a DOM (docs/usage-tap.md).
//
// A small resumable JSON scanner follows only the few key paths that can
// hold usage (at most four levels deep); every other value is skipped by
// counting brackets and jumping over strings 16 bytes at a time. It never
// recurses, allocates nothing, and is 264 bytes whatever the nesting. Bytes
// may be split anywhere (inside a key, a number or an escape). After a
// syntax error it stops scanning and keeps what it found.
// A key written with escapes (`"\u0075sage"`) is never one of the keys it
// looks for (no encoder writes them so).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pipeline/protocol.h"
#include "record/usage.h"

namespace agd::record {

namespace detail {
// The figures as the wire names them, before normalization.
enum UsageSlot : uint8_t { kInput, kOutput, kCacheRead, kCacheWrite, kReasoning, kToolPrompt, kSlots };
// What a value at some place of an answer would be (usage_scan.cc).
struct UsageTarget {
    int8_t obj = -1;       // an object here is this node
    int8_t arr = -1;       // an array here is this node
    int8_t field = -1;     // a number here is this figure
    bool capture = false;  // a string here is the event's "type"
};
}  // namespace detail

class UsageScanner {
public:
    explicit UsageScanner(Protocol wire);

    // A whole (non-SSE) JSON answer, or a Gemini JSON-array stream, in
    // pieces as they arrive. Bytes after the top-level value are ignored.
    void feed_body(std::string_view bytes);
    // One complete SSE event (name may be empty; data is its joined data
    // lines). Events that cannot carry usage cost a compare of the name or
    // a quick look for `"usage` (docs/usage-tap.md).
    void feed_event(std::string_view name, std::string_view data);

    bool seen() const;    // some usage figure was found
    Usage usage() const;  // normalized (usage.h); -1 where the answer did not say
    void reset();         // for a new attempt

    Protocol wire() const { return wire_; }

private:
    using Raw = std::array<int64_t, detail::kSlots>;  // -1: absent

    enum class St : uint8_t {
        Value,     // a value (tgt_ says what it would be)
        ArrFirst,  // after '[': a value or ']'
        ObjFirst,  // after '{': a key or '}'
        ObjKey,    // after ',' in an object: a key
        Key,       // inside a key, kept in buf_
        Capture,   // inside the string value of "type", kept in buf_
        Colon,     // after a key
        After,     // after a value: ',', a closing bracket, or the end
        Str,       // inside a string that is skipped; then_ follows
        Num,       // inside a number that is a figure
        Scalar,    // inside another number or a literal
        Skip,      // inside a container that is skipped (skip_depth_ deep)
        Done,      // the top-level value ended
        Error,     // not JSON: scanning stopped
    };
    struct Frame {
        int8_t node;
        bool array;
    };
    static constexpr size_t kMaxFrames = 8;  // the deepest path is 4
    static constexpr size_t kBuf = 32;       // the longest key looked for is 27

    void scan(const char* p, const char* end);
    const char* skip(const char* p, const char* end);
    bool skip_string(const char*& p, const char* end);
    void start_parse(bool event);
    void push(int8_t node, bool array);
    void close();
    void merge(Raw& into, const Raw& r) const;

    Protocol wire_;
    Raw acc_;       // what the answer said so far
    Raw cur_;       // the usage object being read
    Raw doc_;       // the usage objects of the event being read
    bool event_ = false;

    St st_ = St::Value;
    St then_ = St::After;  // after a skipped string
    bool esc_ = false;       // a skipped string's backslash ended the last piece
    bool skip_str_ = false;  // Skip: inside a string
    bool num_bad_ = false;
    bool num_digit_ = false;
    bool buf_over_ = false;
    uint8_t depth_ = 0;
    uint8_t buf_len_ = 0;
    uint8_t type_len_ = 0;
    detail::UsageTarget tgt_;
    Frame frames_[kMaxFrames] = {};
    uint64_t skip_depth_ = 0;
    uint64_t num_ = 0;
    char buf_[kBuf] = {};
    char type_[kBuf] = {};
};

}  // namespace agd::record
