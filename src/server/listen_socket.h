// A listening socket for a configured address: TCP (IPv4 or IPv6, port 0
// picks a free port) or a unix stream socket (mode 0660; a stale socket file
// nobody answers on is replaced). Shared by the client listeners (Server)
// and the metrics listener.
#pragma once

#include <string>

#include "common/result.h"
#include "config/config.h"

namespace agd {

struct ListenSocket {
    int fd = -1;            // non-blocking, close-on-exec, listening
    std::string name;       // "127.0.0.1:8045", "[::1]:8045", "unix:/run/x.sock" (actual port)
    std::string unix_path;  // the socket file to unlink when done ("" for TCP)
};

// Sysexits codes in the error: 78 (EX_CONFIG) for an unusable address, 69
// (EX_UNAVAILABLE) for a unix socket another process serves, 71 (EX_OSERR)
// for a failed socket/bind/listen.
Result<ListenSocket> open_listen_socket(const config::ListenAddr& a, int backlog = 1024);

}  // namespace agd
