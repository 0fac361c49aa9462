#include "record/record.h"

namespace agd::record {

const char* attempt_outcome_name(AttemptOutcome o) {
    switch (o) {
        case AttemptOutcome::Ok: return "ok";
        case AttemptOutcome::ClientError: return "client_error";
        case AttemptOutcome::RateLimited: return "rate_limited";
        case AttemptOutcome::AuthFailed: return "auth_failed";
        case AttemptOutcome::UpstreamError: return "error";
        case AttemptOutcome::Timeout: return "timeout";
    }
    return "error";
}

}  // namespace agd::record
