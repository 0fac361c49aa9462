#include "daemon/upgrade.h"

#include <errno.h>
#include <event2/event.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern char** environ;

namespace agd::daemon {

namespace {

constexpr const char* kReadyEnv = "AGD_UPGRADE_READY_FD";

// Decimal digits of v into buf (at least 21 bytes), NUL-terminated; no
// allocation (used between fork and exec).
void format_uint(unsigned long v, char* buf) {
    char tmp[21];
    int n = 0;
    do {
        tmp[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
}

}  // namespace

std::string own_executable() {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    std::string path(buf, static_cast<size_t>(n));
    constexpr std::string_view deleted = " (deleted)";
    if (path.size() > deleted.size() && path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0)
        path.resize(path.size() - deleted.size());
    return path;
}

Result<pid_t> spawn_successor(const std::string& exe, const std::vector<std::string>& args,
                              const std::vector<PassedSocket>& sockets, int ready_fd) {
    using R = Result<pid_t>;
    const int n = static_cast<int>(sockets.size());
    // Everything the child needs is made here, before the fork.
    std::vector<std::string> env_text;
    for (char** e = environ; e && *e; ++e) {
        std::string_view v(*e);
        if (v.starts_with("LISTEN_") || v.starts_with(kReadyEnv)) continue;
        env_text.emplace_back(v);
    }
    std::string names = "LISTEN_FDNAMES=";
    for (int i = 0; i < n; ++i) names += (i ? ":" : "") + sockets[i].name;
    env_text.push_back(names);
    env_text.push_back("LISTEN_FDS=" + std::to_string(n));
    env_text.push_back(std::string(kReadyEnv) + "=" + std::to_string(3 + n));
    std::string pid_var = "LISTEN_PID=" + std::string(21, '\0');  // filled in by the child
    env_text.push_back(pid_var);
    std::vector<char*> envp;
    for (auto& s : env_text) envp.push_back(s.data());
    envp.push_back(nullptr);
    char* pid_digits = env_text.back().data() + std::strlen("LISTEN_PID=");

    std::vector<std::string> argv_text;
    argv_text.push_back(exe);
    for (const auto& a : args) argv_text.push_back(a);
    std::vector<char*> argv;
    for (auto& s : argv_text) argv.push_back(s.data());
    argv.push_back(nullptr);

    std::vector<int> from;
    for (const auto& s : sockets) from.push_back(s.fd);
    from.push_back(ready_fd);
    // Out of the way of 3..3+n first, then into place (dup2 clears
    // FD_CLOEXEC on the copy: those and only those survive the exec).
    const int high = 3 + n + 1 + 64;

    pid_t pid = fork();
    if (pid < 0) return R::fail(71, std::string("cannot fork: ") + std::strerror(errno));
    if (pid == 0) {
        format_uint(static_cast<unsigned long>(getpid()), pid_digits);
        std::vector<int>::size_type count = from.size();
        int moved[1024];
        if (count > 1024) _exit(71);
        for (std::vector<int>::size_type i = 0; i < count; ++i) {
            moved[i] = fcntl(from[i], F_DUPFD_CLOEXEC, high);
            if (moved[i] < 0) _exit(71);
        }
        for (std::vector<int>::size_type i = 0; i < count; ++i)
            if (dup2(moved[i], 3 + static_cast<int>(i)) < 0) _exit(71);
        // Nothing else goes with it: client connections (libevent accepts
        // them without close-on-exec) left open in the new process would
        // outlive this one unserved.
        unsigned first_other = 3 + static_cast<unsigned>(count);
        if (close_range(first_other, ~0U, 0) != 0)
            for (int fd = static_cast<int>(first_other); fd < 65536; ++fd) close(fd);
        // Default dispositions and an empty mask for the new program.
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execve(argv[0], argv.data(), envp.data());
        _exit(127);
    }
    return pid;
}

Successor::~Successor() {
    if (ev_) event_free(ev_);
    if (pipe_ >= 0) close(pipe_);
}

Status Successor::start(const std::string& exe, const std::vector<std::string>& args,
                        const std::vector<PassedSocket>& sockets, std::chrono::milliseconds deadline, Done done) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Status::fail(71, std::string("cannot make a pipe: ") + std::strerror(errno));
    auto pid = spawn_successor(exe, args, sockets, fds[1]);
    close(fds[1]);
    if (!pid) {
        close(fds[0]);
        return Status(pid.error());
    }
    pid_ = *pid;
    pipe_ = fds[0];
    fcntl(pipe_, F_SETFL, fcntl(pipe_, F_GETFL) | O_NONBLOCK);
    done_ = std::move(done);
    ev_ = event_new(base_, pipe_, EV_READ | EV_PERSIST, &Successor::on_pipe, this);
    timeval tv{static_cast<time_t>(deadline.count() / 1000), static_cast<suseconds_t>(deadline.count() % 1000 * 1000)};
    if (!ev_ || event_add(ev_, &tv) != 0) {
        finish(Result<pid_t>::fail(71, reap(true)));
        return Status::fail(71, "cannot watch the new process");
    }
    return {};
}

void Successor::on_pipe(int fd, short what, void* arg) {
    auto* self = static_cast<Successor*>(arg);
    if (what & EV_TIMEOUT)
        return self->finish(Result<pid_t>::fail(75, "it did not report ready in time (" + self->reap(true) + ")"));
    char buf[64];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            if (self->line_.size() < 64) self->line_.append(buf, static_cast<size_t>(n));
            if (self->line_.starts_with("ready\n")) return self->finish(self->pid_);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        // End of the pipe without "ready": it exited (or closed it).
        return self->finish(Result<pid_t>::fail(75, self->reap(false)));
    }
}

void Successor::finish(Result<pid_t> result) {
    if (ev_) event_del(ev_);
    if (pipe_ >= 0) close(pipe_);
    pipe_ = -1;
    Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(result));
}

std::string Successor::reap(bool kill_first) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) {
        // Still running but not serving (a closed pipe, or too slow): it
        // must not go on beside this daemon.
        kill(pid_, kill_first ? SIGKILL : SIGTERM);
        r = waitpid(pid_, &status, 0);
        if (!kill_first && r == pid_ && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
            return "it closed its pipe without reporting ready, and was stopped";
    }
    pid_t pid = pid_;
    pid_ = 0;
    if (r != pid) return "it is gone";
    if (WIFEXITED(status)) return "it exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("it was killed by signal ") + strsignal(WTERMSIG(status));
    return "it is gone";
}

int take_ready_fd() {
    const char* v = std::getenv(kReadyEnv);
    if (!v || !*v) return -1;
    char* end = nullptr;
    long fd = std::strtol(v, &end, 10);
    unsetenv(kReadyEnv);
    if (*end != '\0' || fd < 3 || fd > 65535 || fcntl(static_cast<int>(fd), F_GETFD) < 0) return -1;
    fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
}

void report_ready(int fd) {
    if (fd < 0) return;
    static const char line[] = "ready\n";
    ssize_t n = write(fd, line, sizeof line - 1);
    (void)n;  // the old daemon gone: nothing to tell
    close(fd);
}

}  // namespace agd::daemon
