// A local estimate of a request's prompt tokens, for count_tokens calls an
// upstream cannot answer (OpenAI has no count endpoint) and for answers that
// must state input tokens before the upstream reported them. About four
// bytes of text per token, plus fixed costs per message, tool and image.
#pragma once

#include <cstdint>

#include "translate/ir.h"

namespace agd::translate {

int64_t estimate_prompt_tokens(const ir::Request& req);

}  // namespace agd::translate
