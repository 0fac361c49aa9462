#include <doctest/doctest.h>

#include <event2/event.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "daemon/control.h"

using namespace agd::daemon;
using namespace std::chrono_literals;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/agd-control-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

struct Base {
    event_base* base = event_base_new();
    Base() { REQUIRE(base != nullptr); }
    ~Base() { event_base_free(base); }
};

struct FakeHandler : ControlServer::Handler {
    int reloads = 0, stops = 0;
    ControlServer::Reply pending_reload;
    bool stop_answers_at_once = true;
    ControlServer::Reply pending_stop;
    std::string status_json = R"({"version":"0.1.0","pid":1})";

    void reload(ControlServer::Reply reply) override {
        ++reloads;
        pending_reload = std::move(reply);  // answered later, from the loop
    }
    std::string status() override { return status_json; }
    std::vector<std::pair<std::string, std::string>> commands;  // verb, args
    std::string command(std::string_view verb, std::string_view args) override {
        commands.emplace_back(verb, args);
        if (verb != "credentials") return {};
        return R"({"ok":true,"args":")" + std::string(args) + R"("})";
    }
    void stop(ControlServer::Reply reply) override {
        ++stops;
        if (stop_answers_at_once)
            reply(R"({"ok":true,"message":"stopping"})");
        else
            pending_stop = std::move(reply);
    }
};

// Runs `client` on another thread while this thread drives the event loop
// (so every server callback and Reply runs here, as in the daemon). `tick`
// runs between loop turns.
template <class T>
T drive(event_base* base, std::function<T()> client, const std::function<void()>& tick = {}) {
    auto fut = std::async(std::launch::async, std::move(client));
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (fut.wait_for(1ms) != std::future_status::ready) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        if (tick) tick();
        REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
    return fut.get();
}

// Turns the loop until `done()` or a deadline.
void spin_until(event_base* base, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        std::this_thread::sleep_for(1ms);
        REQUIRE(std::chrono::steady_clock::now() < deadline);
    }
}

int raw_connect(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

std::string read_to_eof(int fd) {
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

using StrResult = agd::Result<std::string>;

}  // namespace

TEST_CASE("control: status, unknown commands, and the socket's mode") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE_MESSAGE(server, server.error().message);

    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);

    auto status = drive<StrResult>(b.base, [&] { return control_call(path, "status", 5s); });
    REQUIRE_MESSAGE(status, status.error().message);
    CHECK(*status == h.status_json);

    auto unknown = drive<StrResult>(b.base, [&] { return control_call(path, "frobnicate", 5s); });
    REQUIRE(unknown);
    CHECK(*unknown == R"({"ok":false,"error":"unknown_command","message":"unknown command"})");
    REQUIRE(h.commands.size() == 1);
    CHECK(h.commands[0] == std::pair<std::string, std::string>("frobnicate", ""));

    // Other verbs reach the handler with the rest of the line.
    auto creds = drive<StrResult>(b.base, [&] { return control_call(path, "credentials reset oa/1a2b", 5s); });
    REQUIRE(creds);
    CHECK(*creds == R"({"ok":true,"args":"reset oa/1a2b"})");
    CHECK(h.commands.back() == std::pair<std::string, std::string>("credentials", "reset oa/1a2b"));

    // CRLF and surrounding blanks are tolerated.
    auto crlf = drive<std::string>(b.base, [&] {
        int fd = raw_connect(path);
        (void)!::write(fd, " status \r\n", 10);
        std::string out = read_to_eof(fd);
        ::close(fd);
        return out;
    });
    CHECK(crlf == h.status_json + "\n");
    spin_until(b.base, [&] { return (*server)->connection_count() == 0; });
}

TEST_CASE("control: a reload answered later reaches the waiting client") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);

    int turns_with_pending = 0;
    auto answer = drive<StrResult>(b.base, [&] { return control_call(path, "reload", 5s); }, [&] {
        // Answer only after a few loop turns: the reply is truly asynchronous.
        if (h.pending_reload && ++turns_with_pending == 5) {
            h.pending_reload(R"({"ok":true,"generation":3,"message":"reloaded"})");
            h.pending_reload(R"({"ok":false,"message":"a second answer is ignored"})");
        }
    });
    REQUIRE_MESSAGE(answer, answer.error().message);
    CHECK(*answer == R"({"ok":true,"generation":3,"message":"reloaded"})");
    CHECK(h.reloads == 1);
}

