// Wire formats of the four APIs: response bodies, stream events, errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mock {

enum class Api { chat, responses, messages, gemini };

// One tool call of the answer.
struct ToolCall {
    std::string name;
    std::string args;  // compact JSON object; a custom tool's call: its input text (kCustomInput)
    int pieces = 1;    // streamed argument fragments (whole call for Gemini)
    bool custom = false;  // a call of a custom (freeform) tool (Chat and Responses)
};

// The input of every call of a custom tool: quotes, a backslash, lines and
// non-ASCII text, for the escaping of whoever carries it.
inline constexpr std::string_view kCustomInput = "*** Begin Patch\n\"Paris\" \\ caf\u00e9 \u2192 \U0001F600\n*** End Patch";

inline constexpr std::string_view kThinkingText = "mock thinking";
// The streamed reasoning: its deltas, in order (they join to kThinkingText).
inline constexpr std::string_view kThinkingPieces[] = {"mock ", "thinking"};
inline constexpr int kReasoningTokens = 5;

// What one generated response needs to know.
struct Reply {
    Api api = Api::chat;
    std::string model;        // echoed as received (directives included)
    uint64_t seq = 0;         // numbers the ids: chatcmpl-mock<seq>, resp_mock<seq>, ...
    int64_t created = 0;      // unix seconds
    int input_tokens = 1;
    int output_tokens = 1;
    bool include_usage = false;  // Chat: stream_options.include_usage
    bool gemini_sse = true;      // Gemini stream: SSE (alt=sse) or one JSON array
    int cached_tokens = 0;       // prompt tokens read from cache (not in input_tokens)
    bool think = false;          // the answer starts with reasoning
    bool gemini_sign = false;    // Gemini: thoughtSignature on the first call / text part
    std::vector<ToolCall> calls;  // non-empty: the answer is these calls, not text;
                                  // the pieces are then the calls' argument fragments

    int reasoning_tokens() const { return think ? kReasoningTokens : 0; }
    // Whole prompt, cached tokens included.
    int64_t prompt_total() const { return int64_t{input_tokens} + cached_tokens; }
    // Whole output, reasoning included.
    int64_t output_total() const { return int64_t{output_tokens} + reasoning_tokens(); }
    // Index in `calls` of streamed piece `piece`.
    std::size_t call_of_piece(int piece) const;
};

// Ids of call k: Chat / Responses call_id call_mock<seq>_<k>, Responses item
// fc_mock<seq>_<k>, Anthropic toolu_mock<seq>_<k>.
std::string call_id(const Reply& r, std::size_t k);
std::string fc_item_id(const Reply& r, std::size_t k);  // ctc_mock<seq>_<k> for a custom call
std::string toolu_id(const Reply& r, std::size_t k);

// `text` cut into `parts` pieces (fewer when it is short) at UTF-8
// character boundaries; never an empty piece unless text is empty.
std::vector<std::string> split_utf8(std::string_view text, int parts);

// Non-stream success body holding `text`.
std::string complete_body(const Reply& r, std::string_view text);

// Error body of the API's own format for an HTTP status.
// key_wide: a 429 says the whole key is spent (OpenAI insufficient_quota,
// a Gemini quota counted per project) rather than one model's rate.
// retry_delay_ns >= 0 (Gemini): a google.rpc.RetryInfo with that delay, and
// with key_wide on a 429 an ErrorInfo RATE_LIMIT_EXCEEDED whose
// metadata.quotaResetDelay says the same.
std::string error_body(Api api, int status, std::string_view message, uint64_t seq,
                       bool key_wide = false, int64_t retry_delay_ns = -1);

// count_tokens / countTokens body.
std::string count_body(Api api, int tokens);

// Content-Type of a streamed answer.
const char* stream_content_type(const Reply& r);

// Produces the streamed body, one string per SSE event (each is written
// as its own HTTP chunk).
class Encoder {
public:
    virtual ~Encoder() = default;
    // Events before the first piece.
    virtual void open(std::vector<std::string>& out) = 0;
    // One piece: text, or an argument fragment when the answer is tool
    // calls. `final_piece`: the last piece of a stream that ends normally
    // (Gemini puts finishReason and the final usage there). Each event
    // appended to `out` is written as its own HTTP chunk.
    virtual void piece(std::string_view text, bool final_piece, std::vector<std::string>& out) = 0;
    // Events after the last piece; `terminal` = false drops the terminal
    // event ([DONE], response.completed, message_stop).
    virtual void close(bool terminal, std::vector<std::string>& out) = 0;
    // The API's in-stream error event.
    virtual void fail(std::string_view message, std::vector<std::string>& out) = 0;
    // Sent while a stream is held open; empty when the format has none.
    virtual std::string keepalive() const { return ": keep-alive\n\n"; }
};

std::unique_ptr<Encoder> make_encoder(const Reply& r);

// Model listings.
std::string openai_model_list();
std::string openai_model(std::string_view id);
std::string anthropic_model_list();
std::string anthropic_model(std::string_view id);
std::string gemini_model_list();
std::string gemini_model(std::string_view id);

// Per-API implementations (formats_*.cc).
std::string chat_complete(const Reply& r, std::string_view text);
std::string responses_complete(const Reply& r, std::string_view text);
std::string messages_complete(const Reply& r, std::string_view text);
std::string gemini_complete(const Reply& r, std::string_view text);
std::unique_ptr<Encoder> make_chat_encoder(const Reply& r);
std::unique_ptr<Encoder> make_responses_encoder(const Reply& r);
std::unique_ptr<Encoder> make_messages_encoder(const Reply& r);
std::unique_ptr<Encoder> make_gemini_encoder(const Reply& r);

// "event: <type>\ndata: <json>\n\n"
std::string sse_named(std::string_view type, std::string_view json);
// "data: <json>\n\n"
std::string sse_data(std::string_view json);

}  // namespace mock
