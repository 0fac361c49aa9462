// Logging implementation. See log.h for the contract.
//
// Lines are formatted on the caller's thread, then either written at once
// (before start() / after stop()) or appended to one pending text buffer
// that the logger thread swaps out and writes with as few write(2) calls as
// the kernel allows. The queue mutex is never held across write(2). When the
// pending buffer would pass its limit, the line is dropped and counted; the
// logger thread reports the count as soon as it can write again.
#include "common/log.h"
#include "common/log_detail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <poll.h>
#include <string>
#include <thread>

#include "common/redact.h"

namespace agd::log {

namespace detail {

const char* level_name(Level level) {
    switch (level) {
        case Level::Error: return "error";
        case Level::Warning: return "warning";
        case Level::Notice: return "notice";
        case Level::Info: return "info";
        case Level::Debug: return "debug";
    }
    return "info";
}

std::string sanitize(std::string_view message) {
    // A trailing newline is a habit, not content: drop it rather than turn it
    // into a trailing space. Embedded ones become spaces (one event, one line).
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
        message.remove_suffix(1);
    std::string out(message);
    for (char& c : out)
        if (c == '\n' || c == '\r') c = ' ';
    return out;
}

bool journal_stream_matches(const char* env, std::uint64_t dev, std::uint64_t ino) {
    if (env == nullptr || *env == '\0') return false;
    std::string_view s(env);
    auto colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    std::uint64_t d = 0, i = 0;
    auto r1 = std::from_chars(s.data(), s.data() + colon, d);
    if (r1.ec != std::errc() || r1.ptr != s.data() + colon || colon == 0) return false;
    auto r2 = std::from_chars(s.data() + colon + 1, s.data() + s.size(), i);
    if (r2.ec != std::errc() || r2.ptr != s.data() + s.size() || colon + 1 == s.size()) return false;
    return d == dev && i == ino;
}

std::string format_line(Level level, std::string_view message, bool journal,
                        std::chrono::system_clock::time_point now) {
    std::string text = sanitize(message);
    if (has_url_credentials(text)) text = redact_urls(text);
    std::string line;
    line.reserve(text.size() + 40);
    if (journal) {
        fmt::format_to(std::back_inserter(line), "<{}>", static_cast<int>(level));
    } else {
        using namespace std::chrono;
        auto since = now.time_since_epoch();
        auto secs = duration_cast<seconds>(since);
        auto millis = duration_cast<milliseconds>(since - secs).count();
        if (millis < 0) {  // before 1970: keep the fraction positive
            secs -= seconds(1);
            millis += 1000;
        }
        std::time_t t = static_cast<std::time_t>(secs.count());
        std::tm tm{};
        gmtime_r(&t, &tm);
        fmt::format_to(std::back_inserter(line), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} ",
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                       tm.tm_sec, millis, level_name(level));
    }
    line += text;
    line += '\n';
    return line;
}

}  // namespace detail

namespace {

constexpr std::size_t kDefaultQueueLimit = 64u << 20;  // 64 MiB of pending text

// Everything the logger thread shares. Allocated on the heap so that
// reset_after_fork() can abandon a copy whose mutex may have been held by a
// thread that does not exist in the child.
struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::string pending;          // formatted lines waiting for the thread
    std::string pending_access;   // access lines for the access log file
    std::uint64_t dropped = 0;    // lines dropped since the last report
    bool running = false;         // a thread owns the output
    bool stopping = false;
    std::thread thread;
    State* abandoned = nullptr;   // the one reset_after_fork() replaced: kept reachable
};

State* g_state = new State();                     // never freed (see reset_after_fork)
std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<int> g_journal{-1};                   // -1 unknown, 0 plain, 1 journal
std::atomic<std::size_t> g_queue_limit{kDefaultQueueLimit};
std::atomic<std::uint64_t> g_dropped_total{0};

// Where lines go: stderr, or the log file's descriptor. A reopen replaces
// the file behind that descriptor (dup3), so the number never changes while
// a file is set and the logger thread needs no lock to write.
std::atomic<int> g_fd{STDERR_FILENO};
std::mutex g_file_mu;  // set_file / reopen against each other
std::string g_file_path;  // "" = stderr; guarded by g_file_mu
// The access log file ([log] access_log = PATH): -1 = access lines go to the main log.
std::atomic<int> g_access_fd{-1};
std::string g_access_path;  // guarded by g_file_mu
// The access descriptor once turned off: pointed at /dev/null, never closed
// (the logger thread may be writing to it), taken again when turned on.
int g_access_spare = -1;  // guarded by g_file_mu