TEST_CASE("control: replying after the client left, or after the server is gone, is harmless") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);

    int fd = raw_connect(path);
    (void)!::write(fd, "reload\n", 7);
    spin_until(b.base, [&] { return h.reloads == 1; });
    ::close(fd);
    for (int i = 0; i < 20; ++i) event_base_loop(b.base, EVLOOP_NONBLOCK);
    h.pending_reload(R"({"ok":true})");  // the send fails quietly; the connection is dropped
    spin_until(b.base, [&] { return (*server)->connection_count() == 0; });

    // A reply kept past the server's lifetime.
    fd = raw_connect(path);
    (void)!::write(fd, "reload\n", 7);
    spin_until(b.base, [&] { return h.reloads == 2; });
    server->reset();
    h.pending_reload(R"({"ok":true})");
    CHECK(read_to_eof(fd).empty());  // closed by the server's destructor, unanswered
    ::close(fd);
    CHECK_FALSE(std::filesystem::exists(path));  // unlinked
}

TEST_CASE("control: overlong command lines are refused") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);
    auto out = drive<std::string>(b.base, [&] {
        int fd = raw_connect(path);
        std::string junk(ControlServer::kMaxCommandLine + 50, 'a');
        (void)!::write(fd, junk.data(), junk.size());
        std::string answer = read_to_eof(fd);
        ::close(fd);
        return answer;
    });
    CHECK(out == "{\"ok\":false,\"error\":\"too_long\",\"message\":\"command line too long\"}\n");
    CHECK(h.reloads == 0);
}

TEST_CASE("control: many clients at once") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);
    // 20 clients connect and sit idle first; the loop must still serve others.
    std::vector<int> idle;
    for (int i = 0; i < 20; ++i) idle.push_back(raw_connect(path));
    auto oks = drive<int>(b.base, [&] {
        std::vector<std::future<StrResult>> calls;
        for (int i = 0; i < 20; ++i)
            calls.push_back(std::async(std::launch::async, [&] { return control_call(path, "status", 5s); }));
        int n = 0;
        for (auto& c : calls) {
            auto r = c.get();
            if (r && *r == h.status_json) ++n;
        }
        return n;
    });
    CHECK(oks == 20);
    for (int fd : idle) ::close(fd);
    spin_until(b.base, [&] { return (*server)->connection_count() == 0; });
}

TEST_CASE("control: a stale socket is replaced; a live one is refused") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";

    {   // A socket file nobody listens on, as a crashed daemon leaves it.
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size());
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::close(fd);
    }
    REQUIRE(std::filesystem::exists(path));
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE_MESSAGE(server, server.error().message);

    auto second = ControlServer::listen(b.base, path, h);
    REQUIRE_FALSE(second);
    CHECK(second.error().message == "control socket " + path + " is in use by a running antigravityd");
    CHECK(second.error().code == EX_UNAVAILABLE);

    // The first server is untouched by the refused attempt.
    auto status = drive<StrResult>(b.base, [&] { return control_call(path, "status", 5s); });
    REQUIRE(status);
    CHECK(*status == h.status_json);
}

TEST_CASE("control: a path that is not a socket is not removed") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    { std::ofstream(path) << "precious"; }
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE_FALSE(server);
    CHECK(server.error().message.find("not a socket") != std::string::npos);
    CHECK(std::filesystem::is_regular_file(path));
}

TEST_CASE("control: a missing parent directory is created 0755") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/run/antigravityd/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE_MESSAGE(server, server.error().message);
    struct stat st {};
    REQUIRE(::stat((dir.path + "/run/antigravityd").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0755);
}

