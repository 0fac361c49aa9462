#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/core.h>

#include "daemon/pidfile.h"

using agd::daemon::PidFile;
using agd::daemon::pidfile_holder;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/agd-pidfile-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// Reads a file from a forked child: if this process opened and closed the
// PID file itself, POSIX would release its lock (locks belong to the process
// and go with the first close of any descriptor for the file).
std::string slurp(const std::string& path);

// Runs `fn` in a forked child (fcntl locks are per process) and returns what
// it wrote to the pipe it is given.
template <class F>
std::string in_child(F fn) {
    std::fflush(nullptr);  // or the child would flush our buffered output again
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string out = fn();
        (void)!::write(fds[1], out.data(), out.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    return out;
}

std::string slurp(const std::string& path) {
    return in_child([&] {
        std::ifstream f(path);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
    });
}

}  // namespace

TEST_CASE("pidfile: acquire writes our PID and a second process is refused with the holder's PID") {
    TempDir dir;
    std::string path = dir.path + "/antigravityd.pid";
    auto pf = PidFile::acquire(path);
    REQUIRE_MESSAGE(pf, pf.error().message);
    CHECK(pf->path() == path);
    CHECK(slurp(path) == fmt::format("{}\n", ::getpid()));

    std::string child_saw = in_child([&] {
        auto other = PidFile::acquire(path);
        if (other) return std::string("acquired");
        return other.error().message;
    });
    CHECK(child_saw == fmt::format("antigravityd is already running (PID {} holds {})", ::getpid(), path));

    std::string holder = in_child([&] {
        auto h = pidfile_holder(path);
        return h ? std::to_string(*h) : std::string("none");
    });
    CHECK(holder == std::to_string(::getpid()));
    // The file is still ours, unchanged and locked after all that.
    CHECK(slurp(path) == fmt::format("{}\n", ::getpid()));
    CHECK(in_child([&] {
              auto h = pidfile_holder(path);
              return h ? std::to_string(*h) : std::string("none");
          }) == std::to_string(::getpid()));
}

TEST_CASE("pidfile: destruction unlinks the file and releases the lock") {
    TempDir dir;
    std::string path = dir.path + "/a.pid";
    {
        auto pf = PidFile::acquire(path);
        REQUIRE(pf);
        PidFile moved = std::move(*pf);  // the moved-from object must not unlink
    }
    CHECK_FALSE(std::filesystem::exists(path));
    CHECK_FALSE(pidfile_holder(path).has_value());
    std::string child_saw = in_child([&] {
        auto pf = PidFile::acquire(path);
        return pf ? std::string("acquired") : pf.error().message;
    });
    CHECK(child_saw == "acquired");
}

TEST_CASE("pidfile: a stale file without a lock is taken over") {
    TempDir dir;
    std::string path = dir.path + "/stale.pid";
    { std::ofstream(path) << "999999999 and some leftover text\n"; }
    CHECK_FALSE(pidfile_holder(path).has_value());
    auto pf = PidFile::acquire(path);
    REQUIRE(pf);
    CHECK(slurp(path) == fmt::format("{}\n", ::getpid()));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);
}

TEST_CASE("pidfile: a missing parent directory is created") {
    TempDir dir;
    std::string path = dir.path + "/run/antigravityd/x.pid";
    auto pf = PidFile::acquire(path);
    REQUIRE_MESSAGE(pf, pf.error().message);
    CHECK(slurp(path) == fmt::format("{}\n", ::getpid()));
}

TEST_CASE("pidfile: rewrite replaces the whole content") {
    TempDir dir;
    std::string path = dir.path + "/r.pid";
    auto pf = PidFile::acquire(path);
    REQUIRE(pf);
    in_child([&] {
        std::ofstream(path) << "garbage garbage garbage garbage\n";
        return std::string();
    });
    REQUIRE(pf->rewrite());
    CHECK(slurp(path) == fmt::format("{}\n", ::getpid()));
}

TEST_CASE("pidfile: errors name the path") {
    TempDir dir;
    std::string blocker = dir.path + "/file";
    { std::ofstream(blocker) << "x"; }
    auto pf = PidFile::acquire(blocker + "/under-a-file.pid");
    REQUIRE_FALSE(pf);
    CHECK(pf.error().message.find(blocker) != std::string::npos);
    CHECK(pidfile_holder(dir.path + "/missing.pid") == std::nullopt);
}
