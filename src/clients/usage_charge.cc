#include "clients/usage_charge.h"

#include <time.h>

#include "clients/client_state.h"
#include "config/config.h"

namespace agd::clients {

bool UsageCharge::wants(const config::Config& cfg) const { return !cfg.clients.empty(); }

void UsageCharge::on_complete(const record::RequestRecord& rec) {
    if (!rec.client_state || rec.client < 0 || !rec.config || !rec.usage.known()) return;
    timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    int64_t now_us = static_cast<int64_t>(mono.tv_sec) * 1'000'000 + mono.tv_nsec / 1000;
    rec.client_state->charge(rec.config->clients[static_cast<size_t>(rec.client)], rec.usage.total(), now_us,
                             static_cast<int64_t>(rec.unix_ms / 1000 + rec.total_us / 1'000'000));
}

}  // namespace agd::clients
