#include "pipeline/multipart.h"

#include <string.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "common/json.h"

namespace agd {
namespace {

using R = Result<BodyInfo>;

constexpr size_t kMaxBoundary = 70;  // RFC 2046 5.1.1

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

bool ws(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && ws(s.front())) s.remove_prefix(1);
    while (!s.empty() && ws(s.back())) s.remove_suffix(1);
    return s;
}

// RFC 2046's bchars (the last one not a space).
bool boundary_char(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// A `;`-separated parameter list (RFC 9110 / RFC 6266 syntax): calls
// f(name, value) for each, the value unquoted only when it had no escapes
// (a quoted value with a backslash is given raw, which no name we look for
// holds). False when the list is malformed (an unterminated quote).
template <class F>
bool each_param(std::string_view params, F&& f) {
    size_t i = 0;
    while (i < params.size()) {
        size_t semi = params.find(';', i);
        if (semi == std::string_view::npos) return true;
        i = semi + 1;
        while (i < params.size() && ws(params[i])) ++i;
        size_t eq = params.find('=', i);
        size_t next_semi = params.find(';', i);
        if (eq == std::string_view::npos || (next_semi != std::string_view::npos && next_semi < eq)) continue;
        std::string_view name = trim(params.substr(i, eq - i));
        i = eq + 1;
        while (i < params.size() && ws(params[i])) ++i;
        std::string_view value;
        if (i < params.size() && params[i] == '"') {
            size_t start = ++i;
            bool escaped = false;
            while (i < params.size() && params[i] != '"') {
                if (params[i] == '\\') {
                    escaped = true;
                    ++i;
                }
                ++i;
            }
            if (i >= params.size()) return false;
            value = params.substr(start, i - start);
            ++i;
            if (escaped) value = std::string_view();  // not a name we look for
        } else {
            size_t end = params.find(';', i);
            value = trim(params.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
            i = end == std::string_view::npos ? params.size() : end;
        }
        f(name, value);
    }
    return true;
}

// Where `needle` starts in [from, hay.size()), or npos. glibc's memmem
// is linear in the haystack whatever the input (two-way), so a hostile
// body of near-delimiters costs no more than any other.
size_t find(std::string_view hay, std::string_view needle, size_t from) {
    if (from > hay.size()) return std::string_view::npos;
    const void* p = ::memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
    return p ? static_cast<size_t>(static_cast<const char*>(p) - hay.data()) : std::string_view::npos;
}

// One part's header block (without its blank line): the form field's
// name from Content-Disposition, or a message.
std::string read_headers(std::string_view block, size_t part, std::string_view& field) {
    size_t lines = 0;
    bool seen_disposition = false;
    while (!block.empty()) {
        size_t eol = block.find("\r\n");
        std::string_view line = block.substr(0, eol);
        block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
        if (++lines > kMultipartMaxHeaders)
            return "part " + std::to_string(part) + " has more than " + std::to_string(kMultipartMaxHeaders) +
                   " header lines";
        // An obsolete folded line (RFC 7578 has no use for one): a server
        // that joins it to the line before would read a name this scan did
        // not see.
        if (!line.empty() && ws(line.front()))
            return "part " + std::to_string(part) + " has a folded header line";
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return "part " + std::to_string(part) + " has a malformed header line";
        if (!ieq(trim(line.substr(0, colon)), "content-disposition")) continue;
        // What a server could read two ways is refused: two dispositions,
        // two names, or RFC 2231's name* (RFC 7578 4.2: not for form-data).
        if (seen_disposition) return "part " + std::to_string(part) + " has two Content-Disposition headers";
        seen_disposition = true;
        std::string_view value = line.substr(colon + 1);
        int names = 0, starred = 0;
        bool ok = each_param(value, [&](std::string_view name, std::string_view v) {
            if (ieq(name, "name")) {
                field = v;
                ++names;
            }
            if (ieq(name, "name*")) ++starred;
        });
        if (!ok || names > 1 || starred)
            return "part " + std::to_string(part) + " has a malformed Content-Disposition";
    }
    return {};
}

}  // namespace

bool is_multipart_form(std::string_view content_type) {
    std::string_view type = trim(content_type.substr(0, content_type.find(';')));
    return ieq(type, "multipart/form-data");
}

Result<std::string_view> multipart_boundary(std::string_view content_type) {
    using B = Result<std::string_view>;
    std::string_view boundary;
    int found = 0;
    bool ok = each_param(content_type, [&](std::string_view name, std::string_view v) {
        if (ieq(name, "boundary")) {
            boundary = v;
            ++found;
        }
    });
    if (!ok) return B::fail(400, "malformed Content-Type parameters");
    if (found > 1) return B::fail(400, "multipart/form-data with two boundary parameters");
    if (!found || boundary.empty()) return B::fail(400, "multipart/form-data without a boundary parameter");
    if (boundary.size() > kMaxBoundary) return B::fail(400, "multipart boundary longer than 70 characters");
    for (char c : boundary)
        if (!boundary_char(c)) return B::fail(400, "multipart boundary with a character RFC 2046 does not allow");
    if (boundary.back() == ' ') return B::fail(400, "multipart boundary ending in a space");
    return boundary;
}

Result<BodyInfo> scan_multipart(std::string_view content_type, std::string_view body) {
    Result<MultipartScan> scan = MultipartScan::open(content_type);
    if (!scan) return scan.error();
    Status st = scan->advance(body, 0, true);
    if (!st) return st.error();
    return scan->info();
}

Result<MultipartScan> MultipartScan::open(std::string_view content_type) {
    Result<std::string_view> b = multipart_boundary(content_type);
    if (!b) return Error{400, b.error().message};
    MultipartScan s;
    std::memcpy(s.delim_buf_, "\r\n--", 4);
    std::memcpy(s.delim_buf_ + 4, b.value().data(), b.value().size());
    s.delim_len_ = 4 + b.value().size();
    s.info_.multipart = true;
    return s;
}

// A part's content is whole (its delimiter starts at `close`).
Status MultipartScan::content_end(std::string_view value, size_t close) {
    if (field_ == "model") {
        if (info_.has_model) return Status::fail(400, "multipart body with more than one 'model' field");
        if (value.size() > kMultipartMaxModelBytes)
            return Status::fail(400, "the 'model' field is longer than " + std::to_string(kMultipartMaxModelBytes) +
                                         " bytes");
        if (!is_valid_utf8(value)) return Status::fail(400, "the 'model' field is not valid UTF-8");
        for (char c : value)
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return Status::fail(400, "the 'model' field holds a control character");
        info_.has_model = true;
        info_.model.assign(value);
        info_.model_begin = content_;
        info_.model_end = close;
        model_known_ = true;
    } else if (field_ == "stream") {
        info_.has_stream = true;
        info_.stream = trim(value) == "true";
    }
    return {};
}

Status MultipartScan::advance(std::string_view held, size_t base, bool end) {
    // Offsets are the body's; `at(x)` is x within `held`.
    const size_t arrived = base + held.size();
    std::string_view delim(delim_buf_, delim_len_);
    std::string_view dash = delim.substr(2);  // "--" + boundary: the first one may open the body
    auto rest = [&](size_t from) { return held.substr(from - base); };
    // A delimiter may begin in the last delim_len_ - 1 bytes: searched again.
    auto resume_at = [&](size_t from) { return std::max(from, arrived >= delim_len_ ? arrived - delim_len_ + 1 : 0); };
    for (;;) {
        switch (state_) {
            case State::Preamble: {
                if (!in_preamble_) {
                    // The body opens with the boundary, or with a preamble
                    // before the first delimiter.
                    std::string_view head = rest(0).substr(0, dash.size());
                    if (head == dash) {
                        pos_ = checked_ = dash.size();
                        state_ = State::AfterDelimiter;
                        continue;
                    }
                    if (!end && head == dash.substr(0, head.size())) return {};  // may still open with it
                    in_preamble_ = true;
                }
                size_t at = find(held, delim, search_ - base);
                if (at == std::string_view::npos) {
                    if (end) return Status::fail(400, "multipart body without its boundary");
                    search_ = checked_ = resume_at(search_);
                    return {};
                }
                pos_ = checked_ = base + at + delim.size();
                state_ = State::AfterDelimiter;
                continue;
            }
            case State::AfterDelimiter: {
                // "--" closes the body (an epilogue may follow); else
                // optional transport padding and the line's end.
                std::string_view r = rest(pos_);
                if (r.substr(0, 2) == "--") {
                    state_ = State::Closed;
                    continue;
                }
                size_t i = 0;
                while (i < r.size() && i <= kMultipartMaxHeaderBytes && ws(r[i])) ++i;
                if (i > kMultipartMaxHeaderBytes) return Status::fail(400, "multipart boundary line too long");
                if (r.size() < i + 2 && !end && (r.size() == i || r[i] == '\r' || r[i] == '-')) return {};
                if (r.substr(i, 2) != "\r\n") {
                    return Status::fail(400, i >= r.size() ? "multipart body truncated (no closing boundary)"
                                                           : "multipart boundary line not followed by CRLF");
                }
                if (++parts_ > kMultipartMaxParts)
                    return Status::fail(400, "multipart body with more than " + std::to_string(kMultipartMaxParts) +
                                                 " parts");
                pos_ += i + 2;
                search_ = pos_;
                state_ = State::Headers;
                continue;
            }
            case State::Headers: {
                // The header block, up to its blank line (none: the part starts with it).
                std::string_view r = rest(pos_);
                field_.clear();
                if (r.size() < 2 && !end) return {};
                if (r.substr(0, 2) == "\r\n") {
                    content_ = pos_ + 2;
                } else {
                    std::string_view window = r.substr(0, kMultipartMaxHeaderBytes + 4);
                    size_t from = search_ - pos_;
                    size_t blank = find(window, "\r\n\r\n", from);
                    if (blank == std::string_view::npos) {
                        if (window.size() > kMultipartMaxHeaderBytes)
                            return Status::fail(400, "part " + std::to_string(parts_) + "'s headers exceed " +
                                                         std::to_string(kMultipartMaxHeaderBytes) + " bytes");
                        if (end)
                            return Status::fail(400, "multipart body truncated in part " + std::to_string(parts_) +
                                                         "'s headers");
                        search_ = pos_ + (window.size() >= 3 ? window.size() - 3 : 0);
                        return {};
                    }
                    std::string_view field;
                    std::string err = read_headers(window.substr(0, blank), parts_, field);
                    if (!err.empty()) return Status::fail(400, err);
                    field_.assign(field);
                    content_ = pos_ + blank + 4;
                }
                search_ = content_;
                // A model field goes upstream only once it is whole.
                checked_ = content_;
                state_ = State::Content;
                continue;
            }
            case State::Content: {
                size_t at = find(held, delim, search_ - base);
                if (at == std::string_view::npos) {
                    if (end)
                        return Status::fail(400, "multipart body truncated in part " + std::to_string(parts_) +
                                                     " (no boundary after it)");
                    size_t have = arrived - content_;
                    if (field_ == "model" && have > kMultipartMaxModelBytes + delim_len_)
                        return Status::fail(400, "the 'model' field is longer than " +
                                                     std::to_string(kMultipartMaxModelBytes) + " bytes");
                    if (field_ == "stream" && have > kMultipartMaxModelBytes + delim_len_) {
                        // Too long to be "true": no need to keep it.
                        info_.has_stream = true;
                        info_.stream = false;
                        field_.clear();
                    }
                    search_ = resume_at(search_);
                    if (field_ != "model" && field_ != "stream") checked_ = search_;
                    return {};
                }
                size_t close = base + at;
                if (field_ == "model" || field_ == "stream") {  // held from content_ on (checked_ stayed there)
                    Status st = content_end(held.substr(content_ - base, close - content_), close);
                    if (!st) return st;
                }
                pos_ = checked_ = close + delim.size();
                state_ = State::AfterDelimiter;
                continue;
            }
            case State::Closed:
                checked_ = arrived;
                return {};
        }
    }
}

}  // namespace agd