TEST_CASE("control: stop is answered at once and the connection closes when the daemon exits") {
    TempDir dir;
    std::string path = dir.path + "/control.sock";
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    std::fflush(nullptr);
    pid_t daemon = ::fork();
    REQUIRE(daemon >= 0);
    if (daemon == 0) {
        // A miniature daemon: serve until stopped, linger a moment, exit.
        ::close(ready[0]);
        event_base* base = event_base_new();
        struct StopHandler : ControlServer::Handler {
            event_base* base;
            void reload(ControlServer::Reply r) override { r(R"({"ok":true,"generation":1})"); }
            std::string status() override { return "{}"; }
            std::string command(std::string_view, std::string_view) override { return {}; }
            void stop(ControlServer::Reply r) override {
                r(R"({"ok":true,"message":"stopping"})");
                timeval later{0, 200'000};
                event_base_loopexit(base, &later);
            }
        } handler;
        handler.base = base;
        auto server = ControlServer::listen(base, path, handler);
        if (!server) ::_exit(1);
        (void)!::write(ready[1], "r", 1);
        event_base_dispatch(base);
        server->reset();  // the stop client's connection stays open...
        ::_exit(0);       // ...until the process is gone
    }
    ::close(ready[1]);
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);

    auto client = ControlClient::connect(path, 5s, "/etc/x.conf");
    REQUIRE_MESSAGE(client, client.error().message);
    auto answer = client->request("stop", 5s);
    REQUIRE_MESSAGE(answer, answer.error().message);
    CHECK(*answer == R"({"ok":true,"message":"stopping"})");
    // Still open right after the answer: the daemon lingers 200 ms.
    auto early = client->wait_closed(20ms);
    CHECK_FALSE(early);
    CHECK(early.error().code == EX_TEMPFAIL);
    auto closed = client->wait_closed(10s);
    CHECK_MESSAGE(closed, closed.error().message);
    int status = 0;
    REQUIRE(::waitpid(daemon, &status, 0) == daemon);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("control: the server keeps a stop client's connection open when destroyed") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);
    auto client = drive<agd::Result<ControlClient>>(b.base, [&] {
        auto c = ControlClient::connect(path, 5s);
        if (!c) return c;
        auto a = c->request("stop", 5s);
        if (!a) return agd::Result<ControlClient>(a.error());
        return c;
    });
    REQUIRE(client);
    CHECK(h.stops == 1);
    server->reset();
    auto st = client->wait_closed(50ms);
    CHECK_FALSE(st);  // left for the process exit to close
}

TEST_CASE("control: client errors say what to do") {
    TempDir dir;
    std::string path = dir.path + "/nothing-here.sock";
    auto r = control_call(path, "status", 1s, "/etc/antigravityd/antigravityd.conf");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == EX_UNAVAILABLE);
    CHECK(r.error().message ==
          "cannot connect to " + path +
              ": No such file or directory (is antigravityd running? check server.control_socket in "
              "/etc/antigravityd/antigravityd.conf)");

    // A socket we may not connect to.
    Base b;
    FakeHandler h;
    std::string sock = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, sock, h);
    REQUIRE(server);
    std::string message;
    int code = 0;
    if (::geteuid() == 0) {
        // Root may connect anywhere: ask as nobody from a child process.
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        std::fflush(nullptr);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
            auto denied = control_call(sock, "status", 1s);
            std::string out = denied ? std::string("connected") : std::to_string(denied.error().code) + " " + denied.error().message;
            (void)!::write(fds[1], out.data(), out.size());
            ::_exit(0);
        }
        ::close(fds[1]);
        std::string out = read_to_eof(fds[0]);
        ::close(fds[0]);
        ::waitpid(pid, nullptr, 0);
        auto sp = out.find(' ');
        REQUIRE(sp != std::string::npos);
        code = std::stoi(out.substr(0, sp));
        message = out.substr(sp + 1);
    } else {
        REQUIRE(::chmod(sock.c_str(), 0) == 0);
        auto denied = control_call(sock, "status", 1s);
        REQUIRE_FALSE(denied);
        code = denied.error().code;
        message = denied.error().message;
    }
    CHECK(code == EX_NOPERM);
    CHECK(message.find("Permission denied") != std::string::npos);
    CHECK(message.find("run as root or as the antigravityd user") != std::string::npos);
}

