#include "metrics/gauges.h"

#include "common/cidr.h"
#include "config/config.h"
#include "credentials/ledger.h"
#include "dispatch/router.h"
#include "server/runtime.h"

namespace agd::metrics {

void read_runtime_gauges(Runtime& runtime, Gauges& g) {
    g.in_flight = runtime.counters().unanswered.load(std::memory_order_relaxed);
    auto snap = runtime.snapshot();
    if (!snap) return;
    g.config_generation = snap->generation;
    if (!snap->router) return;
    int64_t now = credentials::steady_ms();
    for (const auto& p : snap->router->providers()) {
        for (const auto& c : p.creds) {
            bool up = !c.state || !c.state->out(now);
            g.credentials.push_back({p.cfg->name, c.fingerprint, up});
        }
    }
}

bool same_listen_address(const config::ListenAddr& a, const config::ListenAddr& b) {
    using Kind = config::ListenAddr::Kind;
    if (a.kind != b.kind) return false;
    if (a.kind == Kind::Unix) return a.path == b.path;
    if (a.port == 0 || a.port != b.port) return false;
    auto x = parse_ip(a.host), y = parse_ip(b.host);
    return x && y ? x->bytes == y->bytes : a.host == b.host;
}

}  // namespace agd::metrics
