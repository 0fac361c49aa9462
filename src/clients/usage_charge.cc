#include "clients/usage_charge.h"

#include <time.h>

#include "clients/client_state.h"
#include "config/config.h"

namespace agd::clients {

bool UsageCharge::wants(const config::Config& cfg) const { return !cfg.clients.empty(); }

int64_t UsageCharge::tokens_of(const record::RequestRecord& rec) {
    if (rec.usage.known()) return rec.usage.total();
    // An answer from upstream that never said what it used (a stream cut
    // before its usage, an upstream that reports none): its bytes, four to a
    // token, so that such answers are not free.
    if (rec.usage_state == record::UsageState::Cut || rec.usage_state == record::UsageState::Missing)
        return static_cast<int64_t>((rec.bytes_in + rec.bytes_out) / 4);
    return 0;
}

void UsageCharge::on_complete(const record::RequestRecord& rec) {
    if (!rec.client_state || rec.client < 0 || !rec.config) return;
    int64_t tokens = tokens_of(rec);
    if (tokens <= 0) return;
    int64_t now_us = monotonic_us();
    // The day and month of the request's start, as the store's rollups count it.
    rec.client_state->charge(rec.config->clients[static_cast<size_t>(rec.client)], tokens, now_us, rec.unix_ms / 1000);
}

}  // namespace agd::clients
