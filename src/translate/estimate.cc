#include "translate/estimate.h"

namespace agd::translate {
namespace {

constexpr int64_t kPerMessage = 4;
constexpr int64_t kPerTool = 8;
constexpr int64_t kPerImage = 258;  // Gemini's fixed cost of an image up to 384 px; a middle-of-the-road figure

int64_t text_tokens(size_t bytes) { return static_cast<int64_t>((bytes + 3) / 4); }

// One part; a tool result counts its parts, which hold no tool results (ir.h).
int64_t leaf_tokens(const ir::Part& p) {
    switch (p.kind) {
        case ir::PartKind::Text:
        case ir::PartKind::Thinking: return text_tokens(p.text.size());
        case ir::PartKind::Image: return kPerImage;
        case ir::PartKind::File:
        case ir::PartKind::Audio: return text_tokens(p.media.data.size() * 3 / 4 / 4);
        case ir::PartKind::ToolCall: return text_tokens(p.name.size() + p.args_json.size()) + kPerTool;
        case ir::PartKind::ToolResult: return kPerTool;
        case ir::PartKind::RedactedThinking: return 0;
        case ir::PartKind::WebSearch: return text_tokens(p.text.size());
    }
    return 0;
}

int64_t part_tokens(const ir::Part& p) {
    int64_t n = leaf_tokens(p);
    if (p.kind == ir::PartKind::ToolResult)
        for (const ir::Part& c : p.content) n += leaf_tokens(c);
    return n;
}

}  // namespace

int64_t estimate_prompt_tokens(const ir::Request& req) {
    int64_t n = 0;
    for (const ir::Part& p : req.system) n += part_tokens(p);
    if (!req.system.empty()) n += kPerMessage;
    for (const ir::Message& m : req.messages) {
        n += kPerMessage;
        for (const ir::Part& p : m.parts) n += part_tokens(p);
    }
    for (const ir::Tool& t : req.tools)
        n += kPerTool + text_tokens(t.name.size() + t.description.size() + t.parameters_json.size());
    return n > 0 ? n : 1;
}

}  // namespace agd::translate
