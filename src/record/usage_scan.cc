// The usage tap's scanner (usage_scan.h, docs/usage-tap.md).
#include "record/usage_scan.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace agd::record {

using detail::UsageSlot;
using detail::UsageTarget;
using enum detail::UsageSlot;

namespace {

// ---- The places usage lives, per wire (protocols.md §1.3-1.4, §2.3-2.4,
// §4.4-4.5, §5.2-5.3, §6.10). A node is an object (or array) on a path to
// usage; its edges name the keys worth following. Every other value is
// skipped.

struct Edge {
    std::string_view key;
    UsageTarget to;
};

struct Node {
    const Edge* edges = nullptr;
    uint8_t count = 0;
    bool usage = false;  // the usage object itself: figures are taken when it closes
    UsageTarget elem;    // an array node: what its elements are
};

struct Schema {
    const Node* nodes;
    UsageTarget body_root;   // feed_body
    UsageTarget event_root;  // feed_event
};

constexpr UsageTarget obj(int8_t n) { return {n, -1, -1, false}; }
constexpr UsageTarget field(UsageSlot s) { return {-1, -1, static_cast<int8_t>(s), false}; }
constexpr UsageTarget capture() { return {-1, -1, -1, true}; }

template <size_t N>
constexpr Node node(const Edge (&e)[N], bool usage = false) {
    return {e, static_cast<uint8_t>(N), usage, {}};
}

// OpenAI Chat (and legacy Completions): $.usage, in the body and in the
// stream's usage chunk alike.
constexpr Edge kChatRoot[] = {{"usage", obj(1)}};
constexpr Edge kChatUsage[] = {{"prompt_tokens", field(kInput)},
                               {"completion_tokens", field(kOutput)},
                               {"prompt_tokens_details", obj(2)},
                               {"completion_tokens_details", obj(3)}};
constexpr Edge kChatPromptDetails[] = {{"cached_tokens", field(kCacheRead)},
                                       {"cache_write_tokens", field(kCacheWrite)}};
constexpr Edge kChatCompletionDetails[] = {{"reasoning_tokens", field(kReasoning)}};
constexpr Node kChatNodes[] = {node(kChatRoot), node(kChatUsage, true), node(kChatPromptDetails),
                               node(kChatCompletionDetails)};

// OpenAI Responses: $.usage in the body, $.response.usage in the terminal
// events (whose name may only be in $.type).
constexpr Edge kRespRoot[] = {{"usage", obj(1)}};
constexpr Edge kRespUsage[] = {{"input_tokens", field(kInput)},
                               {"output_tokens", field(kOutput)},
                               {"input_tokens_details", obj(2)},
                               {"output_tokens_details", obj(3)}};
constexpr Edge kRespInputDetails[] = {{"cached_tokens", field(kCacheRead)},
                                      {"cache_write_tokens", field(kCacheWrite)}};
constexpr Edge kRespOutputDetails[] = {{"reasoning_tokens", field(kReasoning)}};
constexpr Edge kRespEventRoot[] = {{"response", obj(5)}, {"type", capture()}};
constexpr Edge kRespEventResponse[] = {{"usage", obj(1)}};
constexpr Node kRespNodes[] = {node(kRespRoot),          node(kRespUsage, true),  node(kRespInputDetails),
                               node(kRespOutputDetails), node(kRespEventRoot),    node(kRespEventResponse)};

// Anthropic: $.usage in the body and in message_delta, $.message.usage in
// message_start.
constexpr Edge kAnthRoot[] = {{"usage", obj(1)}};
constexpr Edge kAnthUsage[] = {{"input_tokens", field(kInput)},
                               {"output_tokens", field(kOutput)},
                               {"cache_read_input_tokens", field(kCacheRead)},
                               {"cache_creation_input_tokens", field(kCacheWrite)},
                               {"output_tokens_details", obj(2)}};
constexpr Edge kAnthOutputDetails[] = {{"thinking_tokens", field(kReasoning)}};
constexpr Edge kAnthEventRoot[] = {{"usage", obj(1)}, {"message", obj(4)}, {"type", capture()}};
constexpr Edge kAnthEventMessage[] = {{"usage", obj(1)}};
constexpr Node kAnthNodes[] = {node(kAnthRoot), node(kAnthUsage, true), node(kAnthOutputDetails),
                               node(kAnthEventRoot), node(kAnthEventMessage)};

// Gemini: $.usageMetadata of each GenerateContentResponse; a stream without
// alt=sse is one array of them ($[*].usageMetadata). Parsers accept
// snake_case too (protocols.md §5).
constexpr Edge kGemRoot[] = {{"usageMetadata", obj(1)}, {"usage_metadata", obj(1)}};
constexpr Edge kGemUsage[] = {{"promptTokenCount", field(kInput)},
                              {"candidatesTokenCount", field(kOutput)},
                              {"cachedContentTokenCount", field(kCacheRead)},
                              {"thoughtsTokenCount", field(kReasoning)},
                              {"toolUsePromptTokenCount", field(kToolPrompt)},
                              {"prompt_token_count", field(kInput)},
                              {"candidates_token_count", field(kOutput)},
                              {"cached_content_token_count", field(kCacheRead)},
                              {"thoughts_token_count", field(kReasoning)},
                              {"tool_use_prompt_token_count", field(kToolPrompt)}};
constexpr Node kGemNodes[] = {node(kGemRoot), node(kGemUsage, true), {nullptr, 0, false, obj(0)}};

constexpr Schema kSchemas[] = {
    {kChatNodes, obj(0), obj(0)},
    {kRespNodes, obj(0), obj(4)},
    {kAnthNodes, obj(0), obj(3)},
    {kGemNodes, {0, 2, -1, false}, obj(0)},
};

const Schema& schema_of(Protocol p) { return kSchemas[static_cast<size_t>(p) & 3]; }

constexpr int64_t kMaxExact = int64_t(1) << 53;  // larger figures are not taken

inline bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// The first '"' or '\\' in [p, end), or end.
inline const char* find_quote_or_backslash(const char* p, const char* end) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        if (m != 0) return p + __builtin_ctz(static_cast<unsigned>(m));
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\') ++p;
    return p;
}

