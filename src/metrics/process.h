// The process figures every Prometheus exporter gives (process_*), read
// from /proc/self: file I/O, so on the main thread only.
#pragma once

#include <cstdint>

namespace agd::metrics {

struct ProcessStats {
    double cpu_seconds = 0;           // user + system
    uint64_t resident_bytes = 0;
    uint64_t virtual_bytes = 0;
    uint64_t open_fds = 0;
    uint64_t max_fds = 0;             // RLIMIT_NOFILE (soft)
    double start_time_seconds = 0;    // Unix time the process started
};

// False when /proc/self/stat cannot be read (the other fields are then left as they are).
bool read_process_stats(ProcessStats& out);

}  // namespace agd::metrics
