// Verdict: what one answer (or transport failure) of an upstream says about
// the credential that sent it, and how far that goes:
//
//   Request     the request itself (400, 404, 413, 422, a context or
//               content refusal): cools nothing (a model no key knows
//               must stay a 404, not become "every key cooling");
//   Model       a quota of one model (most 429s: OpenAI, Anthropic and
//               Gemini count per model), or a 403 (this key may not use
//               this model or resource): cools the credential for that
//               model only;
//   Credential  the key as a whole: a 401, or an answer whose reason is
//               the key (Gemini API_KEY_INVALID, even as a 400; an
//               authentication_error) takes it out until a reload or an
//               admin enables it; out of credit (402, billing_error,
//               "credit balance is too low") rests it as long as allowed,
//               probed; a key-wide 429 (OpenAI insufficient_quota,
//               Anthropic's unified window rejected, a Gemini quota that
//               names no model) cools it for every model;
//   Transport   network errors, timeouts, 408, 5xx, 529: counted by the
//               credential's circuit breaker, nothing cooled by itself.
//
// The evidence (status, the hint, the upstream's error type and message)
// goes with it to the ledger and to whoever asks why.
#pragma once

#include <cstdint>
#include <string>

#include "credentials/hints.h"

namespace agd::credentials {

enum class Scope : uint8_t { None, Request, Model, Credential, Transport };
const char* scope_name(Scope s);

struct Verdict {
    Scope scope = Scope::None;
    bool disable = false;  // Credential: out until reload or enable (401/403)
    int64_t wait_ms = -1;  // the upstream's hint for the scope, uncapped; -1: none given
    std::string model;     // Model: the model the quota names when the upstream said (else the one asked)
    std::string why;       // one line: "429 rate_limit_error: <message>" (cut)
};

// An answer with this status and these hints. `now_unix_ms` for windows
// given as times.
Verdict classify(int status, const Hints& hints, int64_t now_unix_ms);
// A transport failure: connection refused or reset, TLS, a timeout.
Verdict transport_failure(std::string_view what);

}  // namespace agd::credentials
