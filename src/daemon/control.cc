// ControlServer: the control socket's server side, on the main event_base.
#include "daemon/control.h"

#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include <fmt/core.h>

#include "common/log.h"
#include "daemon/parent_dir.h"

namespace agd::daemon {

namespace {

constexpr std::size_t kReadChunk = 1024;
constexpr auto kRefusalLogInterval = std::chrono::seconds(60);

constexpr std::string_view kBusy =
    "{\"ok\":false,\"error\":\"busy\",\"message\":\"too many control connections busy with a command; try again\"}\n";
constexpr std::string_view kNotAllowed =
    "{\"ok\":false,\"error\":\"permission\",\"message\":\"only root and the daemon's user may use the control socket\"}\n";
constexpr const char* kTooLong = R"({"ok":false,"error":"too_long","message":"command line too long"})";
constexpr const char* kUnknown = R"({"ok":false,"error":"unknown_command","message":"unknown command"})";

// The peer's user, from the kernel (SO_PEERCRED); nullopt if it cannot tell.
std::optional<uid_t> peer_uid(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) return std::nullopt;
    return cred.uid;
}

bool fill_sockaddr(const std::string& path, sockaddr_un& addr) {
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return true;
}

// Is something accepting connections at `path`? errno-style result: 0 means
// yes, ECONNREFUSED means a stale socket, anything else is an error.
int probe(const sockaddr_un& addr) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    int err = rc == 0 ? 0 : errno;
    ::close(fd);
    if (err == EAGAIN || err == EINPROGRESS) err = 0;  // backlog full: someone is listening
    return err;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

}  // namespace

// One client. Owned by the server's map; Reply closures hold a weak_ptr.
struct ControlServer::Connection : std::enable_shared_from_this<Connection> {
    ControlServer* server = nullptr;
    int fd = -1;
    std::uint64_t seq = 0;     // accept order
    struct event* read_ev = nullptr;
    struct event* write_ev = nullptr;
    std::string in;
    std::string out;
    bool got_command = false;
    bool replied = false;
    bool stop_waiter = false;  // sent "stop": stays open until the process exits
    bool leave_open = false;   // set by ~ControlServer for stop waiters

    ~Connection() {
        if (read_ev) event_free(read_ev);
        if (write_ev) event_free(write_ev);
        if (fd >= 0 && !leave_open) ::close(fd);
    }

    void close() { server->remove(this); }

    static void on_read(int, short what, void* arg);
    static void on_write(int, short what, void* arg);
    void handle_input();
    void send_reply(std::string json);
    void flush();
    void flush_blocking(std::chrono::milliseconds limit);
};

void ControlServer::Connection::on_read(int, short what, void* arg) {
    auto self = static_cast<Connection*>(arg)->shared_from_this();  // may be removed below
    if (what & EV_TIMEOUT) {
        if (!self->got_command) self->close();
        return;
    }
    char buf[kReadChunk];
    // Bounded per wake-up so a client that keeps writing cannot hog the loop
    // (the event is level-triggered: the rest is read on the next turn).
    for (int round = 0; round < 16; ++round) {
        ssize_t n = ::recv(self->fd, buf, sizeof buf, 0);
        if (n > 0) {
            if (!self->got_command) {
                self->in.append(buf, static_cast<std::size_t>(n));
                self->handle_input();
                if (self->server == nullptr) return;  // closed meanwhile
            }
            // Anything after the command line is ignored.
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        // EOF or error.
        if (n == 0 && self->got_command && !self->replied) {
            // A client that half-closes after its command still gets the
            // answer; stop watching for input until then.
            event_del(self->read_ev);
            return;
        }
        self->close();
        return;
    }
}

void ControlServer::Connection::handle_input() {
    auto nl = in.find('\n');
    if (nl == std::string::npos) {
        if (in.size() > kMaxCommandLine) {
            got_command = true;
            send_reply(kTooLong);
        }
        return;
    }
    if (nl > kMaxCommandLine) {
        got_command = true;
        send_reply(kTooLong);
        return;
    }
    std::string command = trim(std::string_view(in).substr(0, nl));
    in.clear();
    got_command = true;
    // No more timeout: a reload may take its time, a stop waits for exit.
    event_del(read_ev);
    event_add(read_ev, nullptr);
    server->dispatch(shared_from_this(), command);
}

void ControlServer::Connection::send_reply(std::string json) {
    if (replied || server == nullptr) return;
    replied = true;
    for (char& c : json)
        if (c == '\n' || c == '\r') c = ' ';  // one line; JSON strings never hold raw newlines
    out += json;
    out += '\n';
    flush();
}

void ControlServer::Connection::flush() {
    while (!out.empty()) {
        ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // A client that does not read its answer is dropped after a while.
            if (!event_pending(write_ev, EV_WRITE, nullptr)) {
                timeval reply_timeout{kReplyTimeoutSeconds, 0};
                event_add(write_ev, &reply_timeout);
            }
            return;
        }
        close();  // the client went away
        return;
    }
    if (!stop_waiter) close();
}

