#include "server/socket_activation.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "common/cidr.h"

namespace agd {

namespace {

// The address a bound socket has, in the form ListenSocket::name uses.
std::string socket_name(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
    if (ss.ss_family == AF_UNIX) {
        auto* sun = reinterpret_cast<sockaddr_un*>(&ss);
        size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
        std::string path(sun->sun_path, strnlen(sun->sun_path, n));
        return "unix:" + path;
    }
    char host[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(sin->sin_port));
    }
    if (ss.ss_family == AF_INET6) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
        return "[" + std::string(host) + "]:" + std::to_string(ntohs(sin6->sin6_port));
    }
    return {};
}

}  // namespace

Result<std::vector<InheritedSocket>> inherited_sockets() {
    using R = Result<std::vector<InheritedSocket>>;
    std::vector<InheritedSocket> out;
    char** names = nullptr;
    int n = sd_listen_fds_with_names(1, &names);
    if (n <= 0) return out;
    std::vector<std::string> labels;
    for (int i = 0; i < n; ++i) labels.emplace_back(names && names[i] ? names[i] : "");
    if (names) {
        for (int i = 0; i < n; ++i) free(names[i]);
        free(names);
    }
    for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; ++fd) {
        if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
            return R::fail(78, "descriptor " + std::to_string(fd) +
                                   " passed by the service manager is not a listening stream socket");
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        std::string name = socket_name(fd);
        if (name.empty()) return R::fail(78, "descriptor " + std::to_string(fd) + ": unknown address family");
        InheritedSocket s;
        s.fd = fd;
        s.name = std::move(name);
        s.label = labels[static_cast<size_t>(fd - SD_LISTEN_FDS_START)];
        if (!s.name.starts_with("unix:")) {
            auto colon = s.name.rfind(':');
            s.port = static_cast<uint16_t>(std::strtoul(s.name.c_str() + colon + 1, nullptr, 10));
            s.wildcard = s.name.starts_with("0.0.0.0:") || s.name.starts_with("[::]:");
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::string listen_name(const config::ListenAddr& a) {
    if (a.kind == config::ListenAddr::Kind::Unix) return "unix:" + a.path;
    if (a.port == 0) return {};
    auto ip = parse_ip(a.host);
    if (!ip) return {};
    return ip->is_v4() ? ip->str() + ":" + std::to_string(a.port) : "[" + ip->str() + "]:" + std::to_string(a.port);
}

std::string handover_name(char kind, std::string_view listen_text) {
    static const char hex[] = "0123456789abcdef";
    std::string out(1, kind);
    for (unsigned char c : listen_text) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

InheritedSocket* handed_over(std::vector<InheritedSocket>& inherited, char kind, std::string_view listen_text) {
    std::string name = handover_name(kind, listen_text);
    for (auto& s : inherited)
        if (!s.used && s.label == name) return &s;
    return nullptr;
}

bool handed_over_elsewhere(const InheritedSocket& s) {
    if (s.label == "control") return true;
    if (s.label.size() < 3 || (s.label[0] != 'm' && s.label[0] != 'a') || s.label.size() % 2 == 0) return false;
    return s.label.find_first_not_of("0123456789abcdef", 1) == std::string::npos;
}

}  // namespace agd
