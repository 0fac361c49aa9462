// Reading the keys of a [rule.NAME] section (config.h RuleConfig): the
// loader hands each value here and reports the message it gets back.
#pragma once

#include <string>
#include <string_view>

#include "config/config.h"

namespace agd::config {

// `default` / `set`: PATH=JSON, `remove`: PATH. PATH is member names joined
// by dots (generationConfig.maxOutputTokens); a value that is not JSON is
// taken as a string (reasoning.effort=high). "" on success, else why not.
std::string parse_rule_edit(RuleEdit::Kind kind, std::string_view value, RuleEdit& out);

// `header`: "Name: value", a header the daemon does not set itself. "" on
// success (out = the normalized line), else why not.
std::string parse_rule_header(std::string_view value, std::string& out);

// `wire`: openai, chat, responses, anthropic or gemini.
bool parse_rule_wire(std::string_view value, RuleWire& out);

}  // namespace agd::config
