// antigravityd: argv -> subcommand -> sysexits code. Everything else lives
// in the agdcore library (src/daemon/cli.cc dispatches the subcommands).
#include <csignal>

#include "daemon/cli.h"

int main(int argc, char** argv) {
    // A client that hangs up must not kill us: write(2) reports EPIPE instead.
    std::signal(SIGPIPE, SIG_IGN);
    return agd::daemon::cli_main(argc, argv);
}
