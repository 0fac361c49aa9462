#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>

#include "daemon/notify.h"

using namespace agd::daemon;

namespace {

std::uint64_t now_usec() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

// A datagram socket standing in for systemd's notify socket.
struct FakeSystemd {
    std::string dir;
    int fd = -1;
    const char* old_env = nullptr;
    std::string saved_env;
    bool had_env = false;

    FakeSystemd() {
        char tmpl[] = "/tmp/agd-notify-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        std::string path = dir + "/notify.sock";
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size());
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        timeval tv{2, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (const char* e = std::getenv("NOTIFY_SOCKET")) {
            had_env = true;
            saved_env = e;
        }
        ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
    }
    ~FakeSystemd() {
        if (had_env)
            ::setenv("NOTIFY_SOCKET", saved_env.c_str(), 1);
        else
            ::unsetenv("NOTIFY_SOCKET");
        ::close(fd);
        std::filesystem::remove_all(dir);
    }
    std::string receive() {
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        REQUIRE(n >= 0);
        return std::string(buf, static_cast<std::size_t>(n));
    }
    bool nothing_pending() {
        char buf[16];
        return ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) < 0;
    }
};

}  // namespace

TEST_CASE("notify: ready, stopping, status and mainpid datagrams") {
    FakeSystemd sd;
    notify_ready("serving on 127.0.0.1:8045");
    CHECK(sd.receive() == "READY=1\nSTATUS=serving on 127.0.0.1:8045");
    notify_stopping("draining 3 requests");
    CHECK(sd.receive() == "STOPPING=1\nSTATUS=draining 3 requests");
    notify_status("two\nlines");
    CHECK(sd.receive() == "STATUS=two lines");
    notify_mainpid(4242);
    CHECK(sd.receive() == "MAINPID=4242");
}

TEST_CASE("notify: reloading carries CLOCK_MONOTONIC in microseconds") {
    FakeSystemd sd;
    auto before = now_usec();
    notify_reloading("reloading configuration");
    auto after = now_usec();
    std::string msg = sd.receive();
    const std::string head = "RELOADING=1\nMONOTONIC_USEC=";
    REQUIRE(msg.starts_with(head));
    auto nl = msg.find('\n', head.size());
    REQUIRE(nl != std::string::npos);
    auto usec = std::stoull(msg.substr(head.size(), nl - head.size()));
    CHECK(usec >= before);
    CHECK(usec <= after);
    CHECK(msg.substr(nl + 1) == "STATUS=reloading configuration");
}

TEST_CASE("notify: nothing is sent without NOTIFY_SOCKET") {
    FakeSystemd sd;
    ::unsetenv("NOTIFY_SOCKET");
    notify_ready("x");
    notify_status("y");
    CHECK(sd.nothing_pending());
}
