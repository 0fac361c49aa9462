// Custom (freeform) tools: a tool whose call carries one free-text input
// instead of JSON arguments (OpenAI Responses and Chat `custom` tools).
// Wires that have them (Chat, Responses) get them as they are; the others
// get a function with one string parameter `input`. In the IR a custom
// tool is an ir::Tool with `custom` set, and its calls' args_json is
// always {"input": "<the input>"}, whichever wire they came from.
#pragma once

#include <string>
#include <string_view>

#include "translate/ir.h"
#include "translate/json_util.h"

namespace agd::translate {

// A custom tool's format (`format`: {"type":"text"}, or a grammar in the
// Responses shape {type, syntax, definition} or the Chat one {type,
// grammar: {syntax, definition}}) into `t`, and the parameters it is
// declared with toward a function-only upstream: its input as a string,
// the grammar it follows in the parameter's description.
void read_custom_format(const JsonValue* format, ir::Tool& t);
std::string custom_parameters(const ir::Tool& t);
// The format of custom tool `t` as Chat (`chat`) or Responses declares it.
void write_custom_format(JsonWriter& w, const ir::Tool& t, bool chat);
// Whether `name` is one of the request's custom tools.
bool is_custom_tool(const ir::Request& r, std::string_view name);

// {"input": "<input>"}: a custom call's arguments in the IR.
std::string custom_args_json(std::string_view input);

// The input of a custom tool's call, from the arguments of the function it
// went upstream as ({"input": "..."}; other text is taken as it came).
std::string custom_input(std::string_view args_json);

// `text` JSON-escaped, without the quotes: an input piece made a fragment
// of the arguments' JSON text.
void append_json_escaped(std::string& out, std::string_view text);

// The input of a custom call whose arguments ({"input": "..."}) arrive in
// fragments, decoded piece by piece as they come: a client that streams
// custom calls gets text, not JSON. Arguments of another shape are held
// and told whole at the end (custom_input). At most `limit` bytes are held.
class CustomInputStream {
public:
    explicit CustomInputStream(size_t limit) : limit_(limit) {}
    // Appends to `out` the input the fragment completes; false when what
    // must be held would pass the limit.
    bool feed(std::string_view fragment, std::string& out);
    // The arguments are complete: appends what is left.
    void finish(std::string& out);
    // Bytes held now.
    size_t held() const { return seen_.size() + pending_.size(); }

private:
    enum class State { Open, KeyStart, Key, Colon, Value, Body, Done, Whole };
    void body(std::string& out);
    State state_ = State::Open;
    size_t limit_;
    std::string seen_;     // the arguments before the input's first byte (Whole: all of them)
    std::string pending_;  // Body: escaped input not yet decoded (an escape or a character cut short)
    std::string key_;
};

}  // namespace agd::translate
