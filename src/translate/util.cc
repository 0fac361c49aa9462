#include "translate/util.h"

#include <time.h>

#include <rapidjson/document.h>

#include <vector>

#include "translate/json_util.h"
#include "translate/session.h"

namespace agd::translate {
namespace {

// The compact JSON text of `s` when it is a JSON object, else "". The text
// is written anew rather than passed on: RapidJSON skips some stray bytes
// (a UTF-8 byte-order mark's) before a value, which must not reach a body.
std::string object_text(std::string_view s) {
    JsonDoc d;
    if (!parse_json(s, d) || !d.IsObject()) return {};
    std::string buf;
    JsonWriter w(buf);
    d.Accept(w);
    return buf;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Closes what a truncated JSON text left open: a string, then the open
// arrays and objects; a dangling comma, colon or key is dropped first.
std::string close_truncated(std::string_view s) {
    std::vector<char> open;
    bool in_string = false, escaped = false;
    for (char c : s) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') open.push_back(c);
        else if ((c == '}' || c == ']') && !open.empty()) open.pop_back();
    }
    std::string out(s);
    if (escaped) out.pop_back();
    if (in_string) out.push_back('"');
    std::string_view t = trim(out);
    out.resize(t.size());
    while (!out.empty() && (out.back() == ',' || out.back() == ':')) {
        bool colon = out.back() == ':';
        out.pop_back();
        if (colon) {  // drop the key that has no value: "...,"key":
            size_t q = out.find_last_of('"');
            if (q != std::string::npos && q > 0) {
                size_t q0 = out.find_last_of('"', q - 1);
                if (q0 != std::string::npos) out.resize(q0);
            }
            out.resize(trim(out).size());
        }
    }
    for (auto it = open.rbegin(); it != open.rend(); ++it) out.push_back(*it == '{' ? '}' : ']');
    return out;
}

}  // namespace

bool parse_data_url(std::string_view url, std::string& mime, std::string& data) {
    if (url.substr(0, 5) != "data:") return false;
    size_t comma = url.find(',');
    if (comma == std::string_view::npos) return false;
    std::string_view meta = url.substr(5, comma - 5);
    if (meta.size() < 7 || meta.substr(meta.size() - 7) != ";base64") return false;
    size_t semi = meta.find(';');
    mime.assign(meta.substr(0, semi));
    data.assign(url.substr(comma + 1));
    return true;
}

std::string make_data_url(std::string_view mime, std::string_view b64) {
    std::string out = "data:";
    out.append(mime.empty() ? std::string_view("application/octet-stream") : mime);
    out += ";base64,";
    out.append(b64);
    return out;
}

std::string repair_args_json(std::string_view args) {
    std::string_view t = trim(args);
    if (t.empty()) return "{}";
    std::string out = object_text(t);
    if (out.empty() && t.front() == '{') out = object_text(close_truncated(t));
    return out.empty() ? "{}" : out;
}

int64_t effort_to_budget(std::string_view effort, int64_t model_max) {
    if (effort == "none") return 0;
    if (effort == "minimal") return 512;
    if (effort == "low") return 1024;
    if (effort == "high") return 24576;
    if (effort == "xhigh") return 32768;
    if (effort == "max") return model_max;
    return 8192;
}

std::string budget_to_effort(int64_t budget) {
    if (budget <= 0) return "none";
    if (budget <= 512) return "minimal";
    if (budget <= 1024) return "low";
    if (budget <= 8192) return "medium";
    if (budget <= 24576) return "high";
    return "xhigh";
}

std::string tag_signature(Protocol upstream, std::string_view upstream_model, std::string_view signature) {
    std::string out = "agd|";
    out += protocol_name(upstream);
    out += '|';
    out.append(upstream_model);
    out += '|';
    out.append(signature);
    return out;
}

void untag_signature(std::string_view from_client, Protocol client, ir::Part& part) {
    part.origin = ir::Origin{};
    if (from_client.substr(0, 4) == "agd|") {
        std::string_view rest = from_client.substr(4);
        size_t a = rest.find('|');
        size_t b = a == std::string_view::npos ? a : rest.find('|', a + 1);
        if (b != std::string_view::npos) {
            std::string_view proto = rest.substr(0, a);
            for (Protocol p : {Protocol::OpenAIChat, Protocol::OpenAIResponses, Protocol::Anthropic, Protocol::Gemini})
                if (proto == protocol_name(p)) part.origin.protocol = p;
            part.origin.model.assign(rest.substr(a + 1, b - a - 1));
            part.signature.assign(rest.substr(b + 1));
            return;
        }
    }
    part.origin.protocol = client;
    part.signature.assign(from_client);
}

bool signature_valid_for(const ir::Origin& origin, const Session& s) {
    if (!origin.protocol || *origin.protocol != s.upstream) return false;
    return origin.model.empty() || origin.model == s.upstream_model;
}

std::string signature_for_client(std::string_view signature, const Session& s) {
    if (s.client == s.upstream) return std::string(signature);
    return tag_signature(s.upstream, s.upstream_model, signature);
}

const char* chat_finish_reason(ir::Finish f) {
    switch (f) {
        case ir::Finish::Length:
        case ir::Finish::ContextOverflow: return "length";
        case ir::Finish::ToolCalls: return "tool_calls";
        case ir::Finish::ContentFilter: return "content_filter";
        default: return "stop";
    }
}

const char* anthropic_stop_reason(ir::Finish f) {
    switch (f) {
        case ir::Finish::StopSequence: return "stop_sequence";
        case ir::Finish::Length: return "max_tokens";
        case ir::Finish::ToolCalls: return "tool_use";
        case ir::Finish::ContentFilter: return "refusal";
        case ir::Finish::ContextOverflow: return "model_context_window_exceeded";
        case ir::Finish::PauseTurn: return "pause_turn";
        default: return "end_turn";
    }
}

const char* gemini_finish_reason(ir::Finish f) {
    switch (f) {
        case ir::Finish::Length:
        case ir::Finish::ContextOverflow: return "MAX_TOKENS";
        case ir::Finish::ContentFilter: return "SAFETY";
        case ir::Finish::ToolError: return "MALFORMED_FUNCTION_CALL";
        case ir::Finish::Other: return "OTHER";
        default: return "STOP";
    }
}

ir::Finish finish_from_chat(std::string_view r) {
    if (r == "length") return ir::Finish::Length;
    if (r == "tool_calls" || r == "function_call") return ir::Finish::ToolCalls;
    if (r == "content_filter") return ir::Finish::ContentFilter;
    if (r.empty()) return ir::Finish::Unset;
    return ir::Finish::Stop;
}

ir::Finish finish_from_anthropic(std::string_view r) {
    if (r == "max_tokens") return ir::Finish::Length;
    if (r == "stop_sequence") return ir::Finish::StopSequence;
    if (r == "tool_use") return ir::Finish::ToolCalls;
    if (r == "refusal") return ir::Finish::ContentFilter;
    if (r == "model_context_window_exceeded") return ir::Finish::ContextOverflow;
    if (r == "pause_turn") return ir::Finish::PauseTurn;
    if (r.empty()) return ir::Finish::Unset;
    return ir::Finish::Stop;
}

ir::Finish finish_from_gemini(std::string_view r) {
    if (r.empty()) return ir::Finish::Unset;
    if (r == "STOP") return ir::Finish::Stop;
    if (r == "MAX_TOKENS") return ir::Finish::Length;
    if (r == "MALFORMED_FUNCTION_CALL" || r == "UNEXPECTED_TOOL_CALL" || r == "TOO_MANY_TOOL_CALLS") return ir::Finish::ToolError;
    if (r == "SAFETY" || r == "RECITATION" || r == "BLOCKLIST" || r == "PROHIBITED_CONTENT" || r == "SPII" ||
        r.substr(0, 6) == "IMAGE_")
        return ir::Finish::ContentFilter;
    return ir::Finish::Other;
}

int64_t now_seconds(const Session& s) { return s.now ? s.now : static_cast<int64_t>(::time(nullptr)); }

}  // namespace agd::translate
