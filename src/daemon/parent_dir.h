// Creating the directory that will hold a run-time file (PID file, control
// socket) when nobody made it for us (systemd's RuntimeDirectory= usually has).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace agd::daemon {

// Creates every missing directory above `path` (not `path` itself) with
// `mode` (before umask). Error code: the errno of the failing mkdir(2).
Status make_parent_dir(const std::string& path, mode_t mode = 0755);

}  // namespace agd::daemon
