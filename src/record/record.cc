#include "record/record.h"

#include "config/config.h"

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

bool keeps_bodies(config::LogBodies mode, int status, bool failed) {
    switch (mode) {
        case config::LogBodies::Off: return false;
        case config::LogBodies::Errors: return status >= 400 || failed;
        case config::LogBodies::All: return true;
    }
    return false;
}

}  // namespace agd::record
