// Server-sent events framing (protocols.md §0): events are blocks of
// `field: value` lines ended by a blank line; \n, \r\n and \r line endings
// are all accepted (Gemini uses \r\n\r\n).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace agd::sse {

// Length of the prefix of buf made of complete events (0 when none is complete).
size_t complete_prefix(std::string_view buf);

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
class Framer {
public:
    template <class F>
    void feed(std::string_view data, F&& f);
    // The body ended: a last event without its blank line still counts.
    template <class F>
    void finish(F&& f);
    void clear() { carry_.clear(); }
    bool empty() const { return carry_.empty(); }

private:
    std::string carry_;
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
void Framer::feed(std::string_view data, F&& f) {
    bool carried = !carry_.empty();
    if (carried) carry_.append(data);
    std::string_view buf = carried ? std::string_view(carry_) : data;
    size_t n = complete_prefix(buf);
    if (n) for_each_event(buf.substr(0, n), f);
    if (carried) carry_.erase(0, n);
    else carry_.assign(data.substr(n));
}

template <class F>
void Framer::finish(F&& f) {
    if (carry_.empty()) return;
    carry_ += "\n\n";
    for_each_event(carry_, f);
    carry_.clear();
}

}  // namespace agd::sse