UsageTarget lookup(const Node& n, const char* key, size_t len) {
    for (size_t i = 0; i < n.count; ++i) {
        const Edge& e = n.edges[i];
        if (e.key.size() == len && e.key[0] == key[0] && std::memcmp(e.key.data(), key, len) == 0) return e.to;
    }
    return {};
}

// The events whose usage counts: Responses' terminal events, Anthropic's
// message_start and message_delta; every event for Chat and Gemini.
bool event_counts(Protocol wire, std::string_view type) {
    switch (wire) {
        case Protocol::OpenAIResponses:
            return type == "response.completed" || type == "response.incomplete" || type == "response.failed";
        case Protocol::Anthropic: return type == "message_start" || type == "message_delta";
        case Protocol::OpenAIChat:
        case Protocol::Gemini: return true;
    }
    return false;
}

// The next `"usage` in [p, end), or end: 16 bytes at a time, looking at
// the places where a quote meets a 'u'.
const char* find_usage_key(const char* p, const char* const end) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i u = _mm_set1_epi8('u');
    while (end - p >= 17) {
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
        auto m = static_cast<uint32_t>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, quote), _mm_cmpeq_epi8(b, u))));
        while (m != 0) {
            const char* c = p + __builtin_ctz(m);
            m &= m - 1;
            if (end - c >= 6 && std::memcmp(c + 2, "sage", 4) == 0) return c;
        }
        p += 16;
    }
#endif
    for (; end - p >= 6; ++p)
        if (*p == '"' && std::memcmp(p + 1, "usage", 5) == 0) return p;
    return end;
}

// Can this event's data hold a usage object? Only with the bytes `"usage`
// (Gemini's "usageMetadata" too); every Chat chunk of a stream with
// include_usage carries "usage":null, which cannot.
bool may_hold_usage(std::string_view d) {
    const char* const end = d.data() + d.size();
    const char* p = d.data();
    for (;;) {
        p = find_usage_key(p, end);
        if (p == end) return false;
        p += 6;
        if (p == end || *p != '"') return true;  // "usageMetadata", "usage_metadata"
        const char* q = p + 1;
        while (q < end && is_ws(*q)) ++q;
        if (q == end || *q != ':') continue;  // a string value "usage"
        ++q;
        while (q < end && is_ws(*q)) ++q;
        if (end - q >= 4 && std::memcmp(q, "null", 4) == 0) continue;
        return true;
    }
}

}  // namespace

UsageScanner::UsageScanner(Protocol wire) : wire_(wire) { reset(); }

void UsageScanner::reset() {
    acc_.fill(-1);
    cur_.fill(-1);
    doc_.fill(-1);
    start_parse(false);
}