int open_log_file(const std::string& path) {
    int fd;
    do fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    while (fd < 0 && errno == EINTR);
    return fd;
}

bool journal_mode() {
    if (g_fd.load(std::memory_order_relaxed) != STDERR_FILENO) return false;  // a file: plain lines
    int j = g_journal.load(std::memory_order_relaxed);
    if (j < 0) {
        struct stat st {};
        bool match = false;
        if (::fstat(STDERR_FILENO, &st) == 0)
            match = detail::journal_stream_matches(std::getenv("JOURNAL_STREAM"),
                                                   static_cast<std::uint64_t>(st.st_dev),
                                                   static_cast<std::uint64_t>(st.st_ino));
        j = match ? 1 : 0;
        g_journal.store(j, std::memory_order_relaxed);
    }
    return j == 1;
}

// Writes all of [data, data+len) to stderr, retrying on EINTR, partial writes
// and EAGAIN (if someone handed us a non-blocking stderr). Gives up on any
// other error: there is nowhere left to report it.
void write_all(const char* data, std::size_t len, int fd = -1) {
    if (fd < 0) fd = g_fd.load(std::memory_order_relaxed);
    while (len > 0) {
        ssize_t n = ::write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 1000);
            continue;
        }
        return;
    }
}

std::string dropped_line(std::uint64_t n) {
    return detail::format_line(Level::Warning,
                               fmt::format("log queue full: {} line(s) dropped", n),
                               journal_mode(), std::chrono::system_clock::now());
}

void thread_main(State* st) {
    std::string batch, access;
    for (;;) {
        std::uint64_t dropped = 0;
        {
            std::unique_lock lk(st->mu);
            st->cv.wait(lk, [st] {
                return !st->pending.empty() || !st->pending_access.empty() || st->dropped > 0 || st->stopping;
            });
            if (st->pending.empty() && st->pending_access.empty() && st->dropped == 0) {
                // stopping with nothing left: hand the output back to callers.
                st->running = false;
                return;
            }
            batch.clear();
            batch.swap(st->pending);
            access.clear();
            access.swap(st->pending_access);
            dropped = st->dropped;
            st->dropped = 0;
        }
        if (dropped > 0) batch += dropped_line(dropped);
        if (!batch.empty()) write_all(batch.data(), batch.size());
        if (!access.empty()) {
            int fd = g_access_fd.load(std::memory_order_relaxed);
            if (fd >= 0) write_all(access.data(), access.size(), fd);
        }
        if (batch.capacity() > (1u << 20)) std::string().swap(batch);  // do not hoard a burst
        if (access.capacity() > (1u << 20)) std::string().swap(access);
    }
}

}  // namespace

namespace detail {

void set_queue_limit(std::size_t bytes) { g_queue_limit.store(bytes); }
std::uint64_t dropped_total() { return g_dropped_total.load(); }

}  // namespace detail

void start() {
    State* st = g_state;
    std::lock_guard lk(st->mu);
    if (st->running || st->thread.joinable()) return;
    g_journal.store(-1);  // stderr may have been redirected since the last line
    st->stopping = false;
    st->running = true;
    st->thread = std::thread(thread_main, st);
}

void stop() {
    State* st = g_state;
    {
        std::lock_guard lk(st->mu);
        if (!st->thread.joinable()) return;
        st->stopping = true;
    }
    st->cv.notify_one();
    st->thread.join();
    std::lock_guard lk(st->mu);
    st->stopping = false;
}

void reset_after_fork() {
    // The child has no logger thread, and the old mutex may be locked forever
    // (by a parent thread that was not copied). Abandon the old state: its
    // pending lines belong to the parent, which writes them itself. It is
    // never freed, but stays reachable from the new one, so LeakSanitizer
    // does not report it (the child of --daemon runs this twice).
    State* fresh = new State();
    fresh->abandoned = g_state;
    g_state = fresh;
    g_journal.store(-1);
}

namespace {

// Points `slot` at `path`: opened, it takes the place of the descriptor the
// slot holds (dup3, so the number never changes while a file is set) or
// becomes it when the slot holds `unset`. Caller holds g_file_mu.
int place_file(const std::string& path, std::atomic<int>& slot, int unset) {
    int fd = open_log_file(path);
    if (fd < 0) return errno;
    int old = slot.load();
    if (old != unset) {
        if (::dup3(fd, old, O_CLOEXEC) < 0) {
            int err = errno;
            ::close(fd);
            return err;
        }
        ::close(fd);
    } else {
        slot.store(fd);
    }
    return 0;
}

}  // namespace

