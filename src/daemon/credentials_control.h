// The control socket's `credentials` commands, on the main thread:
//
//   credentials                       every credential with its state, why,
//                                     what upstreams reported of its quota
//   credentials reset|disable|enable TARGET
//                                     TARGET: PROVIDER (all its credentials)
//                                     or PROVIDER/FINGERPRINT (one; a unique
//                                     prefix of the fingerprint will do)
//
// Answers are one JSON object; a target that names nothing is
// {"ok":false,"error":"not_found","message":...}.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace agd::dispatch {
class Router;
}

namespace agd::daemon {

// {"ok":true,"summary":{tally},"credentials":[{"provider","fingerprint",
// "id", state_json members}]}
std::string credentials_json(const dispatch::Router& router, int64_t now_ms, int64_t wall_ms);

// `args`: what followed "credentials " on the command line.
std::string credentials_command(const dispatch::Router& router, std::string_view args, int64_t now_ms,
                                int64_t wall_ms);

// sd_notify's STATUS= line and `status`'s summary: "12/15 credentials ready, 3 cooling".
std::string pool_summary(const dispatch::Router& router, int64_t now_ms);

}  // namespace agd::daemon