TEST_CASE("control: idle connections cannot lock the administrator out") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);
    // Every slot taken by a client that says nothing.
    std::vector<int> idle;
    for (std::size_t i = 0; i < ControlServer::kMaxConnections; ++i) {
        idle.push_back(raw_connect(path));
        event_base_loop(b.base, EVLOOP_NONBLOCK);  // accept as they come (the backlog is smaller)
    }
    spin_until(b.base, [&] { return (*server)->connection_count() == ControlServer::kMaxConnections; });
    CHECK((*server)->evicted_count() == 0);
    // The administrator still gets through, again and again.
    for (int i = 0; i < 3; ++i) {
        auto status = drive<StrResult>(b.base, [&] { return control_call(path, "status", 5s); });
        REQUIRE_MESSAGE(status, status.error().message);
        CHECK(*status == h.status_json);
    }
    // One idle connection made room; the answered ones left the slot free again.
    CHECK((*server)->evicted_count() == 1);
    CHECK((*server)->connection_count() == ControlServer::kMaxConnections - 1);
    // The oldest idle connection was the one closed.
    CHECK(read_to_eof(idle[0]).empty());
    for (int fd : idle) ::close(fd);
    spin_until(b.base, [&] { return (*server)->connection_count() == 0; });
}

TEST_CASE("control: when every slot is busy with a command, a newcomer is refused as busy") {
    TempDir dir;
    Base b;
    struct Holding : FakeHandler {
        std::vector<ControlServer::Reply> held;
        void reload(ControlServer::Reply reply) override { held.push_back(std::move(reply)); }
    } h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);
    std::vector<int> busy;
    for (std::size_t i = 0; i < ControlServer::kMaxConnections; ++i) {
        int fd = raw_connect(path);
        (void)!::write(fd, "reload\n", 7);
        busy.push_back(fd);
        event_base_loop(b.base, EVLOOP_NONBLOCK);
    }
    spin_until(b.base, [&] { return h.held.size() == ControlServer::kMaxConnections; });
    auto refused = drive<StrResult>(b.base, [&] { return control_call(path, "status", 5s); });
    REQUIRE_MESSAGE(refused, refused.error().message);
    CHECK(refused->rfind(R"({"ok":false,"error":"busy",)", 0) == 0);
    CHECK((*server)->evicted_count() == 0);
    for (auto& reply : h.held) reply(R"({"ok":true})");
    for (int fd : busy) {
        CHECK(read_to_eof(fd) == "{\"ok\":true}\n");
        ::close(fd);
    }
    spin_until(b.base, [&] { return (*server)->connection_count() == 0; });
}

TEST_CASE("control: a client that sends no command is closed after the command timeout") {
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);
    int fd = raw_connect(path);
    spin_until(b.base, [&] { return (*server)->connection_count() == 1; });
    // spin_until's own deadline (10 s) is far above the 2 s timeout.
    spin_until(b.base, [&] { return (*server)->connection_count() == 0; });
    CHECK(read_to_eof(fd).empty());
    ::close(fd);
}

TEST_CASE("control: only root and the daemon's user may use the socket") {
    CHECK(ControlServer::peer_may_control(0, 1000));
    CHECK(ControlServer::peer_may_control(1000, 1000));
    CHECK_FALSE(ControlServer::peer_may_control(1001, 1000));
    if (::geteuid() != 0) return;  // only root can be someone else below
    TempDir dir;
    Base b;
    FakeHandler h;
    std::string path = dir.path + "/control.sock";
    auto server = ControlServer::listen(b.base, path, h);
    REQUIRE(server);
    // Loosen the file modes, as an administrator might: the kernel's word on
    // the peer still decides.
    REQUIRE(::chmod(dir.path.c_str(), 0755) == 0);
    REQUIRE(::chmod(path.c_str(), 0666) == 0);
    auto out = drive<std::string>(b.base, [&] {
        int fds[2];
        if (::pipe(fds) != 0) return std::string("pipe failed");
        std::fflush(nullptr);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(fds[0]);
            if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
            auto r = control_call(path, "status", 5s);
            std::string text = r ? *r : "error " + r.error().message;
            (void)!::write(fds[1], text.data(), text.size());
            ::_exit(0);
        }
        ::close(fds[1]);
        std::string text = read_to_eof(fds[0]);
        ::close(fds[0]);
        ::waitpid(pid, nullptr, 0);
        return text;
    });
    CHECK(out == R"({"ok":false,"error":"permission","message":"only root and the daemon's user may use the control socket"})");
}
