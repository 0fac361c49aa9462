// Payload rules ([rule.NAME], docs/RULES.md): edits of the upstream body
// and extra upstream headers for the calls a rule matches, applied to the
// request as it leaves for the upstream (after translation, after the
// passthrough's model rename). Without a matching rule nothing is parsed.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"
#include "pipeline/protocol.h"

namespace agd::upstream {
struct Request;
}

namespace agd::dispatch {

// Whether `rule` applies to a call of `model` (the upstream's name) on
// `wire`, for the client named `client` ("" = none).
bool rule_matches(const config::RuleConfig& rule, std::string_view model, Protocol wire, std::string_view client);

// Applies every matching rule of `cfg`, in file order, to req: its body (a
// JSON object; the edited body is written into `owned`, which req.body
// then points into) and its headers. Returns how many rules applied, or a
// 400 when the body is not a JSON object a rule can edit. An upload's
// body (`form`: multipart/form-data) gets the rules' headers only: body
// edits are JSON paths, which a form has none of.
Result<int> apply_rules(const config::Config& cfg, std::string_view model, Protocol wire, std::string_view client,
                        upstream::Request& req, std::string& owned, bool form = false);

}  // namespace agd::dispatch