void ControlServer::Connection::on_write(int, short what, void* arg) {
    auto self = static_cast<Connection*>(arg)->shared_from_this();
    if (what & EV_TIMEOUT) {
        self->close();
        return;
    }
    self->flush();
}

void ControlServer::Connection::flush_blocking(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!out.empty()) {
        ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return;
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, static_cast<int>(left.count()));
            continue;
        }
        return;
    }
}

ControlServer::ControlServer(struct event_base* base, std::string path, Handler& handler, int fd, dev_t dev, ino_t ino)
    : base_(base), path_(std::move(path)), handler_(handler), listen_fd_(fd), dev_(dev), ino_(ino) {}

Result<std::unique_ptr<ControlServer>> ControlServer::listen(struct event_base* base, const std::string& path,
                                                             Handler& handler, int inherited) {
    using R = Result<std::unique_ptr<ControlServer>>;
    sockaddr_un addr{};
    if (path.empty()) return R::fail(EX_USAGE, "control socket path is empty");
    if (!fill_sockaddr(path, addr))
        return R::fail(EX_USAGE, fmt::format("control socket path {} is too long (at most {} bytes)", path,
                                             sizeof addr.sun_path - 1));
    if (auto st = make_parent_dir(path, 0755); !st)
        return R::fail(EX_CANTCREAT, fmt::format("cannot create control socket {}: {}", path, st.error().message));

    struct stat st {};
    int fd = inherited;
    if (fd >= 0) {
        // Handed over: already bound there and listening.
        if (::stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
            return R::fail(EX_CANTCREAT, fmt::format("control socket {} handed over is gone", path));
        return watch(base, path, handler, fd, st);
    }
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return R::fail(EX_CANTCREAT, fmt::format("cannot create control socket {}: the path exists and is not a socket", path));
        int err = probe(addr);
        if (err == 0)
            return R::fail(EX_UNAVAILABLE, fmt::format("control socket {} is in use by a running antigravityd", path));
        if (err != ECONNREFUSED && err != ENOENT)
            return R::fail(EX_CANTCREAT, fmt::format("cannot check control socket {}: {}", path, std::strerror(err)));
        // Stale: left behind by a daemon that did not exit cleanly.
        if (::unlink(path.c_str()) != 0 && errno != ENOENT)
            return R::fail(EX_CANTCREAT, fmt::format("cannot remove stale control socket {}: {}", path, std::strerror(errno)));
    }

    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return R::fail(EX_OSERR, fmt::format("cannot create control socket: {}", std::strerror(errno)));
    mode_t old_mask = ::umask(0177);  // born 0600: no window where others may connect
    int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    int bind_err = errno;
    ::umask(old_mask);
    if (rc != 0) {
        ::close(fd);
        return R::fail(EX_CANTCREAT, fmt::format("cannot bind control socket {}: {}", path, std::strerror(bind_err)));
    }
    auto fail_after_bind = [&](std::string what) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return R::fail(EX_CANTCREAT, fmt::format("cannot {} control socket {}: {}", what, path, std::strerror(err)));
    };
    if (::chmod(path.c_str(), 0600) != 0) return fail_after_bind("chmod");
    if (::listen(fd, 64) != 0) return fail_after_bind("listen on");
    if (::stat(path.c_str(), &st) != 0) return fail_after_bind("stat");
    return watch(base, path, handler, fd, st);
}

Result<std::unique_ptr<ControlServer>> ControlServer::watch(struct event_base* base, const std::string& path,
                                                            Handler& handler, int fd, const struct stat& st) {
    using R = Result<std::unique_ptr<ControlServer>>;
    std::unique_ptr<ControlServer> server(new ControlServer(base, path, handler, fd, st.st_dev, st.st_ino));
    server->listen_ev_ = event_new(base, fd, EV_READ | EV_PERSIST, &ControlServer::on_accept, server.get());
    server->retry_ev_ = evtimer_new(base, &ControlServer::on_accept_retry, server.get());
    if (server->listen_ev_ == nullptr || server->retry_ev_ == nullptr || event_add(server->listen_ev_, nullptr) != 0)
        return R::fail(EX_SOFTWARE, fmt::format("cannot watch control socket {}: event_add failed", path));
    return server;
}

