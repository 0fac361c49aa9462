// Fuzzes the usage tap's scanner (src/record/usage_scan.h). Input: a flag
// byte (bits 0-1 the upstream protocol, bit 2 an SSE event instead of a
// body, bits 3-4 the event's name: none, the protocol's usage event, another
// event), two bytes of cut positions, then the bytes. Checks that
//  - a body gives the same usage fed whole, in three pieces and byte by byte;
//  - when the bytes are one JSON value (and no key could be a \u-escaped
//    name), the usage is the one a DOM reading of the same places gives:
//    the same paths, the last valid figure of a key, whole snapshots (the
//    last one with a figure) or, for Anthropic, per-field overwrites.
#include <rapidjson/document.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "record/usage_scan.h"

using namespace agd;
using record::Usage;
using record::UsageScanner;

namespace {

std::string show(const UsageScanner& s) {
    Usage u = s.usage();
    char b[200];
    std::snprintf(b, sizeof b, "seen=%d in=%lld out=%lld cr=%lld cw=%lld r=%lld", s.seen() ? 1 : 0,
                  static_cast<long long>(u.input), static_cast<long long>(u.output),
                  static_cast<long long>(u.cache_read), static_cast<long long>(u.cache_write),
                  static_cast<long long>(u.reasoning));
    return b;
}

// ---- The reference: a DOM walk (numbers kept as their text).

enum Slot { kIn, kOut, kCr, kCw, kR, kTool, kSlots };
using Raw = std::array<int64_t, kSlots>;
using Value = rapidjson::GenericValue<rapidjson::UTF8<>>;

// A value read twice: typed, and with numbers kept as their text.
struct Pair {
    const Value& typed;
    const Value& raw;
};

template <class F>
void for_members(const Pair& o, F&& f) {
    auto t = o.typed.MemberBegin();
    auto r = o.raw.MemberBegin();
    for (; t != o.typed.MemberEnd(); ++t, ++r) f(t->name, Pair{t->value, r->value});
}

int64_t figure(const Pair& v) {
    if (!v.typed.IsNumber() || !v.raw.IsString()) return -1;
    std::string_view t(v.raw.GetString(), v.raw.GetStringLength());
    if (t.empty() || t.size() > 16 || (t.size() > 1 && t[0] == '0')) return -1;
    int64_t n = 0;
    for (char c : t) {
        if (c < '0' || c > '9') return -1;
        n = n * 10 + (c - '0');
    }
    return n > (int64_t(1) << 53) ? -1 : n;
}

void read_usage(Protocol p, const Pair& u, Raw& r) {
    r.fill(-1);
    auto set = [&](Slot s, const Pair& v) {
        int64_t n = figure(v);
        if (n >= 0) r[s] = n;
    };
    auto walk_details = [&](const Pair& d, std::initializer_list<std::pair<const char*, Slot>> figs) {
        if (!d.typed.IsObject()) return;
        for_members(d, [&](const Value& k, const Pair& v) {
            for (const auto& [name, slot] : figs)
                if (k == name) set(slot, v);
        });
    };
    for_members(u, [&](const Value& k, const Pair& v) {
        switch (p) {
            case Protocol::OpenAIChat:
                if (k == "prompt_tokens") set(kIn, v);
                if (k == "completion_tokens") set(kOut, v);
                if (k == "prompt_tokens_details") walk_details(v, {{"cached_tokens", kCr}, {"cache_write_tokens", kCw}});
                if (k == "completion_tokens_details") walk_details(v, {{"reasoning_tokens", kR}});
                break;
            case Protocol::OpenAIResponses:
                if (k == "input_tokens") set(kIn, v);
                if (k == "output_tokens") set(kOut, v);
                if (k == "input_tokens_details") walk_details(v, {{"cached_tokens", kCr}, {"cache_write_tokens", kCw}});
                if (k == "output_tokens_details") walk_details(v, {{"reasoning_tokens", kR}});
                break;
            case Protocol::Anthropic:
                if (k == "input_tokens") set(kIn, v);
                if (k == "output_tokens") set(kOut, v);
                if (k == "cache_read_input_tokens") set(kCr, v);
                if (k == "cache_creation_input_tokens") set(kCw, v);
                if (k == "output_tokens_details") walk_details(v, {{"thinking_tokens", kR}});
                break;
            case Protocol::Gemini:
                if (k == "promptTokenCount" || k == "prompt_token_count") set(kIn, v);
                if (k == "candidatesTokenCount" || k == "candidates_token_count") set(kOut, v);
                if (k == "cachedContentTokenCount" || k == "cached_content_token_count") set(kCr, v);
                if (k == "thoughtsTokenCount" || k == "thoughts_token_count") set(kR, v);
                if (k == "toolUsePromptTokenCount" || k == "tool_use_prompt_token_count") set(kTool, v);
                break;
        }
    });
}

void merge(Protocol p, Raw& into, const Raw& r) {
    bool any = false;
    for (int64_t v : r) any = any || v >= 0;
    if (!any) return;
    if (p == Protocol::Anthropic) {
        for (size_t i = 0; i < r.size(); ++i)
            if (r[i] >= 0) into[i] = r[i];
    } else {
        into = r;
    }
}

// Every usage object of one GenerateContentResponse / answer / event, in order.
void collect(Protocol p, bool event, const Pair& root, Raw& into) {
    if (!root.typed.IsObject()) return;
    Raw r;
    const char* holder = !event ? nullptr
                         : p == Protocol::OpenAIResponses ? "response"
                         : p == Protocol::Anthropic       ? "message"
                                                          : nullptr;
    for_members(root, [&](const Value& k, const Pair& v) {
        bool top = p == Protocol::Gemini ? (k == "usageMetadata" || k == "usage_metadata")
                                         : (k == "usage" && !(event && p == Protocol::OpenAIResponses));
        if (top && v.typed.IsObject()) {
            read_usage(p, v, r);
            merge(p, into, r);
        }
        if (holder && k == holder && v.typed.IsObject())
            for_members(v, [&](const Value& k2, const Pair& v2) {
                if (k2 == "usage" && v2.typed.IsObject()) {
                    read_usage(p, v2, r);
                    merge(p, into, r);
                }
            });
    });
}

Usage normalize(Protocol p, const Raw& r) {
    auto nz = [](int64_t v) { return v > 0 ? v : 0; };
    Usage u;
    u.cache_read = r[kCr];
    u.cache_write = r[kCw];
    u.reasoning = r[kR];
    switch (p) {
        case Protocol::OpenAIChat:
        case Protocol::OpenAIResponses:
            u.input = r[kIn];
            u.output = r[kOut];
            break;
        case Protocol::Anthropic:
            if (r[kIn] >= 0 || r[kCr] >= 0 || r[kCw] >= 0) u.input = nz(r[kIn]) + nz(r[kCr]) + nz(r[kCw]);
            u.output = r[kOut];
            break;
        case Protocol::Gemini:
            if (r[kIn] >= 0 || r[kTool] >= 0) u.input = nz(r[kIn]) + nz(r[kTool]);
            if (u.input >= 0 && u.cache_read < 0) u.cache_read = 0;
            if (r[kOut] >= 0 || r[kR] >= 0) {
                u.output = nz(r[kOut]) + nz(r[kR]);
                u.reasoning = nz(r[kR]);
            }
            u.cache_write = -1;
            break;
    }
    return u;
}

bool counts(Protocol p, std::string_view type) {
    if (p == Protocol::OpenAIResponses)
        return type == "response.completed" || type == "response.incomplete" || type == "response.failed";
    if (p == Protocol::Anthropic) return type == "message_start" || type == "message_delta";
    return true;
}

// The reference reading, or false when the bytes are not one JSON value
// (or could hide a name behind a \u escape, which the scanner does not read).
bool reference(Protocol p, bool event, std::string_view name, std::string_view bytes, Usage& out, bool& seen) {
    if (bytes.find("\\u00") != std::string_view::npos) return false;
    if (!bytes.empty()) {
        unsigned char c = static_cast<unsigned char>(bytes.front());
        if (c == 0xEF || c == 0xBB || c == 0xBF) return false;  // RapidJSON skips a BOM
    }
    constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag;
    rapidjson::Document d, raw;
    d.Parse<kFlags>(bytes.data(), bytes.size());
    raw.Parse<kFlags | rapidjson::kParseNumbersAsStringsFlag>(bytes.data(), bytes.size());
    if (d.HasParseError() || raw.HasParseError()) return false;
    Raw acc;
    acc.fill(-1);
    if (!event) {
        if (p == Protocol::Gemini && d.IsArray()) {
            for (rapidjson::SizeType i = 0; i < d.Size(); ++i) collect(p, false, Pair{d[i], raw[i]}, acc);
        } else {
            collect(p, false, Pair{d, raw}, acc);
        }
    } else {
        bool by_type = (p == Protocol::OpenAIResponses || p == Protocol::Anthropic) && name.empty();
        bool gated_out = !name.empty() && (p == Protocol::OpenAIResponses || p == Protocol::Anthropic) && !counts(p, name);
        std::string type;
        if (d.IsObject())
            for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m)
                if (m->name == "type" && m->value.IsString()) type.assign(m->value.GetString(), m->value.GetStringLength());
        if (!gated_out && (!by_type || counts(p, type))) collect(p, true, Pair{d, raw}, acc);
    }
    seen = false;
    for (int64_t v : acc) seen = seen || v >= 0;
    out = normalize(p, acc);
    return true;
}

