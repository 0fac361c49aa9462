// Detaching from the terminal for `antigravityd run --daemon` (init scripts;
// under systemd run in the foreground instead).
//
// The original process waits until the daemon reports a verdict on a pipe,
// so that the command's exit code and message say whether start-up worked:
//
//   original ──fork──> child: setsid() ──fork──> daemon: start() returns
//      │                  └─ exits at once            │ ... PidFile, bind ...
//      └─ waits on the pipe  <──── "OK" / code+message ┘ ready() / fail()
//
// The daemon is not a session leader, so it can never regain a controlling
// terminal. Logging is reset in each child (log::reset_after_fork()); call
// log::start() in the daemon afterwards if the logger thread is wanted.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace agd::daemon {

class Detach {
public:
    // Returns only in the daemon (the grandchild), whose cwd is then "/",
    // stdin and stdout /dev/null, and stderr /dev/null only if it was a
    // terminal (a log file an init script redirected stderr to is kept).
    // The original process never returns: it exits with the verdict:
    // ready() -> 0; fail(code, msg) -> msg on stderr, exit code; the daemon
    // gone without a verdict -> "antigravityd exited during start-up", 70.
    // An error is returned (in the original process) only if pipe(2) or the
    // first fork(2) fails; code EX_OSERR.
    static Result<Detach> start();

    Detach(Detach&& other) noexcept;
    Detach& operator=(Detach&& other) noexcept;
    Detach(const Detach&) = delete;
    Detach& operator=(const Detach&) = delete;
    // Without a verdict the pipe just closes: the original process then
    // reports "exited during start-up" and exits 70.
    ~Detach();

    // Start-up worked: the original process exits 0. Closes the pipe.
    void ready();
    // Start-up failed: the original process prints `message` on stderr and
    // exits with `exit_code` (1..255; anything else becomes 70). Closes the pipe.
    void fail(int exit_code, std::string_view message);
    // True until ready() or fail() has been called.
    bool pending() const { return fd_ >= 0; }

private:
    explicit Detach(int fd) : fd_(fd) {}
    void send_and_close(std::string_view verdict);

    int fd_ = -1;  // write end of the verdict pipe
};

// The verdict encoding, shared by both ends of the pipe (exposed for tests).
// "OK" or "E<code>\n<message>".
namespace detach_protocol {
struct Verdict {
    int exit_code = 70;
    std::string message;  // empty for success
};
Verdict decode(std::string_view bytes);
}  // namespace detach_protocol

}  // namespace agd::daemon
