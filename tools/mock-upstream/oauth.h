// The mock's OAuth 2.0 token endpoint (RFC 6749 refresh_token grant), the
// access tokens it issued (for auth=oauth) and its test controls.
// Process-wide, shared by all worker threads.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "exchange.h"
#include "introspect.h"

namespace mock {

// POST /oauth/token: the plan of the answer, which is decided when it is
// sent (after the configured delay_ms). plan.headers is left to the caller.
Plan oauth_token_plan(const RecordedRequest& in);

// True when token is an access token the endpoint issued that has neither
// expired nor been revoked.
bool oauth_token_live(std::string_view token);

// POST /__mock/oauth: applies a JSON configuration. Status and JSON body.
std::pair<int, std::string> oauth_configure(std::string_view body);
// GET /__mock/oauth: counters, live tokens, the last request, the configuration.
std::string oauth_state_json();
// POST /__mock/oauth/revoke: revokes every access token; says how many were live.
std::string oauth_revoke_access();
// Back to the start: no tokens, zero counters, the default configuration.
void oauth_reset();

}  // namespace mock
