// Tool parameter schemas with an object root, as OpenAI (Chat, Responses)
// and Anthropic require (protocols.md §6.5): a missing schema becomes an
// empty object schema, and the object branches of a root anyOf / oneOf /
// allOf are merged into one object.
#pragma once

#include <string>
#include <string_view>

namespace agd::translate {

std::string object_root_schema(std::string_view schema_json);

}  // namespace agd::translate
