#include "common/read_all.h"

#include <unistd.h>

#include <cerrno>

namespace agd {

bool read_all(int fd, std::string& out, size_t max) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        if (out.size() + static_cast<size_t>(n) > max) {
            errno = EFBIG;
            return false;
        }
        out.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace agd
