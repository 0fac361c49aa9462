// The OpenAI Responses pieces shared by the request, answer and stream
// codecs (defined in responses_response.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "translate/custom_tool.h"
#include "translate/ir.h"
#include "translate/json_util.h"
#include "translate/session.h"

namespace agd::translate {

namespace responses_detail {
// How a Finish shows in a Responses object.
struct Outcome {
    const char* status = "completed";
    const char* incomplete_reason = nullptr;  // incomplete_details.reason
    const char* error = nullptr;              // failed: error.message
};
std::string response_id(std::string_view upstream_id, Session& s);
int status_for_error_code(std::string_view code);
ir::Usage decode_usage(const JsonValue* u);
ir::Finish finish_from_incomplete(const JsonValue* details);
Outcome outcome_for(ir::Finish f, bool any_tool_call);
// A reasoning item; no "id" member when `id` is empty (a request's replay).
void write_reasoning_item(JsonWriter& w, std::string_view id, std::string_view text, std::string_view encrypted);
void write_output_text_part(JsonWriter& w, std::string_view text);
void write_message_item(JsonWriter& w, std::string_view id, std::string_view text, std::string_view status);
void write_function_call_item(JsonWriter& w, std::string_view id, std::string_view call_id, std::string_view name,
                              std::string_view arguments, std::string_view status);
// A call in the client's form: the function_call of a plain function or of
// one in a namespace (its "namespace" and inner name), or the
// custom_tool_call of a freeform tool (Session::client_tools).
// `ct` is s.client_tool(flat_name); for a custom tool `args` is its input.
void write_call_item(JsonWriter& w, const Session::ClientTool* ct, std::string_view id, std::string_view call_id,
                     std::string_view flat_name, std::string_view args, std::string_view status);
// Compaction v2 (compaction.h): a summary, as the one compaction item.
void write_compaction_item(JsonWriter& w, std::string_view id, std::string_view summary);
void write_response_object(JsonWriter& w, std::string_view id, int64_t created, const Outcome& o,
                           std::string_view model, std::string_view output_json, const ir::Usage* usage);
}  // namespace responses_detail

}  // namespace agd::translate