void UsageScanner::start_parse(bool event) {
    const Schema& s = schema_of(wire_);
    event_ = event;
    st_ = St::Value;
    then_ = St::After;
    esc_ = false;
    depth_ = 0;
    buf_len_ = 0;
    buf_over_ = false;
    type_len_ = 0;
    skip_depth_ = 0;
    skip_str_ = false;
    tgt_ = event ? s.event_root : s.body_root;
}

bool UsageScanner::seen() const {
    for (int64_t v : acc_)
        if (v >= 0) return true;
    return false;
}

Usage UsageScanner::usage() const {
    const Raw& r = acc_;
    auto nz = [](int64_t v) { return v > 0 ? v : 0; };
    Usage u;
    u.cache_read = r[kCacheRead];
    u.cache_write = r[kCacheWrite];
    u.reasoning = r[kReasoning];
    switch (wire_) {
        case Protocol::OpenAIChat:
        case Protocol::OpenAIResponses:
            u.input = r[kInput];
            u.output = r[kOutput];
            break;
        case Protocol::Anthropic:
            // input_tokens leaves the cache reads and writes out.
            if (r[kInput] >= 0 || r[kCacheRead] >= 0 || r[kCacheWrite] >= 0)
                u.input = nz(r[kInput]) + nz(r[kCacheRead]) + nz(r[kCacheWrite]);
            u.output = r[kOutput];
            break;
        case Protocol::Gemini:
            // promptTokenCount holds the cache; the tool-use prompt is apart;
            // candidatesTokenCount leaves the thoughts out. Zero figures are
            // omitted on the wire (proto3 JSON).
            if (r[kInput] >= 0 || r[kToolPrompt] >= 0) u.input = nz(r[kInput]) + nz(r[kToolPrompt]);
            if (u.input >= 0 && u.cache_read < 0) u.cache_read = 0;
            if (r[kOutput] >= 0 || r[kReasoning] >= 0) {
                u.output = nz(r[kOutput]) + nz(r[kReasoning]);
                u.reasoning = nz(r[kReasoning]);
            }
            u.cache_write = -1;
            break;
    }
    return u;
}

// A usage object's figures join what was read before: Anthropic's are
// cumulative per field (message_start, then message_delta repeating some);
// the other wires send whole snapshots, the last of which stands. An object
// without a figure ("usage":{}) changes nothing.
void UsageScanner::merge(Raw& into, const Raw& r) const {
    bool any = false;
    for (int64_t v : r) any = any || v >= 0;
    if (!any) return;
    if (wire_ == Protocol::Anthropic) {
        for (size_t i = 0; i < r.size(); ++i)
            if (r[i] >= 0) into[i] = r[i];
    } else {
        into = r;
    }
}

void UsageScanner::feed_body(std::string_view bytes) {
    if (event_) start_parse(false);
    scan(bytes.data(), bytes.data() + bytes.size());
}

void UsageScanner::feed_event(std::string_view name, std::string_view data) {
    bool by_type = false;  // the event's name is only in its data's "type"
    if (wire_ == Protocol::OpenAIResponses || wire_ == Protocol::Anthropic) {
        if (name.empty())
            by_type = true;
        else if (!event_counts(wire_, name))
            return;
    }
    if (!may_hold_usage(data)) return;
    start_parse(true);
    doc_.fill(-1);
    scan(data.data(), data.data() + data.size());
    if (!by_type || event_counts(wire_, std::string_view(type_, type_len_))) merge(acc_, doc_);
}

void UsageScanner::push(int8_t n, bool array) {
    const Node& nd = schema_of(wire_).nodes[n];
    frames_[depth_++] = Frame{n, array};
    if (nd.usage) cur_.fill(-1);
    if (array) tgt_ = nd.elem;
}

// The innermost tracked container closed.
void UsageScanner::close() {
    const Frame f = frames_[--depth_];
    const Node& nd = schema_of(wire_).nodes[f.node];
    if (nd.usage) {
        merge(event_ ? doc_ : acc_, cur_);  // an event's counts once its type is known
    }
    st_ = depth_ == 0 ? St::Done : St::After;
}

