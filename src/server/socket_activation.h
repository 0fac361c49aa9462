// Socket activation (systemd's antigravityd.socket, sd_listen_fds(3)): the
// listening sockets the service manager passed, each with the address it is
// bound to. Server::bind uses the one that matches a configured `listen`
// instead of binding it, and serves the others as well (logged): whatever
// the socket unit listens on reaches the daemon. Sockets systemd owns are
// never unlinked or bound again by the daemon.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/config.h"

namespace agd {

struct InheritedSocket {
    int fd = -1;
    std::string name;  // as ListenSocket::name: "127.0.0.1:8045", "[::]:8045", "unix:/run/x.sock"
    uint16_t port = 0;      // TCP
    bool wildcard = false;  // TCP bound to 0.0.0.0 or [::] (systemd's ListenStream=PORT)
    bool used = false;
    // LISTEN_FDNAMES' name: the socket unit's name by default; a binary
    // upgrade names each socket for what it served (handover_name).
    std::string label;
};

// The sockets passed by the service manager (LISTEN_FDS for this process),
// the LISTEN_* variables then unset so that no child inherits them. A
// passed descriptor that is not a listening stream socket is an error
// (EX_CONFIG: the socket unit says something the daemon cannot serve).
Result<std::vector<InheritedSocket>> inherited_sockets();

// The name an address of `listen` has once bound ("127.0.0.1:8045"), or ""
// for a TCP address with port 0 (any port: never matched).
std::string listen_name(const config::ListenAddr& a);

// The name a binary upgrade gives a socket it hands over: "control" for
// the control socket; for a listen line ('s': server.listen, 'm':
// metrics.listen), the letter and the line's text in hex (names are
// separated by ':', which addresses have).
std::string handover_name(char kind, std::string_view listen_text);

// The inherited socket handed over for that line (unused yet), or nullptr.
InheritedSocket* handed_over(std::vector<InheritedSocket>& inherited, char kind, std::string_view listen_text);

// True for a name a binary upgrade gave to a socket that is not a client
// listener (the control socket, a metrics or admin listener).
bool handed_over_elsewhere(const InheritedSocket& s);

}  // namespace agd
