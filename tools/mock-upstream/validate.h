// Request checks the real APIs make, so that a malformed upstream request
// from a translating gateway fails loudly. Each returns the message of the
// 400 error the request gets, or nothing when it is acceptable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "json_read.h"

namespace mock {

using Verdict = std::optional<std::string>;

// count: the count_tokens endpoint (no max_tokens needed).
// system_role_ok: anthropic-beta carries mid-conversation-system.
Verdict validate_anthropic(const JValue& doc, bool count, bool system_role_ok);
// model: the base model name (gemini-3 models need thought signatures).
Verdict validate_gemini(const JValue& doc, std::string_view model);
Verdict validate_chat(const JValue& doc);
Verdict validate_responses(const JValue& doc);

}  // namespace mock
