// Codex's remote compaction served by any wire (docs/TRANSLATION.md,
// "Compaction"). A Responses client asks for it with a compaction_trigger
// item last in its input (v2) or with POST /v1/responses/compact (v1). A
// Responses upstream does it itself; another wire is asked for a summary,
// which goes back as the compaction item's encrypted_content, tagged so
// that the gateway knows it when the client replays the item and turns it
// back into text for the model. An upstream's own opaque compaction items
// cannot be read by another wire and are left out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "translate/ir.h"

namespace agd::translate {

// What the model is asked, last in the conversation.
extern const std::string_view kSummaryRequest;
// What heads the summary where the model reads it again.
extern const std::string_view kSummaryHead;

// Appends the request for a summary as the last user turn, with no tool to
// call and no output format.
void ask_for_summary(ir::Request& r);

// The encrypted_content a summary travels in, and the summary such a
// content holds (nullopt: not one of the gateway's).
std::string compaction_content(std::string_view summary);
std::optional<std::string> summary_of_compaction(std::string_view encrypted_content);

}  // namespace agd::translate
