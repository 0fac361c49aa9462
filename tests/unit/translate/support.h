// Helpers shared by the translate unit tests: JSON parsing and reading, IR
// part builders, and a sink that records IR stream events.
#pragma once

#include <doctest/doctest.h>

#include <rapidjson/document.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "translate/codec.h"
#include "translate/json_util.h"

namespace agd::translate::test {

// Parses `text`, failing the test case when it is not JSON.
inline rapidjson::Document parse(std::string_view text) {
    rapidjson::Document d;
    std::string err;
    bool ok = parse_json(text, d, &err);
    INFO(err << " in " << text);
    REQUIRE(ok);
    return d;
}

// The string member `key` of `v`, or "<none>" when it is absent or not a string.
inline std::string str(const rapidjson::Value& v, const char* key) {
    const JsonValue* m = member(v, key);
    return m && m->IsString() ? std::string(m->GetString(), m->GetStringLength()) : std::string("<none>");
}

// ---------------------------------------------------------------- IR builders

inline ir::Part text(std::string t) {
    ir::Part p;
    p.kind = ir::PartKind::Text;
    p.text = std::move(t);
    return p;
}

inline ir::Part call(std::string id, std::string name, std::string args = "{}") {
    ir::Part p;
    p.kind = ir::PartKind::ToolCall;
    p.call_id = std::move(id);
    p.name = std::move(name);
    p.args_json = std::move(args);
    return p;
}

inline ir::Part result(std::string id, std::string output, bool is_error = false) {
    ir::Part p;
    p.kind = ir::PartKind::ToolResult;
    p.call_id = std::move(id);
    p.content.push_back(text(std::move(output)));
    p.is_error = is_error;
    return p;
}

inline ir::Message msg(ir::Role role, std::vector<ir::Part> parts) { return ir::Message{role, std::move(parts)}; }

// ---------------------------------------------------------------- IR stream events

inline ir::StreamEvent ev(ir::StreamEvent::Type t, std::string_view text = {}) {
    ir::StreamEvent e;
    e.type = t;
    e.text = text;
    return e;
}

// Sends one event (its strings are views) to an encoder.
inline void send(StreamEncoder& enc, ir::StreamEvent::Type t, std::string_view text = {}, int index = 0,
                 std::string_view id = {}, std::string_view name = {}) {
    ir::StreamEvent e;
    e.type = t;
    e.text = text;
    e.index = index;
    e.id = id;
    e.name = name;
    enc.on(e);
}

// Client stream bytes -> (event name, parsed data) pairs.
struct SseOut {
    std::string name;
    rapidjson::Document data;
};

inline std::vector<SseOut> split_sse(const std::string& out) {
    std::vector<SseOut> res;
    size_t pos = 0;
    while (pos < out.size()) {
        size_t end = out.find("\n\n", pos);
        REQUIRE(end != std::string::npos);
        std::string block = out.substr(pos, end - pos);
        pos = end + 2;
        REQUIRE(block.rfind("event: ", 0) == 0);
        size_t nl = block.find('\n');
        REQUIRE(nl != std::string::npos);
        SseOut e;
        e.name = block.substr(7, nl - 7);
        std::string rest = block.substr(nl + 1);
        REQUIRE(rest.rfind("data: ", 0) == 0);
        REQUIRE(parse_json(rest.substr(6), e.data));
        res.push_back(std::move(e));
    }
    return res;
}

// Owned copy of an IR stream event (the originals hold views).
struct Rec {
    ir::StreamEvent::Type type;
    std::string text, id, name;
    int index = 0;
    ir::Usage usage;
    ir::Finish finish = ir::Finish::Unset;
    int status = 0;
};

inline Rec record(const ir::StreamEvent& e) {
    return Rec{e.type, std::string(e.text), std::string(e.id), std::string(e.name), e.index, e.usage, e.finish, e.status};
}

struct RecSink : EventSink {
    std::vector<Rec> evs;
    void on(const ir::StreamEvent& e) override { evs.push_back(record(e)); }
    std::vector<Rec> of(ir::StreamEvent::Type t) const {
        std::vector<Rec> out;
        for (const Rec& r : evs)
            if (r.type == t) out.push_back(r);
        return out;
    }
    // The texts of events of type `t` (for one index, unless -1), concatenated.
    std::string joined(ir::StreamEvent::Type t, int index = -1) const {
        std::string out;
        for (const Rec& r : evs)
            if (r.type == t && (index < 0 || r.index == index)) out += r.text;
        return out;
    }
};

// Hands one unnamed SSE event with `data` to a decoder.
inline void feed(StreamDecoder& d, EventSink& sink, const std::string& data) {
    sse::Event e;
    e.data = data;
    d.on_event(e, sink);
}

}  // namespace agd::translate::test
