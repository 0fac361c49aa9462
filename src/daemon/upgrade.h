// Zero-downtime binary upgrade (`antigravityd upgrade`, SIGUSR2): the
// running daemon starts the binary installed at its own path as a child,
// `run` with the same configuration, and hands it its listening sockets
// the way systemd's socket activation does (LISTEN_FDS, LISTEN_PID,
// LISTEN_FDNAMES), each named for what it serves; the child binds nothing
// it was given, takes over the control socket and the PID file, says
// READY (with MAINPID under systemd) and writes one line on a pipe. Only
// then does the old daemon stop accepting and drain; if the child exits
// or stays silent first, the old one goes on serving as if nothing
// happened.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct event_base;
struct event;

namespace agd::daemon {

// A socket handed to the successor and the name it goes by there.
struct PassedSocket {
    int fd;
    std::string name;  // server/socket_activation.h's handover_name
};

// The path of the running executable as installed (/proc/self/exe without
// the " (deleted)" a package upgrade leaves), "" when unknown. Read it at
// start, before anything replaced the file.
std::string own_executable();

// Starts `exe` with `args` (argv[1..]) and the environment of this process
// (minus any LISTEN_*), the sockets as descriptors 3.. and the write end of
// the readiness pipe after them, named in AGD_UPGRADE_READY_FD. Returns
// the child's PID. Async-signal-safe between fork and exec.
Result<pid_t> spawn_successor(const std::string& exe, const std::vector<std::string>& args,
                              const std::vector<PassedSocket>& sockets, int ready_fd);

// The old daemon's side of one upgrade: the successor started, its pipe
// and a deadline watched on the main loop. `done` runs once, on the loop:
// with the successor's PID when it said it serves, or with why not (it
// exited, or said nothing within the deadline and was killed), the child
// reaped.
class Successor {
public:
    using Done = std::function<void(Result<pid_t>)>;
    explicit Successor(event_base* base) : base_(base) {}
    ~Successor();
    Successor(const Successor&) = delete;
    Successor& operator=(const Successor&) = delete;

    Status start(const std::string& exe, const std::vector<std::string>& args, const std::vector<PassedSocket>& sockets,
                 std::chrono::milliseconds deadline, Done done);
    bool pending() const { return pid_ > 0 && done_ != nullptr; }
    pid_t pid() const { return pid_; }

private:
    static void on_pipe(int fd, short what, void* arg);
    void finish(Result<pid_t> result);
    std::string reap(bool kill_first);  // why it is gone

    event_base* base_;
    pid_t pid_ = 0;
    int pipe_ = -1;
    event* ev_ = nullptr;
    std::string line_;
    Done done_;
};

// In the successor: the readiness pipe's descriptor from the environment
// (then unset), -1 when this process was not started by an upgrade.
int take_ready_fd();

// In the successor, once it serves: tells the old daemon to hand over.
void report_ready(int fd);

}  // namespace agd::daemon
