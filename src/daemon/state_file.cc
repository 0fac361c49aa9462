// Small state files, read and written whole (daemon/state_file.h).
#include "daemon/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "common/read_all.h"
#include "daemon/parent_dir.h"

namespace agd::daemon {

bool read_small_file(const std::string& path, std::string& out, size_t max) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    bool ok = read_all(fd, out, max);
    int err = errno;
    ::close(fd);
    errno = err;
    return ok;
}

Status write_file_atomic(const std::string& path, const std::string& body, mode_t mode) {
    if (auto made = make_parent_dir(path, 0750); !made) return made;
    // A name nobody else uses: O_EXCL refuses a leftover or a planted file.
    std::random_device rd;
    std::string tmp;
    int fd = -1;
    for (int tries = 0; tries < 8 && fd < 0; ++tries) {
        tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) return Status::fail(errno, "cannot create " + tmp + ": " + std::strerror(errno));
    ::fchmod(fd, mode);  // the umask may have taken bits the file needs
    size_t off = 0;
    while (off < body.size()) {
        ssize_t n = ::write(fd, body.data() + off, body.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            return Status::fail(err, "cannot write " + tmp + ": " + std::strerror(err));
        }
        off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return Status::fail(err, "cannot write " + tmp + ": " + std::strerror(err));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return Status::fail(err, "cannot rename " + tmp + ": " + std::strerror(err));
    }
    // The rename itself is durable once the directory is.
    std::string dir = path.substr(0, path.find_last_of('/') + 1);
    if (dir.empty()) dir = ".";
    if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

}  // namespace agd::daemon