// Inside a skipped container: brackets are counted outside strings, and
// strings are walked past (a backslash hides the next byte). 16 bytes at a
// time, visiting only the quotes, backslashes and brackets among them.
// Returns the byte after the container's closing bracket, or end.
const char* UsageScanner::skip(const char* p, const char* const end) {
    uint64_t depth = skip_depth_;
    bool in_str = skip_str_;
    bool esc = esc_;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i open = _mm_set1_epi8('{');
    const __m128i close = _mm_set1_epi8('}');
    const __m128i bit20 = _mm_set1_epi8(0x20);  // '[' and ']' are '{' and '}' less 0x20
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const auto q = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)));
        const auto b = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash)));
        if (in_str && !esc && (q | b) == 0) {  // 16 bytes of a string's text
            p += 16;
            continue;
        }
        const __m128i f = _mm_or_si128(v, bit20);
        const auto o = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(f, open)));
        const auto c = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(f, close)));
        uint32_t m = q | b | o | c;
        if (esc) {  // the first byte is escaped
            m &= ~1u;
            esc = false;
        }
        while (m != 0) {
            const unsigned i = static_cast<unsigned>(__builtin_ctz(m));
            const uint32_t bit = 1u << i;
            m &= m - 1;
            if (in_str) {
                if (b & bit) {
                    if (i == 15)
                        esc = true;
                    else
                        m &= ~(bit << 1);
                } else if (q & bit) {
                    in_str = false;
                }
            } else if (q & bit) {
                in_str = true;
            } else if (o & bit) {
                ++depth;
            } else if ((c & bit) && --depth == 0) {
                skip_depth_ = 0;
                skip_str_ = false;
                esc_ = false;
                return p + i + 1;
            }
        }
        p += 16;
    }
#endif
    for (; p < end; ++p) {
        const char ch = *p;
        if (esc) {
            esc = false;
        } else if (in_str) {
            if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if ((ch | 0x20) == '{') {
            ++depth;
        } else if ((ch | 0x20) == '}' && --depth == 0) {
            skip_depth_ = 0;
            skip_str_ = false;
            esc_ = false;
            return p + 1;
        }
    }
    skip_depth_ = depth;
    skip_str_ = in_str;
    esc_ = esc;
    return end;
}

// Walks past the rest of a string: true at its closing quote (p after it),
// false when the piece ended first (esc_ remembers a backslash at its end).
bool UsageScanner::skip_string(const char*& p, const char* const end) {
    if (esc_) {  // the byte a backslash at the end of the last piece escaped
        if (p == end) return false;
        ++p;
        esc_ = false;
    }
    for (;;) {
        p = find_quote_or_backslash(p, end);
        if (p == end) return false;
        if (*p == '"') {
            ++p;
            return true;
        }
        if (end - p < 2) {
            esc_ = true;
            p = end;
            return false;
        }
        p += 2;
    }
}

