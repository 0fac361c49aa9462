#include "daemon/detach.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include <fmt/core.h>

#include "common/log.h"

namespace agd::daemon {

namespace detach_protocol {

Verdict decode(std::string_view bytes) {
    if (bytes == "OK") return {0, {}};
    if (bytes.size() >= 2 && bytes[0] == 'E') {
        auto nl = bytes.find('\n');
        int code = 0;
        const char* first = bytes.data() + 1;
        const char* last = bytes.data() + (nl == std::string_view::npos ? bytes.size() : nl);
        auto r = std::from_chars(first, last, code);
        if (r.ec == std::errc() && r.ptr == last && first != last) {
            if (code < 1 || code > 255) code = EX_SOFTWARE;
            std::string msg = nl == std::string_view::npos ? std::string() : std::string(bytes.substr(nl + 1));
            if (msg.empty()) msg = "antigravityd failed to start";
            return {code, std::move(msg)};
        }
    }
    return {EX_SOFTWARE, "antigravityd exited during start-up"};
}

}  // namespace detach_protocol

namespace {

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

std::string encode_failure(int exit_code, std::string_view message) {
    return fmt::format("E{}\n{}", exit_code, message);
}

// The original process: wait for the verdict, then exit with it.
[[noreturn]] void await_verdict(int read_fd, pid_t child) {
    std::string bytes;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(read_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        bytes.append(buf, static_cast<std::size_t>(n));
    }
    ::close(read_fd);
    // Reap the intermediate child (it exits right after its fork).
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
    auto verdict = detach_protocol::decode(bytes);
    if (!verdict.message.empty()) {
        if (verdict.message.back() != '\n') verdict.message += '\n';
        write_all(STDERR_FILENO, verdict.message);
    }
    ::_exit(verdict.exit_code);
}

// Makes sure fds 0, 1 and 2 are open, so that pipe(2) cannot hand out one of
// them and the later redirections cannot clobber the pipe.
void ensure_standard_fds() {
    for (;;) {
        int fd = ::open("/dev/null", O_RDWR);
        if (fd < 0) return;
        if (fd > STDERR_FILENO) {
            ::close(fd);
            return;
        }
    }
}

// In the daemon: "/" as cwd, the terminal let go of. Returns an error text or "".
std::string settle_daemon() {
    if (::chdir("/") != 0) return fmt::format("cannot chdir to /: {}", std::strerror(errno));
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) return fmt::format("cannot open /dev/null: {}", std::strerror(errno));
    bool ok = ::dup2(null_fd, STDIN_FILENO) >= 0 && ::dup2(null_fd, STDOUT_FILENO) >= 0;
    if (ok && ::isatty(STDERR_FILENO)) ok = ::dup2(null_fd, STDERR_FILENO) >= 0;
    int err = errno;
    if (null_fd > STDERR_FILENO) ::close(null_fd);
    if (!ok) return fmt::format("cannot redirect standard streams to /dev/null: {}", std::strerror(err));
    return {};
}

}  // namespace

Result<Detach> Detach::start() {
    ensure_standard_fds();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        return Result<Detach>::fail(EX_OSERR, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    std::fflush(nullptr);  // or buffered output would be written twice

    pid_t child = ::fork();
    if (child < 0) {
        int err = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        return Result<Detach>::fail(EX_OSERR, fmt::format("cannot fork: {}", std::strerror(err)));
    }
    if (child > 0) {
        ::close(fds[1]);
        await_verdict(fds[0], child);
    }

    // The intermediate child: a new session without a terminal, then fork
    // again so the daemon is not a session leader and cannot acquire one.
    ::close(fds[0]);
    log::reset_after_fork();
    if (::setsid() < 0) {
        write_all(fds[1], encode_failure(EX_OSERR, fmt::format("setsid failed: {}", std::strerror(errno))));
        ::_exit(EX_OSERR);
    }
    pid_t daemon = ::fork();
    if (daemon < 0) {
        write_all(fds[1], encode_failure(EX_OSERR, fmt::format("cannot fork: {}", std::strerror(errno))));
        ::_exit(EX_OSERR);
    }
    if (daemon > 0) ::_exit(0);

    // The daemon.
    log::reset_after_fork();
    if (std::string err = settle_daemon(); !err.empty()) {
        write_all(fds[1], encode_failure(EX_OSERR, err));
        ::_exit(EX_OSERR);
    }
    log::reset_after_fork();  // stderr may have changed: re-check the journal
    return Detach(fds[1]);
}

Detach::Detach(Detach&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Detach& Detach::operator=(Detach&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

Detach::~Detach() {
    if (fd_ >= 0) ::close(fd_);
}

void Detach::send_and_close(std::string_view verdict) {
    if (fd_ < 0) return;
    write_all(fd_, verdict);
    ::close(fd_);
    fd_ = -1;
}

void Detach::ready() { send_and_close("OK"); }

void Detach::fail(int exit_code, std::string_view message) {
    if (exit_code < 1 || exit_code > 255) exit_code = EX_SOFTWARE;
    send_and_close(encode_failure(exit_code, message));
}

}  // namespace agd::daemon
