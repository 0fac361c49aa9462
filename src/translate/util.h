// Small pieces every codec needs: data URLs, argument repair, the thinking
// effort <-> budget scale, signature origin tags and the finish reasons'
// wire names. No JSON library types here (see json_util.h for those).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "translate/ir.h"

namespace agd::translate {

struct Session;

// "data:<mime>[;param];base64,<b64>" -> mime and base64 data (protocols.md §6.4).
bool parse_data_url(std::string_view url, std::string& mime, std::string& data);
std::string make_data_url(std::string_view mime, std::string_view b64);

// Tool-call arguments as a JSON object text: "" -> "{}"; a valid object as
// it is; truncated JSON closed where possible; anything else -> "{}".
std::string repair_args_json(std::string_view args);

// protocols.md §6.11: none 0, minimal 512, low 1024, medium 8192, high
// 24576, xhigh 32768, max = model_max. Unknown effort -> medium.
int64_t effort_to_budget(std::string_view effort, int64_t model_max = 65536);
// <=0 "none", <=512 "minimal", <=1024 "low", <=8192 "medium", <=24576 "high", else "xhigh".
std::string budget_to_effort(int64_t budget);

// Signatures that cross protocols are handed to the client tagged with
// where they came from ("agd|<protocol>|<model>|<signature>"), so that a
// replay can be checked and routed back. A signature without a tag came
// from the client's own protocol (a passthrough earlier in the conversation).
std::string tag_signature(Protocol upstream, std::string_view upstream_model, std::string_view signature);
// Fills part.signature (untagged) and part.origin from what the client sent.
void untag_signature(std::string_view from_client, Protocol client, ir::Part& part);
// The signature (already untagged) may be replayed to this session's upstream.
bool signature_valid_for(const ir::Origin& origin, const Session& s);
// The signature to show a client: raw for a same-protocol upstream, else tagged.
std::string signature_for_client(std::string_view signature, const Session& s);

// Wire names of ir::Finish (protocols.md §6.9).
const char* chat_finish_reason(ir::Finish f);       // stop|length|tool_calls|content_filter
const char* anthropic_stop_reason(ir::Finish f);    // end_turn|max_tokens|stop_sequence|tool_use|refusal|...
const char* gemini_finish_reason(ir::Finish f);     // STOP|MAX_TOKENS|SAFETY|MALFORMED_FUNCTION_CALL|OTHER
ir::Finish finish_from_chat(std::string_view reason);
ir::Finish finish_from_anthropic(std::string_view reason);
ir::Finish finish_from_gemini(std::string_view reason);

// Unix seconds for `created` fields: Session::now when set (tests), else the clock.
int64_t now_seconds(const Session& s);

}  // namespace agd::translate