int set_file(const std::string& path) {
    std::lock_guard lk(g_file_mu);
    int old = g_fd.load();
    if (path.empty()) {
        g_fd.store(STDERR_FILENO);
        if (old != STDERR_FILENO) ::close(old);
        g_file_path.clear();
        g_journal.store(-1);
        return 0;
    }
    if (int err = place_file(path, g_fd, STDERR_FILENO); err != 0) return err;
    g_file_path = path;
    return 0;
}

namespace {

// Opens `path` again into descriptor `target` (so writers never see a change).
std::string reopen_into(const std::string& path, int target) {
    int fd = open_log_file(path);
    if (fd < 0) return fmt::format("cannot reopen {}: {}; still writing to the old file", path, std::strerror(errno));
    int rc = ::dup3(fd, target, O_CLOEXEC);
    int err = errno;
    ::close(fd);
    if (rc < 0) return fmt::format("cannot reopen {}: {}; still writing to the old file", path, std::strerror(err));
    return "reopened " + path;
}

}  // namespace

std::string reopen() {
    std::lock_guard lk(g_file_mu);
    std::string out;
    if (!g_file_path.empty()) out = reopen_into(g_file_path, g_fd.load());
    if (!g_access_path.empty()) {
        if (!out.empty()) out += "; ";
        out += reopen_into(g_access_path, g_access_fd.load());
    }
    if (out.empty()) return "nothing to reopen: the log goes to standard error";
    return out;
}

int set_access_file(const std::string& path) {
    std::lock_guard lk(g_file_mu);
    if (path.empty()) {
        int old = g_access_fd.exchange(-1);
        if (old >= 0) {
            // Never closed: the logger thread may still be writing to this
            // number. It points at /dev/null until a file is set again.
            int nul = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (nul >= 0) {
                ::dup3(nul, old, O_CLOEXEC);
                ::close(nul);
            }
            g_access_spare = old;
        }
        g_access_path.clear();
        return 0;
    }
    if (g_access_fd.load() < 0 && g_access_spare >= 0) {
        std::atomic<int> spare{g_access_spare};
        if (int err = place_file(path, spare, -1); err != 0) return err;
        g_access_fd.store(g_access_spare);
        g_access_spare = -1;
    } else if (int err = place_file(path, g_access_fd, -1); err != 0) {
        return err;
    }
    g_access_path = path;
    return 0;
}

void access(std::string_view line) {
    if (g_access_fd.load(std::memory_order_relaxed) < 0) {
        if (enabled(Level::Info)) write(Level::Info, line);
        return;
    }
    std::string text = detail::format_line(Level::Info, line, false, std::chrono::system_clock::now());
    // The access file has no levels: "TIME info access ..." -> "TIME access ...".
    if (size_t sp = text.find(' '); sp != std::string::npos && text.compare(sp + 1, 5, "info ") == 0) text.erase(sp + 1, 5);
    State* st = g_state;
    {
        std::unique_lock lk(st->mu);
        if (st->running) {
            if (st->pending_access.size() + text.size() > g_queue_limit.load(std::memory_order_relaxed)) {
                ++st->dropped;
                g_dropped_total.fetch_add(1, std::memory_order_relaxed);
                return;
            }
            bool was_empty = st->pending_access.empty() && st->pending.empty();
            st->pending_access += text;
            lk.unlock();
            if (was_empty) st->cv.notify_one();
            return;
        }
    }
    write_all(text.data(), text.size(), g_access_fd.load());
}

void set_level(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

void write(Level lvl, std::string_view message) {
    std::string line = detail::format_line(lvl, message, journal_mode(), std::chrono::system_clock::now());
    State* st = g_state;
    {
        std::unique_lock lk(st->mu);
        if (st->running) {
            if (st->pending.size() + line.size() > g_queue_limit.load(std::memory_order_relaxed)) {
                ++st->dropped;
                g_dropped_total.fetch_add(1, std::memory_order_relaxed);
                lk.unlock();
                st->cv.notify_one();
                return;  // never block a worker; the thread reports the count
            }
            bool was_empty = st->pending.empty();
            st->pending += line;
            lk.unlock();
            if (was_empty) st->cv.notify_one();
            return;
        }
    }
    write_all(line.data(), line.size());
}

}  // namespace agd::log