// The state machine: consumes [p, end) (or stops on Done or Error). The
// common path of an object, ',' then a key, ':' and a value, runs straight
// down through the cases; every case returns when the piece ends.
void UsageScanner::scan(const char* p, const char* const end) {
    const Node* const nodes = schema_of(wire_).nodes;
    while (p < end) {
        switch (st_) {
            case St::After: {
                while (p < end && is_ws(*p)) ++p;
                if (p == end) return;
                if (depth_ == 0) {
                    st_ = St::Done;
                    return;
                }
                const char c = *p++;
                const Frame& f = frames_[depth_ - 1];
                if (c == ',' && f.array) {
                    tgt_ = nodes[f.node].elem;
                    st_ = St::Value;
                    continue;
                }
                if (c == (f.array ? ']' : '}')) {
                    close();
                    continue;
                }
                if (c != ',') {
                    st_ = St::Error;
                    return;
                }
                st_ = St::ObjKey;
                [[fallthrough]];
            }
            case St::ObjFirst:
            case St::ObjKey: {
                while (p < end && is_ws(*p)) ++p;
                if (p == end) return;
                const char c = *p++;
                if (c == '}' && st_ == St::ObjFirst) {
                    close();
                    continue;
                }
                if (c != '"') {
                    st_ = St::Error;
                    return;
                }
                buf_len_ = 0;
                buf_over_ = false;
                st_ = St::Key;
                [[fallthrough]];
            }
            case St::Key:
            case St::Capture: {
                const char* q = find_quote_or_backslash(p, end);
                const size_t n = static_cast<size_t>(q - p);
                const char* text = p;  // the string, when it is whole in this piece
                size_t len = n;
                if (buf_len_ > 0 || q == end) {  // split across pieces: gathered in buf_
                    if (!buf_over_) {
                        if (n <= kBuf - buf_len_) {
                            std::memcpy(buf_ + buf_len_, p, n);
                            buf_len_ = static_cast<uint8_t>(buf_len_ + n);
                        } else {
                            buf_over_ = true;
                        }
                    }
                    text = buf_;
                    len = buf_len_;
                } else if (n > kBuf) {
                    buf_over_ = true;
                }
                p = q;
                if (p == end) return;
                if (*p == '\\') {
                    // Not a name looked for: skip the rest of the string.
                    if (st_ == St::Key) tgt_ = {};
                    if (st_ == St::Capture) type_len_ = 0;
                    then_ = st_ == St::Key ? St::Colon : St::After;
                    st_ = St::Str;
                    continue;
                }
                ++p;  // the closing quote
                if (st_ == St::Capture) {  // the last "type" stands; a long one is none of ours
                    type_len_ = buf_over_ ? 0 : static_cast<uint8_t>(len);
                    if (!buf_over_) std::memcpy(type_, text, len);
                    st_ = St::After;
                    continue;
                }
                tgt_ = buf_over_ ? UsageTarget{} : lookup(nodes[frames_[depth_ - 1].node], text, len);
                st_ = St::Colon;
                [[fallthrough]];
            }
            case St::Colon: {
                while (p < end && is_ws(*p)) ++p;
                if (p == end) return;
                if (*p++ != ':') {
                    st_ = St::Error;
                    return;
                }
                st_ = St::Value;
                [[fallthrough]];
            }
            case St::Value:
            case St::ArrFirst: {
                while (p < end && is_ws(*p)) ++p;
                if (p == end) return;
                const char c = *p++;
                switch (c) {
                    case '"':
                        if (tgt_.capture) {
                            buf_len_ = 0;
                            buf_over_ = false;
                            st_ = St::Capture;
                        } else {
                            then_ = St::After;
                            st_ = skip_string(p, end) ? St::After : St::Str;
                        }
                        break;
                    case '{':
                        if (tgt_.obj >= 0 && depth_ < kMaxFrames) {
                            push(tgt_.obj, false);
                            st_ = St::ObjFirst;
                        } else {
                            skip_depth_ = 1;
                            skip_str_ = false;
                            st_ = St::Skip;
                        }
                        break;
                    case '[':
                        if (tgt_.arr >= 0 && depth_ < kMaxFrames) {
                            push(tgt_.arr, true);
                            st_ = St::ArrFirst;
                        } else {
                            skip_depth_ = 1;
                            skip_str_ = false;
                            st_ = St::Skip;
                        }
                        break;
                    case ']':
                        if (st_ != St::ArrFirst) {
                            st_ = St::Error;
                            return;
                        }
                        close();
                        break;
                    case '-':
                    case '0':
                    case '1':
                    case '2':
                    case '3':
                    case '4':
                    case '5':
                    case '6':
                    case '7':
                    case '8':
                    case '9':
                        if (tgt_.field >= 0) {
                            num_ = c == '-' ? 0 : static_cast<uint64_t>(c - '0');
                            num_digit_ = c != '-';
                            num_bad_ = c == '-';  // negative
                            st_ = St::Num;
                        } else {
                            st_ = St::Scalar;
                        }
                        break;
                    case 't':
                    case 'f':
                    case 'n': st_ = St::Scalar; break;
                    default: st_ = St::Error; return;
                }
                continue;
            }

            case St::Str:
                if (skip_string(p, end)) st_ = then_;
                continue;

            case St::Num: {
                while (p < end) {
                    const char c = *p;
                    if (c >= '0' && c <= '9') {
                        if (num_digit_ && num_ == 0) num_bad_ = true;  // a leading zero
                        if (!num_bad_) {
                            num_ = num_ * 10 + static_cast<uint64_t>(c - '0');
                            if (num_ > static_cast<uint64_t>(kMaxExact)) num_bad_ = true;
                        }
                        num_digit_ = true;
                    } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                        num_bad_ = true;  // a fraction, an exponent
                    } else {
                        break;
                    }
                    ++p;
                }
                if (p == end) return;
                const char c = *p;
                if (!is_ws(c) && c != ',' && c != '}' && c != ']') {
                    st_ = St::Error;
                    return;
                }
                if (!num_bad_ && num_digit_) cur_[static_cast<size_t>(tgt_.field)] = static_cast<int64_t>(num_);
                st_ = St::After;
                continue;
            }

            case St::Scalar:
                while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '+' ||
                                   *p == '-' || *p == 'E'))
                    ++p;
                if (p < end) st_ = St::After;
                continue;

            case St::Skip:
                p = skip(p, end);
                if (skip_depth_ != 0) return;
                st_ = St::After;
                continue;

            case St::Done:
            case St::Error: return;
        }
    }
}

}  // namespace agd::record
