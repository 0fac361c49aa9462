// The gauges a scrape reads from the running daemon (main thread): requests
// in flight, the live config generation, each configured credential's
// state. log_dropped and the process figures come from elsewhere.
#pragma once

#include "metrics/exposition.h"

namespace agd {
class Runtime;
}

namespace agd::config {
struct ListenAddr;
}

namespace agd::metrics {

void read_runtime_gauges(Runtime& runtime, Gauges& g);

// Two listen addresses that would be the same socket (same unix path, or
// same TCP host and non-zero port).
bool same_listen_address(const config::ListenAddr& a, const config::ListenAddr& b);

}  // namespace agd::metrics
