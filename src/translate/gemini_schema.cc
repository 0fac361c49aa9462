#include "translate/gemini_schema.h"

namespace agd::translate {

std::string gemini_schema(std::string_view) { return "{\"type\":\"object\",\"properties\":{}}"; }

}  // namespace agd::translate
