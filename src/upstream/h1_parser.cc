#include "upstream/h1_parser.h"

#include <algorithm>
#include <cstring>

namespace agd::upstream {
namespace {

constexpr std::string_view kVersionPrefix = "HTTP/1.";
// Larger chunk sizes and Content-Length values are refused (no real body is
// that long, and the arithmetic on them cannot overflow).
constexpr uint64_t kMaxBodyLength = uint64_t{1} << 60;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ows(char c) { return c == ' ' || c == '\t'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// tchar (RFC 9110 5.6.2).
bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

// A control character other than HTAB (obs-text, 0x80-0xFF, is allowed).
bool is_ctl(char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// Calls f on each trimmed, non-empty element of a comma-separated list.
template <typename F>
void for_each_element(std::string_view list, F&& f) {
    while (true) {
        size_t comma = list.find(',');
        std::string_view item = trim_ows(list.substr(0, comma));
        if (!item.empty()) f(item);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

// Drops the CR of a CRLF line end (the LF is already off); false if another
// CR is left in the line (a bare CR, RFC 9112 2.2).
bool strip_cr(std::string_view& line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line.find('\r') == std::string_view::npos;
}

// Is this line (CR stripped) an empty one, the end of a head or trailer block?
bool is_blank(const char* line, size_t n) { return n == 0 || (n == 1 && line[0] == '\r'); }

// Parses "name: value" (CR already stripped) into a lower-cased name and a
// trimmed value; an error message otherwise.
const char* parse_field(std::string_view line, std::string_view& name, std::string_view& value) {
    if (is_ows(line.front())) return "obs-fold (a line starting with whitespace) in the response head";
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "header line without a colon";
    name = line.substr(0, colon);
    if (name.empty()) return "empty header name";
    for (char c : name)
        if (!is_tchar(c)) return is_ows(c) ? "whitespace before the colon of a header" : "invalid character in a header name";
    value = trim_ows(line.substr(colon + 1));
    for (char c : value)
        if (is_ctl(c)) return "control character in a header value";
    return nullptr;
}

// Content-Length: digits only, at most kMaxBodyLength.
bool parse_length(std::string_view s, uint64_t& out) {
    if (s.empty()) return false;
    uint64_t v = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > kMaxBodyLength) return false;
    }
    out = v;
    return true;
}

}  // namespace

ResponseParser::Step ResponseParser::fail(std::string why) {
    state_ = State::Error;
    error_ = std::move(why);
    partial_.clear();
    return {Event::Error, 0, {}};
}

// Collects a block of lines ended by an empty line (a head, or the
// trailers) that starts at data[pos] or continues the one in partial_.
// Found: block is all of it, through the empty line's LF (a view into data
// or into partial_, which the caller clears after use), pos is past it.
// More: every byte was taken (copied into partial_); block is what there is
// so far. TooLarge: no end within kMaxHead bytes; block is those bytes.
ResponseParser::Collect ResponseParser::collect_block(const char* data, size_t len, size_t& pos,
                                                      std::string_view& block) {
    if (partial_.empty()) {
        // The common case: the whole block in this input, parsed in place.
        std::string_view view(data + pos, std::min(len - pos, kMaxHead));
        line_start_ = 0;
        size_t from = 0;
        while (from < view.size()) {
            const void* hit = std::memchr(view.data() + from, '\n', view.size() - from);
            if (!hit) break;
            size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - view.data());
            if (is_blank(view.data() + line_start_, lf - line_start_)) {
                block = view.substr(0, lf + 1);
                pos += lf + 1;
                line_start_ = 0;
                return Collect::Found;
            }
            line_start_ = from = lf + 1;
        }
        block = view;
        if (view.size() >= kMaxHead) return Collect::TooLarge;
        partial_.assign(view);  // line_start_ stays valid: same offsets
        pos = len;
        return Collect::More;
    }
    // Split across feeds: copy line by line, no further than the block's end.
    while (pos < len && partial_.size() < kMaxHead) {
        const char* p = data + pos;
        size_t n = std::min(len - pos, kMaxHead - partial_.size());
        const void* hit = std::memchr(p, '\n', n);
        if (!hit) {
            partial_.append(p, n);
            pos += n;
            break;
        }
        size_t k = static_cast<size_t>(static_cast<const char*>(hit) - p) + 1;
        partial_.append(p, k);
        pos += k;
        if (is_blank(partial_.data() + line_start_, partial_.size() - 1 - line_start_)) {
            block = partial_;
            line_start_ = 0;
            return Collect::Found;
        }
        line_start_ = partial_.size();
    }
    block = partial_;
    return partial_.size() >= kMaxHead ? Collect::TooLarge : Collect::More;
}

// Collects one line (a chunk size line) the same way: Found with line (LF
// excluded) when its LF is within kMaxChunkLine bytes.
ResponseParser::Collect ResponseParser::collect_line(const char* data, size_t len, size_t& pos,
                                                     std::string_view& line) {
    size_t have = partial_.size();
    size_t n = std::min(len - pos, kMaxChunkLine - have);
    const void* hit = n == 0 ? nullptr : std::memchr(data + pos, '\n', n);
    if (hit) {
        size_t k = static_cast<size_t>(static_cast<const char*>(hit) - (data + pos));
        if (have == 0) {
            line = std::string_view(data + pos, k);
        } else {
            partial_.append(data + pos, k);
            line = partial_;
        }
        pos += k + 1;
        return Collect::Found;
    }
    if (n > 0) partial_.append(data + pos, n);
    pos += n;
    return partial_.size() >= kMaxChunkLine ? Collect::TooLarge : Collect::More;
}

// "HTTP/1.x SP 3DIGIT [SP reason]", its LF off (its CR not yet).
bool ResponseParser::parse_status_line(std::string_view line) {
    // The version first, on the raw bytes: check_status_so_far refuses a
    // prefix with the same message.
    if (line.size() < kVersionPrefix.size() || line.substr(0, kVersionPrefix.size()) != kVersionPrefix) {
        fail("not an HTTP/1.x status line");
        return false;
    }
    if (!strip_cr(line)) {
        fail("bare CR in the response head");
        return false;
    }
    if (line.size() < 12 || !is_digit(line[7]) || line[8] != ' ' || !is_digit(line[9]) || line[9] == '0' ||
        !is_digit(line[10]) || !is_digit(line[11]) || (line.size() > 12 && line[12] != ' ')) {
        fail("malformed status line");
        return false;
    }
    for (char c : line.substr(12))
        if (is_ctl(c)) {
            fail("malformed status line");
            return false;
        }
    minor_version_ = line[7] - '0';
    status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (status_ == 101) {
        fail("unexpected 101 Switching Protocols");
        return false;
    }
    return true;
}

// Refuses an incomplete head as soon as its status line is known to be bad
// (garbage from something that is not an HTTP/1.x server): with the same
// message parse_head would give once the head is complete.
bool ResponseParser::check_status_so_far(std::string_view head) {
    if (state_ != State::StatusLine) return true;
    if (line_start_ > 0) {  // the status line is complete (once: the state changes)
        if (!parse_status_line(head.substr(0, head.find('\n')))) return false;
        state_ = State::Headers;
        return true;
    }
    size_t n = std::min(head.size(), kVersionPrefix.size());
    if (head.substr(0, n) != kVersionPrefix.substr(0, n)) {
        fail("not an HTTP/1.x status line");
        return false;
    }
    return true;
}

// A complete head (through its empty line). Sets status_, headers_ and the
// framing; on an error, calls fail() and returns false.
bool ResponseParser::parse_head(std::string_view block) {
    headers_.clear();
    // One line per field (and the status line): the list is sized once.
    headers_.reserve(static_cast<size_t>(std::count(block.begin(), block.end(), '\n')));
    has_te_ = chunked_ = has_length_ = false;
    remaining_ = 0;
    bool saw_length = false, bad_length = false, length_conflict = false;
    bool conn_close = false, conn_keep_alive = false;
    uint64_t length = 0;

    size_t lf = block.find('\n');
    if (!parse_status_line(block.substr(0, lf))) return false;
    block.remove_prefix(lf + 1);
    while (true) {
        lf = block.find('\n');
        std::string_view line = block.substr(0, lf);
        block.remove_prefix(lf + 1);
        if (!strip_cr(line)) {
            fail("bare CR in the response head");
            return false;
        }
        if (line.empty()) break;  // the end of the block
        std::string_view name, value;
        if (const char* why = parse_field(line, name, value)) {
            fail(why);
            return false;
        }
        std::string lname(name);
        for (char& c : lname) c = lower(c);
        if (lname == "transfer-encoding") {
            has_te_ = true;
            // The last coding of all the Transfer-Encoding headers counts.
            for_each_element(value, [&](std::string_view coding) { chunked_ = iequals(coding, "chunked"); });
        } else if (lname == "content-length") {
            saw_length = true;
            bool any = false;
            for_each_element(value, [&](std::string_view v) {
                any = true;
                uint64_t n = 0;
                if (!parse_length(v, n)) {
                    bad_length = true;
                } else if (has_length_ && n != length) {
                    length_conflict = true;
                } else {
                    length = n;
                    has_length_ = true;
                }
            });
            if (!any) bad_length = true;  // an empty value (or only commas)
        } else if (lname == "connection") {
            for_each_element(value, [&](std::string_view token) {
                if (iequals(token, "close")) conn_close = true;
                else if (iequals(token, "keep-alive")) conn_keep_alive = true;
            });
        }
        headers_.emplace_back(std::move(lname), std::string(value));
    }

    // Transfer-Encoding overrides Content-Length, which is not checked then.
    if (!has_te_ && bad_length) {
        fail("invalid Content-Length");
        return false;
    }
    if (!has_te_ && length_conflict) {
        fail("conflicting Content-Length values");
        return false;
    }
    remaining_ = length;
    if (minor_version_ == 0) close_ = conn_close || !conn_keep_alive;
    else close_ = conn_close;
    // Both framings, or Transfer-Encoding in an HTTP/1.0 response: the
    // framing is suspect (RFC 9112 6.1, 6.3), the connection is not reused.
    if (has_te_ && (saw_length || minor_version_ == 0)) close_ = true;
    return true;
}

// The final head is parsed: where its body is (RFC 9112 6.3).
void ResponseParser::start_body() {
    if (head_request_ || status_ < 200 || status_ == 204 || status_ == 304) {
        state_ = State::Done;
    } else if (has_te_) {
        if (chunked_) {
            state_ = State::ChunkSize;
        } else {
            state_ = State::BodyClose;
            close_ = true;
        }
    } else if (has_length_) {
        state_ = remaining_ == 0 ? State::Done : State::BodyLength;
    } else {
        state_ = State::BodyClose;
        close_ = true;
    }
}

// "HEX [BWS ; extensions]", the LF off. Sets remaining_.
bool ResponseParser::parse_chunk_size(std::string_view line) {
    if (!strip_cr(line)) {
        fail("bare CR in a chunk size line");
        return false;
    }
    uint64_t v = 0;
    size_t i = 0;
    for (; i < line.size(); ++i) {
        char c = line[i];
        int d;
        if (is_digit(c)) d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else break;
        // v * 16 cannot overflow once v <= kMaxBodyLength / 16.
        if (v > kMaxBodyLength / 16 || v * 16 + static_cast<uint64_t>(d) > kMaxBodyLength) {
            fail("chunk size too large");
            return false;
        }
        v = v * 16 + static_cast<uint64_t>(d);
    }
    if (i == 0) {
        fail("invalid chunk size");
        return false;
    }
    while (i < line.size() && is_ows(line[i])) ++i;
    if (i < line.size() && line[i] != ';') {
        fail("invalid chunk size");
        return false;
    }
    remaining_ = v;  // extensions (after ';') are ignored
    return true;
}

// The CRLF (or LF) after a chunk's data, maybe split between CR and LF
// (the CR then waits in partial_).
bool ResponseParser::chunk_data_end(const char* data, size_t len, size_t& pos) {
    while (pos < len) {
        char c = data[pos];
        if (c == '\n') {
            ++pos;
            partial_.clear();
            state_ = State::ChunkSize;
            return true;
        }
        if (c != '\r' || !partial_.empty()) break;
        partial_.push_back('\r');
        ++pos;
    }
    if (pos == len) return true;  // more needed
    fail("chunk data not followed by CRLF");
    return false;
}

bool ResponseParser::parse_trailers(std::string_view block) {
    while (!block.empty()) {
        size_t lf = block.find('\n');
        std::string_view line = block.substr(0, lf);
        block.remove_prefix(lf + 1);
        if (!strip_cr(line)) {
            fail("bare CR in the trailers");
            return false;
        }
        if (line.empty()) break;
        std::string_view name, value;
        if (const char* why = parse_field(line, name, value)) {
            fail(std::string(why) + " (trailers)");
            return false;
        }
    }
    return true;  // parsed and dropped
}

ResponseParser::Step ResponseParser::feed(const char* data, size_t len) {
    if (len > 0) started_ = true;
    offered_ = 0;
    size_t pos = 0;
    while (true) {
        switch (state_) {
        case State::StatusLine:
        case State::Headers: {
            std::string_view block;
            Collect got = collect_block(data, len, pos, block);
            if (got != Collect::Found) {
                if (!check_status_so_far(block)) return {Event::Error, 0, {}};
                if (got == Collect::TooLarge) return fail("response head over " + std::to_string(kMaxHead) + " bytes");
                return {Event::NeedMore, pos, {}};
            }
            bool ok = parse_head(block);
            partial_.clear();
            if (!ok) return {Event::Error, 0, {}};
            if (status_ < 200) {  // interim (100, 102, 103...): skipped
                headers_.clear();
                state_ = State::StatusLine;
                continue;
            }
            start_body();
            return {Event::Head, pos, {}};
        }
        case State::BodyLength:
        case State::ChunkData:
        case State::BodyClose: {
            if (pos == len) return {Event::NeedMore, pos, {}};
            size_t n = len - pos;
            if (state_ != State::BodyClose && remaining_ < n) n = static_cast<size_t>(remaining_);
            offered_ = n;
            return {Event::Body, pos, std::string_view(data + pos, n)};
        }
        case State::ChunkDataEnd:
            if (!chunk_data_end(data, len, pos)) return {Event::Error, 0, {}};
            if (state_ == State::ChunkDataEnd) return {Event::NeedMore, pos, {}};
            continue;
        case State::ChunkSize: {
            std::string_view line;
            Collect got = collect_line(data, len, pos, line);
            if (got == Collect::More) return {Event::NeedMore, pos, {}};
            if (got == Collect::TooLarge) return fail("chunk size line over " + std::to_string(kMaxChunkLine) + " bytes");
            bool ok = parse_chunk_size(line);
            partial_.clear();
            if (!ok) return {Event::Error, 0, {}};
            state_ = remaining_ == 0 ? State::Trailers : State::ChunkData;
            continue;
        }
        case State::Trailers: {
            std::string_view block;
            Collect got = collect_block(data, len, pos, block);
            if (got == Collect::More) return {Event::NeedMore, pos, {}};
            if (got == Collect::TooLarge) return fail("trailers over " + std::to_string(kMaxHead) + " bytes");
            bool ok = parse_trailers(block);
            partial_.clear();
            if (!ok) return {Event::Error, 0, {}};
            state_ = State::Done;
            return {Event::Done, pos, {}};
        }
        case State::Done:
            return {Event::Done, 0, {}};
        case State::Error:
            return {Event::Error, 0, {}};
        }
    }
}

void ResponseParser::consume_body(size_t n) {
    n = std::min(n, offered_);
    offered_ -= n;
    if (state_ == State::BodyLength || state_ == State::ChunkData) {
        remaining_ -= n;
        if (remaining_ == 0) state_ = state_ == State::BodyLength ? State::Done : State::ChunkDataEnd;
    }
}

bool ResponseParser::eof() {
    switch (state_) {
    case State::Done:
        return true;
    case State::BodyClose:
        state_ = State::Done;
        return true;
    case State::Error:
        return false;
    case State::StatusLine:
    case State::Headers:
        fail("connection closed before the end of the response head");
        return false;
    default:
        fail("connection closed before the end of the body");
        return false;
    }
}

bool ResponseParser::keep_alive() const { return state_ == State::Done && !close_; }

}  // namespace agd::upstream