void ControlServer::hand_over() {
    if (listen_ev_) event_del(listen_ev_);
    if (retry_ev_) event_del(retry_ev_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    path_.clear();
}

ControlServer::~ControlServer() {
    if (listen_ev_) event_free(listen_ev_);
    if (retry_ev_) event_free(retry_ev_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    struct stat st {};
    if (!path_.empty() && ::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(path_.c_str());
    for (auto& [raw, conn] : conns_) {
        if (conn->stop_waiter) {
            conn->flush_blocking(std::chrono::milliseconds(1000));
            conn->leave_open = true;  // the kernel closes it at exit: that EOF means "stopped"
        }
        conn->server = nullptr;
    }
    conns_.clear();
}

void ControlServer::on_accept(int, short, void* arg) { static_cast<ControlServer*>(arg)->accept_all(); }

void ControlServer::on_accept_retry(int, short, void* arg) {
    auto* self = static_cast<ControlServer*>(arg);
    event_add(self->listen_ev_, nullptr);
    self->accept_all();
}

void ControlServer::accept_all() {
    for (;;) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                // Level-triggered: without a pause this would spin.
                log::warning("control socket {}: cannot accept: {}; pausing for a second", path_, std::strerror(errno));
                event_del(listen_ev_);
                timeval one_second{1, 0};
                evtimer_add(retry_ev_, &one_second);
                return;
            }
            log::warning("control socket {}: cannot accept: {}", path_, std::strerror(errno));
            return;
        }
        auto uid = peer_uid(fd);
        if (!uid || !peer_may_control(*uid, ::geteuid())) {
            ++refused_unlogged_;
            auto now = std::chrono::steady_clock::now();
            if (now - last_refuse_log_ >= kRefusalLogInterval) {
                log::warning("control socket {}: refused {} connection(s) from another user (uid {})", path_,
                             refused_unlogged_, uid ? std::to_string(*uid) : std::string("unknown"));
                refused_unlogged_ = 0;
                last_refuse_log_ = now;
            }
            refuse(fd, kNotAllowed);
            continue;
        }
        if (conns_.size() >= kMaxConnections && !evict_oldest_idle()) {
            refuse(fd, kBusy);
            continue;
        }
        auto conn = std::make_shared<Connection>();
        conn->server = this;
        conn->fd = fd;
        conn->seq = ++accepted_;
        conn->read_ev = event_new(base_, fd, EV_READ | EV_PERSIST, &Connection::on_read, conn.get());
        conn->write_ev = event_new(base_, fd, EV_WRITE, &Connection::on_write, conn.get());
        timeval command_timeout{kCommandTimeoutSeconds, 0};
        if (conn->read_ev == nullptr || conn->write_ev == nullptr || event_add(conn->read_ev, &command_timeout) != 0) {
            log::warning("control socket {}: cannot watch a connection", path_);
            continue;  // conn's destructor closes fd
        }
        Connection* raw = conn.get();
        conns_.emplace(raw, conn);
        // The CLI sends its command with the connect: it is usually waiting
        // already, so read it now rather than leave the slot idle for a turn.
        Connection::on_read(fd, EV_READ, raw);
    }
}

bool ControlServer::evict_oldest_idle() {
    Connection* oldest = nullptr;
    for (const auto& [raw, conn] : conns_)
        if (!conn->got_command && (oldest == nullptr || conn->seq < oldest->seq)) oldest = raw;
    if (oldest == nullptr) return false;
    auto keep = conns_[oldest];  // alive until the end of this function
    remove(oldest);
    ++evicted_;
    ++evicted_unlogged_;
    auto now = std::chrono::steady_clock::now();
    if (now - last_evict_log_ >= kRefusalLogInterval) {
        log::warning("control socket {}: {} connection(s) closed before sending a command, to make room "
                     "(at most {} at once)", path_, evicted_unlogged_, kMaxConnections);
        evicted_unlogged_ = 0;
        last_evict_log_ = now;
    }
    return true;
}

void ControlServer::refuse(int fd, std::string_view json_line) {
    (void)!::send(fd, json_line.data(), json_line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
}

void ControlServer::dispatch(const std::shared_ptr<Connection>& conn, std::string_view command) {
    std::weak_ptr<Connection> weak = conn;
    auto reply = [weak](std::string json) {
        if (auto c = weak.lock()) c->send_reply(std::move(json));
    };
    if (command == "status") {
        conn->send_reply(handler_.status());
    } else if (command == "reload") {
        log::debug("control socket: reload requested");
        handler_.reload(reply);
    } else if (command == "upgrade") {
        log::debug("control socket: upgrade requested");
        handler_.upgrade(reply);
    } else if (command == "stop") {
        log::debug("control socket: stop requested");
        conn->stop_waiter = true;
        handler_.stop(reply);
    } else {
        auto sp = command.find(' ');
        std::string answer = handler_.command(command.substr(0, sp),
                                              sp == std::string_view::npos ? std::string_view() : command.substr(sp + 1));
        conn->send_reply(answer.empty() ? std::string(kUnknown) : std::move(answer));
    }
}

void ControlServer::remove(Connection* conn) {
    conn->server = nullptr;
    conns_.erase(conn);  // may destroy it: callers hold a shared_ptr while they still use it
}

}  // namespace agd::daemon