std::string show(bool seen, const Usage& u) {
    char b[200];
    std::snprintf(b, sizeof b, "seen=%d in=%lld out=%lld cr=%lld cw=%lld r=%lld", seen ? 1 : 0,
                  static_cast<long long>(u.input), static_cast<long long>(u.output),
                  static_cast<long long>(u.cache_read), static_cast<long long>(u.cache_write),
                  static_cast<long long>(u.reasoning));
    return b;
}

const char* event_name(Protocol p, unsigned pick) {
    if (pick == 0) return "";
    if (pick == 1 || pick == 3) {
        switch (p) {
            case Protocol::OpenAIResponses: return pick == 1 ? "response.completed" : "response.failed";
            case Protocol::Anthropic: return pick == 1 ? "message_delta" : "message_start";
            default: return "";
        }
    }
    return p == Protocol::Anthropic ? "content_block_delta" : "response.output_text.delta";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    const Protocol p = fuzz::protocol_from(data[0]);
    const bool event = (data[0] & 4) != 0;
    const char* name = event_name(p, (data[0] >> 3) & 3);
    std::string_view buf(reinterpret_cast<const char*>(data + 3), size - 3);
    size_t c1 = buf.empty() ? 0 : data[1] % (buf.size() + 1);
    size_t c2 = c1 + (buf.size() - c1 == 0 ? 0 : data[2] % (buf.size() - c1 + 1));

    UsageScanner whole(p);
    if (event)
        whole.feed_event(name, buf);
    else
        whole.feed_body(buf);

    if (!event) {
        UsageScanner split(p);
        split.feed_body(buf.substr(0, c1));
        split.feed_body(buf.substr(c1, c2 - c1));
        split.feed_body(buf.substr(c2));
        if (show(split) != show(whole))
            fuzz::fail("usage differs when the body is split", show(whole) + "\nsplit: " + show(split));
        if (buf.size() <= 4096) {
            UsageScanner bytes(p);
            for (size_t i = 0; i < buf.size(); ++i) bytes.feed_body(buf.substr(i, 1));
            if (show(bytes) != show(whole))
                fuzz::fail("usage differs when the body is fed byte by byte", show(whole) + "\nbytes: " + show(bytes));
        }
    }

    Usage want;
    bool want_seen = false;
    if (reference(p, event, name, buf, want, want_seen) && show(want_seen, want) != show(whole))
        fuzz::fail("usage differs from the DOM reading", "scanner:   " + show(whole) + "\nreference: " + show(want_seen, want));

    // A scanner reused after reset reads like a new one.
    whole.reset();
    whole.feed_body(buf);
    UsageScanner fresh(p);
    fresh.feed_body(buf);
    if (show(whole) != show(fresh)) fuzz::fail("reset does not start afresh");
    return 0;
}
