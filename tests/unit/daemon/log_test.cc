#include <doctest/doctest.h>

#include <cstdlib>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "common/log.h"
#include "common/log_detail.h"

namespace lg = agd::log;
namespace detail = agd::log::detail;

namespace {

std::chrono::system_clock::time_point at(int y, int mo, int d, int h, int mi, int s, int ms) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return std::chrono::system_clock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(ms);
}

// Points stderr at a pipe for the lifetime of the object; read() collects
// what was written once the object restores stderr.
struct CapturedStderr {
    int saved = -1;
    int read_fd = -1;
    CapturedStderr() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        saved = ::dup(STDERR_FILENO);
        REQUIRE(saved >= 0);
        REQUIRE(::dup2(fds[1], STDERR_FILENO) == STDERR_FILENO);
        ::close(fds[1]);
        read_fd = fds[0];
    }
    void restore() {
        if (saved >= 0) {
            ::dup2(saved, STDERR_FILENO);
            ::close(saved);
            saved = -1;
        }
    }
    std::string read_all() {
        std::string out;
        char buf[4096];
        ssize_t n;
        while ((n = ::read(read_fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
        return out;
    }
    ~CapturedStderr() {
        restore();
        if (read_fd >= 0) ::close(read_fd);
    }
};

}  // namespace

TEST_CASE("log: plain lines carry an ISO-8601 UTC timestamp with milliseconds and the level") {
    auto t = at(2026, 11, 22, 13, 45, 1, 123);
    CHECK(detail::format_line(lg::Level::Error, "boom", false, t) == "2026-11-22T13:45:01.123Z error boom\n");
    CHECK(detail::format_line(lg::Level::Warning, "w", false, t) == "2026-11-22T13:45:01.123Z warning w\n");
    CHECK(detail::format_line(lg::Level::Notice, "n", false, t) == "2026-11-22T13:45:01.123Z notice n\n");
    CHECK(detail::format_line(lg::Level::Info, "i", false, t) == "2026-11-22T13:45:01.123Z info i\n");
    CHECK(detail::format_line(lg::Level::Debug, "d", false, at(2027, 1, 2, 3, 4, 5, 7)) ==
          "2027-01-02T03:04:05.007Z debug d\n");
}

TEST_CASE("log: journal lines carry the syslog priority and no timestamp") {
    auto t = at(2026, 11, 22, 13, 45, 1, 123);
    CHECK(detail::format_line(lg::Level::Error, "boom", true, t) == "<3>boom\n");
    CHECK(detail::format_line(lg::Level::Warning, "x", true, t) == "<4>x\n");
    CHECK(detail::format_line(lg::Level::Notice, "x", true, t) == "<5>x\n");
    CHECK(detail::format_line(lg::Level::Info, "x", true, t) == "<6>x\n");
    CHECK(detail::format_line(lg::Level::Debug, "x", true, t) == "<7>x\n");
}

TEST_CASE("log: messages are one line") {
    CHECK(detail::sanitize("a\nb\r\nc") == "a b  c");
    CHECK(detail::sanitize("trailing\n") == "trailing");
    CHECK(detail::sanitize("plain") == "plain");
    CHECK(detail::format_line(lg::Level::Info, "x\ny\rz\n", true, {}) == "<6>x y z\n");
}

TEST_CASE("log: JOURNAL_STREAM must name stderr's device and inode") {
    CHECK(detail::journal_stream_matches("8:1234", 8, 1234));
    CHECK_FALSE(detail::journal_stream_matches("8:1235", 8, 1234));
    CHECK_FALSE(detail::journal_stream_matches("9:1234", 8, 1234));
    CHECK_FALSE(detail::journal_stream_matches(nullptr, 8, 1234));
    CHECK_FALSE(detail::journal_stream_matches("", 8, 1234));
    CHECK_FALSE(detail::journal_stream_matches("8:", 8, 1234));
    CHECK_FALSE(detail::journal_stream_matches(":1234", 8, 1234));
    CHECK_FALSE(detail::journal_stream_matches("8:1234x", 8, 1234));
}

TEST_CASE("log: level is settable and filters") {
    auto old = lg::level();
    lg::set_level(lg::Level::Warning);
    CHECK(lg::level() == lg::Level::Warning);
    CHECK(lg::enabled(lg::Level::Error));
    CHECK(lg::enabled(lg::Level::Warning));
    CHECK_FALSE(lg::enabled(lg::Level::Info));
    lg::set_level(old);
}

TEST_CASE("log: without the thread a line is written at once") {
    CapturedStderr cap;
    lg::write(lg::Level::Error, "sync\nline");
    cap.restore();
    std::string out = cap.read_all();
    CHECK(out.ends_with(" error sync line\n"));
    CHECK(out.find('\n') == out.size() - 1);
}

TEST_CASE("log: the thread writes every line in order and stop() flushes") {
    CapturedStderr cap;
    lg::start();
    for (int i = 0; i < 500; ++i) lg::write(lg::Level::Info, fmt::format("line {}", i));
    lg::stop();
    lg::write(lg::Level::Info, "after stop");  // synchronous again
    cap.restore();
    std::string out = cap.read_all();
    std::size_t pos = 0;
    for (int i = 0; i < 500; ++i) {
        auto found = out.find(fmt::format(" info line {}\n", i), pos);
        REQUIRE(found != std::string::npos);
        pos = found;
    }
    CHECK(out.find(" info after stop\n", pos) != std::string::npos);
}

TEST_CASE("log: a full queue drops lines, counts them and reports the count") {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ::fcntl(fds[1], F_SETPIPE_SZ, 4096);
    // Fill the pipe so that the logger thread blocks on its first write.
    ::fcntl(fds[1], F_SETFL, O_NONBLOCK);
    std::string filler(4096, 'f');
    std::size_t prefilled = 0;
    for (;;) {
        ssize_t n = ::write(fds[1], filler.data(), filler.size());
        if (n <= 0) break;
        prefilled += static_cast<std::size_t>(n);
    }
    ::fcntl(fds[1], F_SETFL, 0);
    int saved = ::dup(STDERR_FILENO);
    REQUIRE(::dup2(fds[1], STDERR_FILENO) == STDERR_FILENO);
    ::close(fds[1]);

    detail::set_queue_limit(1000);
    lg::start();
    auto before = detail::dropped_total();
    for (int i = 0; i < 200; ++i) lg::write(lg::Level::Info, fmt::format("queued line number {:04} with padding", i));
    auto dropped = detail::dropped_total() - before;

    std::string out;
    std::thread reader([&] {
        char buf[4096];
        ssize_t n;
        while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    });
    lg::stop();
    ::dup2(saved, STDERR_FILENO);  // closes the last write end: the reader sees EOF
    ::close(saved);
    reader.join();
    ::close(fds[0]);
    detail::set_queue_limit(64u << 20);

    CHECK(dropped > 100);  // at most ~2 KiB of 200 lines got through
    CHECK(dropped < 200);
    REQUIRE(out.size() > prefilled);
    std::string written = out.substr(prefilled);
    // The drops may be reported in more than one line (the logger thread can
    // take a batch before the burst is over): together they count them all.
    std::uint64_t reported = 0;
    const std::string marker = "log queue full: ";
    for (size_t at = written.find(marker); at != std::string::npos; at = written.find(marker, at + 1))
        reported += std::strtoull(written.c_str() + at + marker.size(), nullptr, 10);
    CHECK(reported == dropped);
    CHECK(written.find("queued line number 0000") != std::string::npos);
}

TEST_CASE("log: credentials in a URL never reach a line") {
    auto t = at(2026, 11, 22, 13, 45, 1, 123);
    CHECK(detail::format_line(lg::Level::Warning, "upstream http://alice:SECRET@host/v1 failed", true, t) ==
          "<4>upstream http://***@host/v1 failed\n");
    CHECK(detail::format_line(lg::Level::Info, "access error=\"the image http://u:SECRET@h/a.png failed\"", false, t)
              .find("SECRET") == std::string::npos);
    CHECK(detail::format_line(lg::Level::Info, "mail admin@example.com", true, t) == "<6>mail admin@example.com\n");
}

namespace {

std::string slurp(const std::string& path) {
    std::string out;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
}

struct LogDir {
    std::string path;
    LogDir() {
        char tmpl[] = "/tmp/agd-log-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~LogDir() {
        lg::set_file("");
        for (const char* f : {"/agd.log", "/agd.log.1", "/agd.log.2"}) ::unlink((path + f).c_str());
        ::rmdir(path.c_str());
    }
};

}  // namespace

TEST_CASE("log: without a log file there is nothing to reopen") {
    CHECK(lg::reopen() == "nothing to reopen: the log goes to standard error");
}

TEST_CASE("log: a log file is reopened by its path after a rotation (SIGUSR1)") {
    LogDir dir;
    std::string file = dir.path + "/agd.log";
    REQUIRE(lg::set_file(file) == 0);
    lg::write(lg::Level::Notice, "before rotation");
    REQUIRE(::rename(file.c_str(), (file + ".1").c_str()) == 0);
    lg::write(lg::Level::Notice, "after rename, before reopen");  // still the old file
    CHECK(lg::reopen() == "reopened " + file);
    lg::write(lg::Level::Notice, "after reopen");

    // With the logger thread running too.
    lg::start();
    lg::write(lg::Level::Notice, "threaded one");
    REQUIRE(::rename(file.c_str(), (file + ".2").c_str()) == 0);
    CHECK(lg::reopen() == "reopened " + file);
    lg::write(lg::Level::Notice, "threaded two");
    lg::stop();

    std::string first = slurp(file + ".1"), second = slurp(file + ".2"), live = slurp(file);
    CHECK(first.find(" notice before rotation\n") != std::string::npos);
    CHECK(first.find(" notice after rename, before reopen\n") != std::string::npos);
    CHECK(first.find("after reopen") == std::string::npos);
    CHECK(second.find(" notice after reopen\n") != std::string::npos);  // plain lines: no journal prefix in a file
    CHECK(live.find(" notice threaded two\n") != std::string::npos);
    CHECK(second.find("threaded two") == std::string::npos);
}

TEST_CASE("log: a reopen that fails keeps writing to the old file") {
    LogDir dir;
    std::string file = dir.path + "/agd.log";
    REQUIRE(lg::set_file(file) == 0);
    // Make the path unopenable whoever we are: a directory in its place.
    REQUIRE(::rename(file.c_str(), (file + ".1").c_str()) == 0);
    REQUIRE(::mkdir(file.c_str(), 0700) == 0);
    std::string said = lg::reopen();
    CHECK(said.starts_with("cannot reopen " + file + ": "));
    CHECK(said.ends_with("; still writing to the old file"));
    lg::write(lg::Level::Notice, "still here");
    CHECK(slurp(file + ".1").find(" notice still here\n") != std::string::npos);
    ::rmdir(file.c_str());
    CHECK(lg::set_file("/nonexistent-dir-agd/x.log") != 0);
}

namespace {

// The descriptor numbers open on `path` (from /proc/self/fd).
std::vector<int> fds_on(const std::string& path) {
    std::vector<int> out;
    for (int fd = 0; fd < 1024; ++fd) {
        char link[64], target[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = ::readlink(link, target, sizeof target - 1);
        if (n > 0 && std::string(target, static_cast<size_t>(n)) == path) out.push_back(fd);
    }
    return out;
}

}  // namespace

TEST_CASE("log: turning the access file off never frees a descriptor the logger thread may hold") {
    // The logger thread loads the access descriptor, then writes outside the
    // lock: closing it on reload would let the next open() reuse the number,
    // and access lines would land in that file (or socket).
    LogDir dir;
    std::string file = dir.path + "/agd.log";
    REQUIRE(lg::set_access_file(file) == 0);
    std::vector<int> held = fds_on(file);
    REQUIRE(held.size() == 1);
    REQUIRE(lg::set_access_file("") == 0);
    CHECK(::fcntl(held[0], F_GETFD) >= 0);  // still open (on /dev/null), so never handed out again
    int fresh = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fresh != held[0]);
    ::close(fresh);
    // Back on: a file again, through the same number.
    REQUIRE(lg::set_access_file(file) == 0);
    CHECK(fds_on(file) == held);
    lg::access("access id=1");
    REQUIRE(lg::set_access_file("") == 0);
    CHECK(slurp(file).find("access id=1") != std::string::npos);
    CHECK(fds_on(file).empty());
}
