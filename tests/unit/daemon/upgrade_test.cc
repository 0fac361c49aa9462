// Binary upgrade pieces: the names sockets are handed over by, and the
// successor's start (descriptors, environment, nothing else inherited).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "daemon/upgrade.h"
#include "server/socket_activation.h"

using namespace agd;
using namespace agd::daemon;

TEST_CASE("upgrade: handover names") {
    CHECK(handover_name('s', "127.0.0.1:0") == "s3132372e302e302e313a30");
    CHECK(handover_name('m', "") == "m");
    std::string name = handover_name('s', "[::1]:8045 ssl");
    CHECK(name.find(':') == std::string::npos);  // LISTEN_FDNAMES separates names with ':'

    std::vector<InheritedSocket> in(4);
    in[0].label = handover_name('s', "127.0.0.1:0");
    in[1].label = handover_name('s', "127.0.0.1:0");
    in[2].label = handover_name('m', "127.0.0.1:9464");
    in[3].label = "control";
    // Two lines with the same text (two port-0 listeners) take one socket each.
    InheritedSocket* a = handed_over(in, 's', "127.0.0.1:0");
    REQUIRE(a == &in[0]);
    a->used = true;
    CHECK(handed_over(in, 's', "127.0.0.1:0") == &in[1]);
    CHECK(handed_over(in, 's', "127.0.0.1:8045") == nullptr);
    CHECK(handed_over(in, 'm', "127.0.0.1:9464") == &in[2]);
    CHECK_FALSE(handed_over_elsewhere(in[0]));
    CHECK(handed_over_elsewhere(in[2]));
    CHECK(handed_over_elsewhere(in[3]));
    InheritedSocket unit;
    unit.label = "antigravityd.socket";  // systemd's default name
    CHECK_FALSE(handed_over_elsewhere(unit));
    unit.label = "metrics";  // not hex
    CHECK_FALSE(handed_over_elsewhere(unit));
}

TEST_CASE("upgrade: the successor gets the sockets as 3.., their names, the pipe, and nothing else") {
    int pair1[2], pair2[2], stray[2], ready[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair1) == 0);
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair2) == 0);
    REQUIRE(pipe(stray) == 0);  // no close-on-exec, like a connection libevent accepted
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    setenv("LISTEN_FDS", "9", 1);  // a stale one of this process is not passed on
    std::string script =
        "printf '%s|%s|%s|' \"$LISTEN_FDS\" \"$LISTEN_FDNAMES\" \"$AGD_UPGRADE_READY_FD\";"
        "[ \"$LISTEN_PID\" = \"$$\" ] && printf 'pid|';"
        "[ -S /proc/self/fd/3 ] && [ -S /proc/self/fd/4 ] && printf 'sockets|';"
        "[ -e /proc/self/fd/" + std::to_string(stray[1]) + " ] || printf 'no-stray|';"
        "[ -e /proc/self/fd/6 ] || printf 'nothing-after|';"
        "printf 'end' >&5";
    // The script's stdout is the pipe too (fd 5 as well): read both.
    int out = dup(ready[1]);
    int saved = dup(1);
    dup2(out, 1);
    auto pid = spawn_successor("/bin/sh", {"-c", script}, {{pair1[0], "s00"}, {pair2[0], "control"}}, ready[1]);
    dup2(saved, 1);
    close(saved);
    close(out);
    unsetenv("LISTEN_FDS");
    close(ready[1]);
    REQUIRE(pid);
    std::string got;
    char buf[256];
    ssize_t n;
    while ((n = read(ready[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    int status = 0;
    REQUIRE(waitpid(*pid, &status, 0) == *pid);
    CHECK(WIFEXITED(status));
    CHECK(got == "2|s00:control|5|pid|sockets|no-stray|nothing-after|end");
    for (int fd : {pair1[0], pair1[1], pair2[0], pair2[1], stray[0], stray[1], ready[0]}) close(fd);
}

TEST_CASE("upgrade: the successor reads its pipe from the environment once") {
    int p[2];
    REQUIRE(pipe(p) == 0);
    setenv("AGD_UPGRADE_READY_FD", std::to_string(p[1]).c_str(), 1);
    int fd = take_ready_fd();
    CHECK(fd == p[1]);
    CHECK(getenv("AGD_UPGRADE_READY_FD") == nullptr);
    CHECK(take_ready_fd() == -1);
    report_ready(fd);  // closes it
    char buf[16] = {};
    CHECK(read(p[0], buf, sizeof buf) == 6);
    CHECK(std::string(buf) == "ready\n");
    close(p[0]);
    setenv("AGD_UPGRADE_READY_FD", "2x", 1);
    CHECK(take_ready_fd() == -1);
}
