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
