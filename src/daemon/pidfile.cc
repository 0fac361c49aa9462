#include "daemon/pidfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/core.h>

#include "daemon/parent_dir.h"

namespace agd::daemon {

namespace {

struct flock whole_file_lock(short type) {
    struct flock fl {};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = 0;
    fl.l_len = 0;  // to the end, however long the file grows
    return fl;
}

// PID of the process holding a lock that conflicts with a write lock on fd,
// or 0 if none does (any more).
pid_t lock_holder(int fd) {
    struct flock fl = whole_file_lock(F_WRLCK);
    if (::fcntl(fd, F_GETLK, &fl) != 0) return 0;
    return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

Status write_pid(int fd, const std::string& path, pid_t pid) {
    std::string text = fmt::format("{}\n", pid);
    if (::ftruncate(fd, 0) != 0) {
        int err = errno;
        return Status::fail(EX_IOERR, fmt::format("cannot write PID file {}: {}", path, std::strerror(err)));
    }
    std::size_t off = 0;
    while (off < text.size()) {
        ssize_t n = ::pwrite(fd, text.data() + off, text.size() - off, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            return Status::fail(EX_IOERR, fmt::format("cannot write PID file {}: {}", path, std::strerror(err)));
        }
        off += static_cast<std::size_t>(n);
    }
    return {};
}

}  // namespace

PidFile::PidFile(std::string path, int fd) : path_(std::move(path)), fd_(fd), owner_(::getpid()) {}

PidFile::PidFile(PidFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)), owner_(std::exchange(other.owner_, 0)) {}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        fd_ = std::exchange(other.fd_, -1);
        owner_ = std::exchange(other.owner_, 0);
    }
    return *this;
}

PidFile::~PidFile() { release(); }

void PidFile::hand_over() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

void PidFile::release() {
    if (fd_ < 0) return;
    // Unlink while still holding the lock, so that nobody can lock the old
    // inode and believe it is the live PID file. A forked child that merely
    // inherited this object (locks are not inherited) leaves the file alone.
    if (owner_ == ::getpid()) ::unlink(path_.c_str());
    ::close(fd_);
    fd_ = -1;
}

Result<PidFile> PidFile::acquire(const std::string& path) {
    if (path.empty()) return Result<PidFile>::fail(EX_USAGE, "PID file path is empty");
    if (auto st = make_parent_dir(path); !st)
        return Result<PidFile>::fail(EX_CANTCREAT, fmt::format("cannot create PID file {}: {}", path, st.error().message));

    // A previous holder unlinks the file just before it lets go of the lock;
    // if we locked such an orphaned inode, start over with the new file.
    for (int attempt = 0; attempt < 10; ++attempt) {
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            int err = errno;
            return Result<PidFile>::fail(EX_CANTCREAT, fmt::format("cannot open PID file {}: {}", path, std::strerror(err)));
        }
        struct flock fl = whole_file_lock(F_WRLCK);
        if (::fcntl(fd, F_SETLK, &fl) != 0) {
            int err = errno;
            if (err != EAGAIN && err != EACCES) {
                ::close(fd);
                return Result<PidFile>::fail(EX_CANTCREAT, fmt::format("cannot lock PID file {}: {}", path, std::strerror(err)));
            }
            pid_t holder = lock_holder(fd);
            ::close(fd);
            if (holder == 0) continue;  // released between our two calls: try again
            return Result<PidFile>::fail(
                EX_UNAVAILABLE, fmt::format("antigravityd is already running (PID {} holds {})", holder, path));
        }
        struct stat by_fd {}, by_path {};
        if (::fstat(fd, &by_fd) != 0 || ::stat(path.c_str(), &by_path) != 0 ||
            by_fd.st_dev != by_path.st_dev || by_fd.st_ino != by_path.st_ino) {
            ::close(fd);  // we locked a file that was unlinked meanwhile
            continue;
        }
        PidFile pf(path, fd);
        if (auto st = write_pid(fd, path, pf.owner_); !st)
            return Result<PidFile>::fail(EX_CANTCREAT, st.error().message);  // ~PidFile unlinks it
        return pf;
    }
    return Result<PidFile>::fail(EX_TEMPFAIL, fmt::format("cannot lock PID file {}: it keeps changing", path));
}

Status PidFile::rewrite() {
    if (fd_ < 0) return Status::fail(EX_SOFTWARE, "PID file is not open");
    owner_ = ::getpid();
    return write_pid(fd_, path_, owner_);
}

std::optional<pid_t> pidfile_holder(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return std::nullopt;
    pid_t holder = lock_holder(fd);
    ::close(fd);
    if (holder == 0) return std::nullopt;
    return holder;
}

}  // namespace agd::daemon
