#include "daemon/parent_dir.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

namespace agd::daemon {

Status make_parent_dir(const std::string& path, mode_t mode) {
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos || slash == 0) return {};  // relative name or directly under "/"
    std::string dir = path.substr(0, slash);
    // Walk down from the top, creating what is missing.
    for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
        if (pos != dir.size() && dir[pos] != '/') continue;
        std::string prefix = dir.substr(0, pos);
        if (prefix.empty() || prefix.back() == '/') continue;  // "a//b"
        if (::mkdir(prefix.c_str(), mode) == 0 || errno == EEXIST) continue;
        int err = errno;
        return Status::fail(err, fmt::format("cannot create directory {}: {}", prefix, std::strerror(err)));
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
        int err = errno;
        return Status::fail(err, fmt::format("cannot use directory {}: {}", dir, std::strerror(err)));
    }
    if (!S_ISDIR(st.st_mode))
        return Status::fail(ENOTDIR, fmt::format("cannot use directory {}: {}", dir, std::strerror(ENOTDIR)));
    return {};
}

}  // namespace agd::daemon
