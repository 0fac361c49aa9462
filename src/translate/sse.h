// Server-sent events framing (protocols.md §0): events are blocks of
// `field: value` lines ended by a blank line; \n, \r\n and \r line endings
// are all accepted (Gemini uses \r\n\r\n).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "translate/stream_limits.h"

namespace agd::sse {

// Length of the prefix of buf made of complete events (0 when none is complete).
size_t complete_prefix(std::string_view buf);

// Where a scan of an unfinished event stopped, so that more bytes appended to
// the same buffer are scanned from there, not from the start (a big event
// arriving in many reads is scanned once, not once per read).
struct Scan {
    size_t pos = 0;         // next byte to look at
    size_t line_start = 0;  // start of the line being read
};
// complete_prefix of buf, resuming `scan` (which it advances).
size_t complete_prefix(std::string_view buf, Scan& scan);

struct Event {
    std::string_view name;  // the `event:` field ("" when absent)
    std::string data;       // `data:` lines joined with '\n'
};

// Calls f(const Event&) for each event in `complete` (a complete_prefix()).
// Comment-only blocks (": keep-alive") are skipped.
template <class F>
void for_each_event(std::string_view complete, F&& f);

// Parses one event block (without its terminating blank line).
Event parse_event(std::string_view block);

// Splits `complete` into event blocks; returns the next block and advances.
bool next_block(std::string_view& rest, std::string_view& block);

// Reassembles events across reads: feed() whatever bytes arrived, and f is
// called for each event completed by them, in order, whatever the split.
// An unfinished event is held up to `max_event` bytes: feed() returns false
// once it grew past that (the caller fails the stream; nothing more is held).
class Framer {
public:
    explicit Framer(size_t max_event = stream_limits::kMaxEvent) : max_event_(max_event) {}
    template <class F>
    bool feed(std::string_view data, F&& f);
    // The same, but f(std::string_view) gets the complete events' bytes as
    // they came (at most one call per feed), not parsed events.
    template <class F>
    bool split(std::string_view data, F&& f);
    // The body ended: a last event without its blank line still counts.
    template <class F>
    void finish(F&& f);
    void clear() {
        carry_.clear();
        scan_ = {};
        over_ = false;
    }
    bool empty() const { return carry_.empty(); }
    std::string_view pending() const { return carry_; }  // an unfinished event's bytes so far

private:
    size_t max_event_;
    std::string carry_;
    Scan scan_;          // of carry_
    bool over_ = false;  // an event outgrew max_event_
};

template <class F>
void for_each_event(std::string_view complete, F&& f) {
    std::string_view block;
    while (next_block(complete, block)) {
        Event ev = parse_event(block);
        if (ev.name.empty() && ev.data.empty()) continue;
        f(ev);
    }
}

template <class F>
bool Framer::split(std::string_view data, F&& f) {
    if (over_) return false;
    bool carried = !carry_.empty();
    if (carried) carry_.append(data);
    else scan_ = {};
    std::string_view buf = carried ? std::string_view(carry_) : data;
    size_t n = complete_prefix(buf, scan_);
    if (n) {
        f(buf.substr(0, n));
        scan_.pos -= n;
        scan_.line_start -= n;
    }
    size_t rest = buf.size() - n;
    if (rest > max_event_) {
        over_ = true;
        std::string().swap(carry_);
        return false;
    }
    if (carried) carry_.erase(0, n);
    else carry_.assign(data.substr(n));
    return true;
}

template <class F>
bool Framer::feed(std::string_view data, F&& f) {
    return split(data, [&](std::string_view complete) { for_each_event(complete, f); });
}

template <class F>
void Framer::finish(F&& f) {
    if (carry_.empty()) return;
    carry_ += "\n\n";
    for_each_event(carry_, f);
    carry_.clear();
}

}  // namespace agd::sse
