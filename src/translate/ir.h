// The internal representation every translated request and answer passes
// through (protocols.md §6.1). A client request is decoded into an ir::Request
// and encoded for the upstream's wire; the upstream's answer is decoded into
// an ir::Response (or, when streamed, a sequence of ir::StreamEvent) and
// encoded in the client's protocol. Adding a protocol costs one decoder and
// one encoder, never a row of pairwise translators.
//
// JSON sub-values that the gateway does not interpret (tool parameter
// schemas, tool-call arguments, structured tool output) are kept as JSON
// text. Names and ids in an ir::Request are the client's; the encoders map
// them to what the target accepts and record the mapping in a Session.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/protocol.h"

namespace agd::ir {

enum class Role : uint8_t { User, Assistant };

enum class PartKind : uint8_t {
    Text,
    Image,             // media: image/*
    File,              // media: application/pdf, text/plain, ...
    Audio,             // media: audio/wav, audio/mp3
    ToolCall,          // assistant: call_id, name, args_json
    ToolResult,        // user: call_id, name, content, is_error
    Thinking,          // assistant: text + signature
    RedactedThinking,  // assistant: Anthropic redacted_thinking (data in `signature`)
    WebSearch,         // assistant: a hosted web search the upstream ran: call_id, text = query, sources
};

// A page a hosted web search found.
struct Source {
    std::string url;
    std::string title;
};

struct Media {
    std::string mime;      // "image/png"; may be empty for a URL
    std::string data;      // base64, when inline
    std::string url;       // https URL or provider file URI, when not inline
    std::string file_id;   // provider file id (OpenAI/Anthropic), passed only to the same family
    std::string filename;
    std::string detail;    // OpenAI image detail ("low"/"high"/"auto")
};

// Where a signature (Anthropic thinking signature, Gemini thoughtSignature)
// was made. Replayed only to the same upstream protocol and model family.
struct Origin {
    std::optional<Protocol> protocol;  // unset: unknown
    std::string model;                 // upstream model name; "" = unknown
};

struct Part {
    PartKind kind = PartKind::Text;
    std::string text;        // Text, Thinking
    Media media;             // Image, File, Audio
    std::string call_id;     // ToolCall, ToolResult: the client-side id
    std::string name;        // ToolCall, ToolResult: function name (client-side)
    std::string args_json;   // ToolCall: always a JSON object text ("{}" when empty or invalid)
    std::vector<Part> content;  // ToolResult: Text / Image / File parts (never a ToolResult: walks go one level)
    bool is_error = false;      // ToolResult
    std::string signature;   // Thinking: signature; RedactedThinking: data; any part: Gemini thoughtSignature
    Origin origin;           // of `signature`
    bool cache_control = false;  // Anthropic cache_control: {type:"ephemeral"} on this block
    std::vector<Source> sources;  // WebSearch: the pages found, in order
};

struct Message {
    Role role = Role::User;
    std::vector<Part> parts;
};

struct Tool {
    std::string name;
    std::string description;
    std::string parameters_json;  // JSON Schema object text; "" = none given
    std::optional<bool> strict;
    // A custom (freeform) tool (translate/custom_tool.h): its calls carry
    // one free-text input, args_json {"input": "..."}; parameters_json is
    // the function form wires without custom tools get. A grammar the
    // input must follow, when the client gave one (else free text).
    bool custom = false;
    std::string grammar_syntax = {};      // "lark", "regex"; "" = not said
    std::string grammar_definition = {};  // "" = no grammar
};

enum class ToolChoiceMode : uint8_t { Unset, Auto, None, Required, Named };

struct ToolChoice {
    ToolChoiceMode mode = ToolChoiceMode::Unset;
    std::string name;                  // Named
    std::vector<std::string> allowed;  // allowed_tools / allowedFunctionNames: restricts the tools offered
};

// The hosted web search a client offered the model (Responses web_search,
// Anthropic web_search_2025xxxx, Gemini googleSearch, Chat
// web_search_options): each wire's encoder declares its own form of it, or
// leaves it out (Session::dropped_tools) where the wire has none.
struct WebSearchTool {
    int64_t max_uses = 0;                        // 0 = the upstream's default
    std::vector<std::string> allowed_domains, blocked_domains;
    std::string city, region, country, timezone;  // approximate user location; "" = not given
};

enum class FormatKind : uint8_t { Unset, Text, JsonObject, JsonSchema };

struct ResponseFormat {
    FormatKind kind = FormatKind::Unset;
    std::string name;         // JsonSchema
    std::string description;
    std::string schema_json;  // JsonSchema
    std::optional<bool> strict;
};

enum class ReasoningMode : uint8_t { Unset, Off, Effort, Budget, Adaptive };

struct Reasoning {
    ReasoningMode mode = ReasoningMode::Unset;
    std::string effort;           // none|minimal|low|medium|high|xhigh|max (Effort, Adaptive)
    int64_t budget = 0;           // Budget; -1 = dynamic (Gemini)
    std::optional<bool> include_thoughts;
    std::string summary;          // Responses reasoning.summary
};

struct Request {
    std::string model;               // the client's model name
    std::vector<Part> system;        // Text parts, in order (Chat system/developer, Anthropic system, ...)
    std::vector<Message> messages;   // user/assistant turns; tool results are user parts
    std::vector<Tool> tools;
    std::optional<WebSearchTool> web_search;
    ToolChoice tool_choice;
    std::optional<bool> parallel_tool_calls;
    std::optional<int64_t> max_tokens;
    std::optional<double> temperature, top_p;
    std::optional<int64_t> top_k, seed, n;
    std::optional<double> presence_penalty, frequency_penalty;
    std::vector<std::string> stop;
    ResponseFormat format;
    Reasoning reasoning;
    std::string user;                // end-user id (Chat user, Anthropic metadata.user_id)
    bool stream = false;
    bool include_usage = false;      // Chat stream_options.include_usage
    bool legacy_completion = false;  // came from POST /v1/completions (prompt → one user message)
    bool compaction_trigger = false; // a Responses input ended with compaction_trigger (Codex's compaction v2)
};

enum class Finish : uint8_t {
    Unset,
    Stop,            // natural end
    StopSequence,    // a stop sequence matched (Response::stop_sequence)
    Length,          // token limit
    ToolCalls,
    ContentFilter,   // safety / refusal
    ContextOverflow,
    PauseTurn,
    ToolError,       // Gemini MALFORMED_FUNCTION_CALL and friends
    Other,
};

// Counts as in protocols.md §6.10; -1 = not reported.
struct Usage {
    int64_t prompt = -1;        // P: prompt including cache reads and writes
    int64_t cache_read = -1;    // C
    int64_t cache_write = -1;   // W
    int64_t output = -1;        // O: output including reasoning
    int64_t reasoning = -1;     // R
    bool present() const { return prompt >= 0 || output >= 0; }
};

struct Response {
    std::string id;             // upstream's id ("" = mint one)
    std::string model;          // upstream's model name
    std::vector<Part> content;  // Text, Thinking, RedactedThinking, ToolCall, WebSearch parts in order
    Finish finish = Finish::Unset;
    std::string stop_sequence;
    Usage usage;
    int64_t created = 0;        // unix seconds; 0 = now
};

// One step of a translated stream. Decoders of upstream streams produce
// them, encoders of client streams consume them. Tool indexes are 0-based
// and contiguous in the order calls started; block structure (when a text
// or thinking run ends) is left to the encoders.
struct StreamEvent {
    enum class Type : uint8_t {
        Start,              // id, name: the upstream model, usage (prompt side, may be partial)
        Text,               // text: a delta
        Thinking,           // text: a delta
        ThinkingSignature,  // text: the signature of the current thinking run
        RedactedThinking,   // text: opaque data, complete
        ToolStart,          // index, id, name (client-side), text: Gemini thoughtSignature if any
        ToolArgs,           // index, text: a fragment of the argument JSON
        ToolEnd,            // index: arguments complete
        WebSearch,          // id, text: the query, sources: a hosted web search done (told whole)
        Usage,              // usage: cumulative, overwrites earlier values
        Finish,             // finish, text: stop sequence
        Done,               // the upstream's clean end of stream
        Error,              // status: HTTP-like status, text: message (upstream's in-stream error)
    };
    Type type = Type::Text;
    std::string_view text;
    std::string_view id;
    std::string_view name;
    int index = 0;
    Usage usage;
    Finish finish = Finish::Unset;
    int status = 0;
    const std::vector<Source>* sources = nullptr;  // WebSearch
};

}  // namespace agd::ir
