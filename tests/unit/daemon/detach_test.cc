#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstdio>
#include <functional>
#include <string>

#include <fmt/core.h>

#include "daemon/detach.h"

using agd::daemon::Detach;
namespace protocol = agd::daemon::detach_protocol;

namespace {

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

struct Run {
    int exit_code = -1;   // of the original process
    std::string stderr_text;  // what the original (and the daemon) wrote to stderr
    std::string report;   // what the daemon wrote to the report fd
};

// Forks an "original process" whose stderr is a pipe (or `stderr_fd`), which
// calls Detach::start(); the daemon runs `daemon_body(detach, report_fd)`
// and exits.
Run run_detached(const std::function<void(Detach&, int)>& daemon_body, int stderr_fd = -1) {
    int err_pipe[2], report_pipe[2];
    REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe(report_pipe) == 0);  // inherited by the daemon on purpose
    std::fflush(nullptr);  // or the children would write our buffered output again
    pid_t original = ::fork();
    REQUIRE(original >= 0);
    if (original == 0) {
        ::dup2(stderr_fd >= 0 ? stderr_fd : err_pipe[1], STDERR_FILENO);
        ::close(err_pipe[0]);
        ::close(report_pipe[0]);
        auto d = Detach::start();
        if (!d) ::_exit(99);
        daemon_body(*d, report_pipe[1]);
        ::_exit(0);  // ~Detach does not run: the pipe closes at exit
    }
    ::close(err_pipe[1]);
    ::close(report_pipe[1]);
    Run r;
    int status = 0;
    REQUIRE(::waitpid(original, &status, 0) == original);
    REQUIRE(WIFEXITED(status));
    r.exit_code = WEXITSTATUS(status);
    r.report = read_all(report_pipe[0]);      // EOF once the daemon has exited
    r.stderr_text = read_all(err_pipe[0]);
    ::close(report_pipe[0]);
    ::close(err_pipe[0]);
    return r;
}

bool is_dev_null(int fd) {
    struct stat a {}, b {};
    return ::fstat(fd, &a) == 0 && ::stat("/dev/null", &b) == 0 && a.st_rdev == b.st_rdev && S_ISCHR(a.st_mode);
}

}  // namespace

TEST_CASE("detach: ready() makes the original process exit 0; the daemon is detached") {
    pid_t test_sid = ::getsid(0);
    Run r = run_detached([](Detach& d, int report) {
        char cwd[PATH_MAX] = "";
        (void)!::getcwd(cwd, sizeof cwd);
        bool was_pending = d.pending();
        d.ready();
        std::string text = fmt::format("sid={} pid={} pending={:d},{:d} cwd={} stdin_null={:d} stdout_null={:d}",
                                       ::getsid(0), ::getpid(), was_pending, d.pending(), cwd,
                                       is_dev_null(STDIN_FILENO), is_dev_null(STDOUT_FILENO));
        (void)!::write(report, text.data(), text.size());
    });
    CHECK(r.exit_code == 0);
    CHECK(r.stderr_text.empty());
    int sid = -1, pid = -1;
    char cwd[256] = "";
    int stdin_null = -1, stdout_null = -1, was_pending = -1, still_pending = -1;
    REQUIRE_MESSAGE(std::sscanf(r.report.c_str(), "sid=%d pid=%d pending=%d,%d cwd=%255s stdin_null=%d stdout_null=%d",
                                &sid, &pid, &was_pending, &still_pending, cwd, &stdin_null, &stdout_null) == 7,
                    r.report);
    CHECK(was_pending == 1);
    CHECK(still_pending == 0);
    CHECK(sid != test_sid);       // a new session, without our terminal
    CHECK(sid != pid);            // not its leader: it can never acquire a terminal
    CHECK(std::string(cwd) == "/");
    CHECK(stdin_null == 1);
    CHECK(stdout_null == 1);
}

TEST_CASE("detach: fail() passes the message and the exit code to the original process") {
    Run r = run_detached([](Detach& d, int) { d.fail(EX_CONFIG, "cannot bind 127.0.0.1:8045: Address already in use"); });
    CHECK(r.exit_code == EX_CONFIG);
    CHECK(r.stderr_text == "cannot bind 127.0.0.1:8045: Address already in use\n");
}

TEST_CASE("detach: a daemon that dies without a verdict is reported") {
    Run r = run_detached([](Detach&, int) {});
    CHECK(r.exit_code == EX_SOFTWARE);
    CHECK(r.stderr_text == "antigravityd exited during start-up\n");
}

TEST_CASE("detach: a non-terminal stderr is kept for the daemon's logs") {
    Run r = run_detached([](Detach& d, int) {
        d.ready();
        static const char line[] = "daemon log line\n";
        (void)!::write(STDERR_FILENO, line, sizeof line - 1);
    });
    CHECK(r.exit_code == 0);
    CHECK(r.stderr_text == "daemon log line\n");
}

TEST_CASE("detach: a terminal on stderr is let go of") {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(master >= 0);
    REQUIRE(::grantpt(master) == 0);
    REQUIRE(::unlockpt(master) == 0);
    int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(slave >= 0);
    Run r = run_detached(
        [](Detach& d, int report) {
            std::string text = fmt::format("stderr_null={:d}", is_dev_null(STDERR_FILENO));
            (void)!::write(report, text.data(), text.size());
            d.ready();
        },
        slave);
    ::close(slave);
    ::close(master);
    CHECK(r.exit_code == 0);
    CHECK(r.report == "stderr_null=1");
}

TEST_CASE("detach: verdict decoding") {
    auto ok = protocol::decode("OK");
    CHECK(ok.exit_code == 0);
    CHECK(ok.message.empty());
    auto failed = protocol::decode("E78\nFILE:3: server.listen: bad");
    CHECK(failed.exit_code == 78);
    CHECK(failed.message == "FILE:3: server.listen: bad");
    CHECK(protocol::decode("").exit_code == EX_SOFTWARE);
    CHECK(protocol::decode("").message == "antigravityd exited during start-up");
    CHECK(protocol::decode("O").exit_code == EX_SOFTWARE);
    CHECK(protocol::decode("E999\nx").exit_code == EX_SOFTWARE);
    CHECK(protocol::decode("Exx\nx").exit_code == EX_SOFTWARE);
    CHECK(protocol::decode("E5").exit_code == 5);
}
