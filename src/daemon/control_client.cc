// ControlClient: the CLI's side of the control socket (blocking, with deadlines).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/core.h>

#include "daemon/control.h"

namespace agd::daemon {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxAnswer = 16u << 20;

// Milliseconds left until `deadline`, for poll(2); 0 when it has passed.
int ms_left(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    return left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left);
}

std::string connect_hint(int err, std::string_view config_path) {
    if (err == EACCES || err == EPERM) return "run as root or as the antigravityd user";
    std::string where = config_path.empty() ? std::string("the configuration file") : std::string(config_path);
    return fmt::format("is antigravityd running? check server.control_socket in {}", where);
}

// Waits until fd is readable. 0 on success, ETIMEDOUT or an errno.
int wait_readable(int fd, Clock::time_point deadline) {
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        int rc = ::poll(&p, 1, ms_left(deadline));
        if (rc > 0) return 0;  // readable, or HUP/ERR: the read reports which
        if (rc == 0) return ETIMEDOUT;
        if (errno != EINTR) return errno;
    }
}

}  // namespace

Result<ControlClient> ControlClient::connect(const std::string& path, std::chrono::milliseconds timeout,
                                             std::string_view config_path) {
    using R = Result<ControlClient>;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return R::fail(EX_USAGE, fmt::format("cannot connect to {}: invalid control socket path", path));
    std::memcpy(addr.sun_path, path.data(), path.size());

    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return R::fail(EX_OSERR, fmt::format("cannot create a socket: {}", std::strerror(errno)));
    // A unix-socket connect(2) blocks only while the listener's backlog is
    // full; SO_SNDTIMEO bounds that wait (and our one small send).
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1000;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

    int rc;
    do rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        int err = errno;
        ::close(fd);
        if (err == EAGAIN || err == EINPROGRESS || err == ETIMEDOUT)
            return R::fail(EX_TEMPFAIL, fmt::format("cannot connect to {}: timed out (antigravityd is busy or hung)", path));
        int code = (err == EACCES || err == EPERM) ? EX_NOPERM : EX_UNAVAILABLE;
        return R::fail(code, fmt::format("cannot connect to {}: {} ({})", path, std::strerror(err),
                                         connect_hint(err, config_path)));
    }
    return ControlClient(fd, path);
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), buffered_(std::move(other.buffered_)) {}

ControlClient& ControlClient::operator=(ControlClient&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        path_ = std::move(other.path_);
        buffered_ = std::move(other.buffered_);
    }
    return *this;
}

ControlClient::~ControlClient() {
    if (fd_ >= 0) ::close(fd_);
}

Result<std::string> ControlClient::request(std::string_view command, std::chrono::milliseconds timeout) {
    using R = Result<std::string>;
    if (fd_ < 0) return R::fail(EX_SOFTWARE, "control connection is closed");
    auto deadline = Clock::now() + timeout;
    std::string line(command);
    line += '\n';
    std::string_view rest = line;
    // A server that refuses the connection (busy, permission) answers and
    // closes at once, maybe before our command is sent: the send then fails
    // (EPIPE, ECONNRESET), but its answer is still there to read.
    int send_err = 0;
    while (!rest.empty()) {
        ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            if (err == EAGAIN || err == EWOULDBLOCK)
                return R::fail(EX_TEMPFAIL, fmt::format("timed out sending to {}", path_));
            if (err != EPIPE && err != ECONNRESET)
                return R::fail(EX_IOERR, fmt::format("cannot send to {}: {}", path_, std::strerror(err)));
            send_err = err;
            break;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    auto send_failed = [&] {
        return R::fail(EX_IOERR, fmt::format("cannot send to {}: {}", path_, std::strerror(send_err)));
    };

    std::string answer = std::move(buffered_);
    buffered_.clear();
    char buf[4096];
    for (;;) {
        if (auto nl = answer.find('\n'); nl != std::string::npos) {
            buffered_ = answer.substr(nl + 1);
            answer.resize(nl);
            return answer;
        }
        if (answer.size() > kMaxAnswer)
            return R::fail(EX_PROTOCOL, fmt::format("answer from {} is too long", path_));
        if (int err = wait_readable(fd_, deadline); err != 0) {
            if (err == ETIMEDOUT)
                return R::fail(EX_TEMPFAIL, fmt::format("timed out after {} ms waiting for an answer on {}",
                                                        timeout.count(), path_));
            return R::fail(EX_IOERR, fmt::format("cannot read from {}: {}", path_, std::strerror(err)));
        }
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 && send_err) return send_failed();
        if (n < 0) return R::fail(EX_IOERR, fmt::format("cannot read from {}: {}", path_, std::strerror(errno)));
        if (n == 0)
            return R::fail(EX_PROTOCOL, fmt::format("antigravityd closed {} without answering", path_));
        answer.append(buf, static_cast<std::size_t>(n));
    }
}

Status ControlClient::wait_closed(std::chrono::milliseconds timeout) {
    if (fd_ < 0) return {};
    auto deadline = Clock::now() + timeout;
    char buf[4096];
    for (;;) {
        if (int err = wait_readable(fd_, deadline); err != 0) {
            if (err == ETIMEDOUT)
                return Status::fail(EX_TEMPFAIL, fmt::format("antigravityd has not exited after {} s",
                                                             (timeout.count() + 999) / 1000));
            return Status::fail(EX_IOERR, fmt::format("cannot read from {}: {}", path_, std::strerror(err)));
        }
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {  // the daemon's end is gone
            ::close(fd_);
            fd_ = -1;
            return {};
        }
        if (n < 0) return Status::fail(EX_IOERR, fmt::format("cannot read from {}: {}", path_, std::strerror(errno)));
        // Anything more the server sends is ignored.
    }
}

Result<std::string> control_call(const std::string& path, std::string_view command, std::chrono::milliseconds timeout,
                                 std::string_view config_path) {
    auto client = ControlClient::connect(path, timeout, config_path);
    if (!client) return client.error();
    return client->request(command, timeout);
}

}  // namespace agd::daemon
