#include "metrics/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace agd::metrics {

namespace {

// A small file of /proc, whole (they are a few hundred bytes; /proc/stat a few KiB).
std::string read_small(const char* path) {
    std::string out;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[4096];
    while (out.size() < (1u << 20)) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return out;
}

// Boot time (Unix seconds): the wall clock less the time since boot (what
// /proc/stat's btime says, without reading /proc/stat, which a unit with
// ProcSubset=pid hides); 0 if unknown.
uint64_t boot_time() {
    timespec now{}, up{};
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || clock_gettime(CLOCK_BOOTTIME, &up) != 0) return 0;
    double boot = static_cast<double>(now.tv_sec - up.tv_sec) + static_cast<double>(now.tv_nsec - up.tv_nsec) / 1e9;
    return boot > 0 ? static_cast<uint64_t>(boot + 0.5) : 0;
}

}  // namespace

bool read_process_stats(ProcessStats& out) {
    // Fields after the command name, which is in parentheses and may hold
    // spaces and parentheses itself: everything after the last ')'.
    std::string stat = read_small("/proc/self/stat");
    size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return false;
    // Field 3 (state) is the first after ')'; we want 14 utime, 15 stime,
    // 22 starttime, 23 vsize, 24 rss.
    const char* p = stat.c_str() + close_paren + 1;
    unsigned long long f[25] = {};
    for (int field = 3; field <= 24 && *p; ++field) {
        while (*p == ' ') ++p;
        char* end = nullptr;
        f[field] = std::strtoull(p, &end, 10);  // state (a letter) reads as 0
        while (*p && *p != ' ') ++p;
    }
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (ticks <= 0) ticks = 100;
    if (page <= 0) page = 4096;
    out.cpu_seconds = static_cast<double>(f[14] + f[15]) / static_cast<double>(ticks);
    out.virtual_bytes = f[23];
    out.resident_bytes = f[24] * static_cast<unsigned long long>(page);
    if (uint64_t boot = boot_time())
        out.start_time_seconds = static_cast<double>(boot) + static_cast<double>(f[22]) / static_cast<double>(ticks);

    if (DIR* d = opendir("/proc/self/fd")) {
        uint64_t n = 0;
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') ++n;
        closedir(d);
        out.open_fds = n > 0 ? n - 1 : 0;  // not the directory's own descriptor
    }
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) out.max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : rl.rlim_cur;
    return true;
}

}  // namespace agd::metrics
