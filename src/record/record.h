// RequestRecord: what one finished request was, handed once to every
// consumer registered on the completion hook (record/hook.h): the access
// log, the request store, metrics, client limits.
//
// Filled by the request path as it goes (server, dispatch) and completed
// when the answer ends, the request fails, or the client leaves. A consumer
// is called on the worker that ran the request, must not block, and must
// copy what it keeps: the record (its string_views point into the request
// and the config) and `config` are valid during the call only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/protocol.h"
#include "record/usage.h"

namespace agd::config {
struct Config;
enum class LogBodies;
}
namespace agd::clients {
class ClientState;
}

namespace agd::record {

enum class AttemptOutcome : uint8_t {
    Ok,             // a 2xx answer that ended well
    ClientError,    // a 4xx the client caused (not retried)
    RateLimited,    // 429
    AuthFailed,     // 401 / 403
    UpstreamError,  // 5xx, a failed stream, a transport failure
    Timeout,        // connect or idle timeout
};
const char* attempt_outcome_name(AttemptOutcome o);  // "ok", "client_error", "rate_limited", "auth_failed", "error", "timeout"

// [log] bodies: whether a request's bodies are kept (`errors`: an answer of
// status 400 or more, or a request that failed).
bool keeps_bodies(config::LogBodies mode, int status, bool failed);

struct Attempt {
    int provider = -1;        // index in config->providers
    std::string credential;   // 8-hex fingerprint
    int status = 0;           // upstream HTTP status, 0 when none arrived
    AttemptOutcome outcome = AttemptOutcome::UpstreamError;
};

struct RequestRecord {
    uint64_t id = 0;
    int64_t unix_ms = 0;        // wall clock at the request's start
    uint64_t generation = 0;    // config generation that served it
    unsigned worker = 0;

    // Who.
    int client = -1;            // index in config->clients, -1 when no client was identified
    std::string_view client_name;  // config->clients[client].name, "" when none
    std::string_view addr;         // the client's address (after trusted proxies)

    // What.
    std::string_view method;
    std::string_view path;
    Operation op = Operation::NotFound;
    Protocol protocol = Protocol::OpenAIChat;  // the client's protocol (meaningful when upstream)
    bool upstream = false;      // an operation relayed upstream (is_upstream_operation)
    bool stream = false;        // the client asked for a stream
    std::string_view model;     // asked by the client
    std::string model_sent;     // sent upstream (last attempt)
    int provider = -1;          // index in config->providers of the last attempt, -1 none
    std::string provider_name;
    std::string credential;     // fingerprint of the last attempt's credential
    std::vector<Attempt> attempts;

    // How it went.
    int status = 0;             // status the client got (499: it left first)
    int upstream_status = 0;    // of the last attempt
    std::string error;          // short reason when it failed
    std::string limit;          // the client limit that refused it ("rpm", "tpm", ...), "" when none
    Usage usage;
    UsageState usage_state = UsageState::None;
    int64_t ttfb_us = -1;       // first byte of the answer, from the request's start
    int64_t ttft_us = -1;       // first token of the answer (a stream's first content event)
    int64_t total_us = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;

    // Bodies, only when [log] bodies asks for them (never headers or keys).
    std::string request_body;
    std::string response_body;
    bool request_truncated = false;
    bool response_truncated = false;

    const config::Config* config = nullptr;  // the snapshot's config, valid during the call
    clients::ClientState* client_state = nullptr;  // the client's counters when its limits admitted it; valid during the call
};

}  // namespace agd::record
