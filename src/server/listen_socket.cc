#include "server/listen_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/cidr.h"

namespace agd {

namespace {

std::string sockerr(const char* what, const std::string& addr) {
    return std::string(what) + " " + addr + ": " + strerror(errno);
}

// A bind(2) failure's exit status: permission (a port below 1024 without
// CAP_NET_BIND_SERVICE, a unix socket's directory) is EX_NOPERM, which no
// restart fixes; the rest (an address in use) EX_UNAVAILABLE.
int bind_failure(int err) { return err == EACCES || err == EPERM ? 77 : 69; }

}  // namespace

Result<ListenSocket> open_listen_socket(const config::ListenAddr& a, int backlog) {
    using R = Result<ListenSocket>;
    ListenSocket out;
    int fd = -1;
    if (a.kind == config::ListenAddr::Kind::Unix) {
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        if (a.path.size() >= sizeof sun.sun_path) return R::fail(78, "unix socket path too long: " + a.path);
        std::memcpy(sun.sun_path, a.path.c_str(), a.path.size());
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return R::fail(71, sockerr("cannot create socket for", a.text));
        struct stat st;
        if (lstat(a.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
            int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            bool live = connect(probe, reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
            close(probe);
            if (live) {
                close(fd);
                return R::fail(69, "cannot listen on " + a.text + ": another process is serving that socket");
            }
            unlink(a.path.c_str());
        }
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
            R r = R::fail(bind_failure(errno), sockerr("cannot bind", a.text));
            close(fd);
            return r;
        }
        chmod(a.path.c_str(), 0660);
        out.unix_path = a.path;
        out.name = "unix:" + a.path;
    } else {
        auto ip = parse_ip(a.host);
        if (!ip) return R::fail(78, "cannot listen on " + a.text + ": not an IP address");
        sockaddr_storage ss{};
        socklen_t len;
        if (ip->is_v4()) {
            auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
            sin->sin_family = AF_INET;
            sin->sin_port = htons(a.port);
            std::memcpy(&sin->sin_addr, ip->bytes.data() + 12, 4);
            len = sizeof *sin;
        } else {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = htons(a.port);
            std::memcpy(&sin6->sin6_addr, ip->bytes.data(), 16);
            len = sizeof *sin6;
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return R::fail(71, sockerr("cannot create socket for", a.text));
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
            R r = R::fail(bind_failure(errno), sockerr("cannot bind", a.text));
            close(fd);
            return r;
        }
        sockaddr_storage got{};
        socklen_t gl = sizeof got;
        getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
        uint16_t port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&got)->sin_port
                                                       : reinterpret_cast<sockaddr_in6*>(&got)->sin6_port);
        std::string host = ip->str();
        out.name = ip->is_v4() ? host + ":" + std::to_string(port) : "[" + host + "]:" + std::to_string(port);
    }
    if (listen(fd, backlog) != 0) {
        R r = R::fail(71, sockerr("cannot listen on", a.text));
        close(fd);
        if (!out.unix_path.empty()) unlink(out.unix_path.c_str());
        return r;
    }
    out.fd = fd;
    return out;
}

}  // namespace agd
