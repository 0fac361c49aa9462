// The control socket's `route` verb: how a request would be routed, told
// without sending anything (no probe claimed, no rotation moved, no
// session remembered).
//
//   route {"model":M,"client":C,"protocol":P,"session":S}
//
// M is required; C a configured client's name (its model globs are
// checked; its name also keys sticky sessions); P the API the client
// speaks: openai-chat (default), openai-responses, anthropic, gemini; S a
// session name as a client would send it. The answer: {"ok":true,"model",
// "protocol","client","candidates":[{"id","provider","tier","translated",
// "upstream_model","gate":"ready|soft|probe|out","reason","until","rules":[the
// payload rules its requests would get]}],
// "sticky":ID|null,"pick":{"status":"ok|all_cooling|exhausted","id",
// "provider","upstream_model","probe","retry_after_s"},"fallback":[models
// tried next when every credential of this one fails (those the client may
// use)]} or a refusal
// ({"ok":false,"error":"usage"|"not_found"|"forbidden","message"}).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace agd::config {
struct Config;
}
namespace agd::dispatch {
class Router;
}

namespace agd::daemon {

std::string route_command(const config::Config& cfg, const dispatch::Router& router, std::string_view args,
                          int64_t now_ms, int64_t wall_ms);

}  // namespace agd::daemon
