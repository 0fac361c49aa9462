// `antigravityd run`: the daemon's main thread. Loads the config, takes the
// PID-file lock, starts the workers and listeners, speaks sd_notify and the
// control socket, and handles SIGHUP (reload) and SIGTERM/SIGINT (drain, exit).
#pragma once

#include "daemon/options.h"

namespace agd::daemon {

int run(const CliOptions& opts);  // returns a sysexits code

}  // namespace agd::daemon
