// Listening socket, event loops and shutdown.
#pragma once

#include <cstdint>
#include <string>

namespace mock {

struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 0;          // 0: the kernel picks
    std::string port_file;      // empty: none
    int threads = 1;            // 1: serve on the main event loop
};

// Binds, announces "LISTENING <port>" and serves until SIGTERM/SIGINT.
// Returns the process exit code.
int run_server(const Options& options);

}  // namespace mock
