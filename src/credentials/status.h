// A credential's state as JSON, for `status`, `credentials` and the control
// socket, and the pool's summary in a line.
#pragma once

#include <cstdint>
#include <string>

namespace agd::credentials {

class CredentialState;

// What a credential is now, for people: the first that holds of disabled
// (an administrator's), refused (a 401/403, until a reload or an enable),
// cooldown (every model), breaker_open, breaker_half_open (the next request
// tests it), models_cooling (some models), soft (an upstream reported a
// window spent: used last), ok.
const char* state_name(const CredentialState& s, int64_t now_ms);

// The members after "fingerprint" (each preceded by a comma): "state",
// "until" (wall ms the state ends, when it ends by time), "cooldown_remaining_s",
// "requests", "failures", "last_status", "last_used_at" (wall ms, 0 never),
// "models_cooling" [{model, remaining_s, until}], "quota" {requests,
// tokens: {remaining, reset_at}; unified_5h, unified_7d: {utilization,
// reset_at}} with what upstreams reported, "why" {scope, status, why,
// model, at (unix ms), hint_ms} when a failure was recorded.
// `now_ms`: steady_ms(); `wall`: wall_ms().
std::string state_json(const CredentialState& s, int64_t now_ms, int64_t wall);

// How many credentials are in each state (a pool's summary).
struct Tally {
    unsigned total = 0, ready = 0, soft = 0, cooling = 0, models_cooling = 0, breaker = 0, disabled = 0;
    void add(const CredentialState& s, int64_t now_ms);
};
// "12/15 credentials ready, 2 cooling, 1 disabled" (only the non-zero kinds).
std::string tally_text(const Tally& t);
// {"total":N,"ready":N,...}
std::string tally_json(const Tally& t);

}  // namespace agd::credentials
