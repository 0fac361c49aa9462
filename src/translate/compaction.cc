#include "translate/compaction.h"

#include "common/base64.h"

namespace agd::translate {

namespace {
// The gateway's compaction items: this prefix, then the summary in base64.
constexpr std::string_view kTag = "agd-summary-v1:";
constexpr size_t kMaxSummary = 1 << 20;
}  // namespace

const std::string_view kSummaryRequest =
    "Write a summary of this conversation so far, for another assistant who will continue the work "
    "without seeing it: the user's goal and constraints, what has been done (files read or changed, "
    "commands run and what they showed), decisions taken and why, what remains to do, and any open "
    "question. Keep every name, path and value the continuation needs; leave out pleasantries. Answer "
    "with the summary only.";

const std::string_view kSummaryHead =
    "Summary of the earlier part of this conversation (written by the model when it was compacted):\n\n";

void ask_for_summary(ir::Request& r) {
    ir::Part ask;
    ask.text.assign(kSummaryRequest);
    r.messages.push_back(ir::Message{ir::Role::User, {std::move(ask)}});
    r.tool_choice.mode = r.tools.empty() ? ir::ToolChoiceMode::Unset : ir::ToolChoiceMode::None;
    r.tool_choice.name.clear();
    r.tool_choice.allowed.clear();
    r.format = {};
}

std::string compaction_content(std::string_view summary) {
    std::string out(kTag);
    out += base64_encode(summary);
    return out;
}

std::optional<std::string> summary_of_compaction(std::string_view encrypted_content) {
    if (encrypted_content.substr(0, kTag.size()) != kTag || encrypted_content.size() > kMaxSummary * 2)
        return std::nullopt;
    std::string summary;
    if (!base64_decode(encrypted_content.substr(kTag.size()), summary)) return std::nullopt;
    return summary;
}

}  // namespace agd::translate
