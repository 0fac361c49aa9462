// A credential's state as JSON, for `status` and the control socket.
#pragma once

#include <cstdint>
#include <string>

namespace agd::credentials {

class CredentialState;

// The members after "fingerprint" (each preceded by a comma): "state" (ok,
// soft, cooldown, models_cooling, breaker_open, breaker_half_open: the next
// request tests it, disabled),
// "cooldown_remaining_s", the counters, "models_cooling" [{model,
// remaining_s}], "why" {scope, status, why, model, at (unix ms), hint_ms}
// when a failure was recorded. `now_ms`: steady_ms().
std::string state_json(const CredentialState& s, int64_t now_ms);

}  // namespace agd::credentials
