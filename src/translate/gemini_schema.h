// Tool and response schemas made acceptable to Gemini (protocols.md §6.7).
// Applied to schemas only, never to argument values or history.
#pragma once

#include <string>
#include <string_view>

namespace agd::translate {

// A JSON Schema text -> the OpenAPI subset Gemini's `parameters` /
// `responseSchema` accept. Invalid input -> {"type":"object","properties":{}}.
std::string gemini_schema(std::string_view schema_json);

}  // namespace agd::translate

// ---------------------------------------------------------------------------
// Wire pieces shared by the Gemini codec files (gemini_response.cc defines
// them; gemini_stream.cc uses them too). Not for other protocols.
#include <cstdint>

#include "translate/ir.h"
#include "translate/json_util.h"

namespace agd::translate::gemini_wire {

// usageMetadata -> ir::Usage (§6.10): P = prompt + toolUsePrompt, C = cached,
// R = thoughts, O = candidates + thoughts.
ir::Usage usage_from(const JsonValue& usage_metadata);
// "usageMetadata":{...} (key included): candidates = O - R.
void write_usage(JsonWriter& w, const ir::Usage& u);
// {"functionCall":{"name","args"[,"id"]}[,"thoughtSignature"]}
void write_function_call(JsonWriter& w, std::string_view name, std::string_view args_json, std::string_view id,
                         std::string_view signature);
// {"text"[,"thought":true][,"thoughtSignature"]}
void write_text_part(JsonWriter& w, std::string_view text, bool thought, std::string_view signature);

}  // namespace agd::translate::gemini_wire
