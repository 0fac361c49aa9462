// The PID file: a file holding the daemon's PID, locked with a POSIX record
// lock (fcntl F_SETLK) for as long as the daemon runs. The lock, not the
// file's existence, says "running": a stale file left by a crash is simply
// taken over. Locks belong to the process, so take the lock after the last
// fork (after Detach::start()).
//
// POSIX trap: a process loses its lock as soon as it closes ANY descriptor
// of the file. The daemon must therefore never open the PID file itself
// (no reading it back, no pidfile_holder() on its own path).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "common/result.h"

namespace agd::daemon {

class PidFile {
public:
    // Opens (creating it 0644, and its parent directory 0755 if missing) and
    // locks `path`, then writes "<pid>\n". Errors carry a sysexits code:
    // EX_UNAVAILABLE with "antigravityd is already running (PID <n> holds
    // <path>)" when another process holds the lock, EX_CANTCREAT otherwise.
    static Result<PidFile> acquire(const std::string& path);

    PidFile(PidFile&& other) noexcept;
    PidFile& operator=(PidFile&& other) noexcept;
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;
    // Unlinks the file, then closes it (which releases the lock). Only the
    // process that wrote the file unlinks it; a forked child just closes.
    ~PidFile();

    // Writes the current getpid() again (e.g. in a child after a fork that
    // re-took the lock). EX_IOERR on failure.
    Status rewrite();
    // Lets go of the lock without unlinking: a successor (binary upgrade)
    // takes the same file over. The object then holds nothing.
    void hand_over();
    const std::string& path() const { return path_; }

private:
    PidFile(std::string path, int fd);
    void release();

    std::string path_;
    int fd_ = -1;
    pid_t owner_ = 0;  // the PID written to the file
};

// The PID of the process holding the lock on `path`, or nullopt when the file
// does not exist or nobody holds it. The calling process's own lock is not
// reported (that is how fcntl's F_GETLK works).
std::optional<pid_t> pidfile_holder(const std::string& path);

}  // namespace agd::daemon
