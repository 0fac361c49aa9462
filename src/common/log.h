// Logging: one line per event to stderr (or to a file, set_file()). When
// stderr is the journal (JOURNAL_STREAM names stderr's device:inode) each
// line starts with a syslog priority prefix "<N>"; otherwise lines are plain
// with a timestamp.
// Callers on worker threads never block on the write: lines go to a queue
// that a logger thread drains (short mutex, never held across I/O).
// Never pass a key or an Authorization header to these functions. As a last
// line of defence, the userinfo of any URL in a line is masked
// (common/redact.h): "http://user:pw@host" is logged as "http://***@host".
#pragma once

#include <string>
#include <string_view>

#include <fmt/core.h>

namespace agd::log {

enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

// Starts the logger thread. Safe to call once; before it, lines are written
// synchronously (so start-up errors are never lost).
void start();
// Flushes every queued line and stops the logger thread (synchronous writes after).
void stop();
// Call in a forked child before start(): the thread does not survive fork.
void reset_after_fork();

// Log files (SIGUSR1, as logrotate expects). Today the daemon logs to stderr
// only; a log file, when one is configured, goes through these.
//
// set_file(path) sends every later line to `path` (opened O_APPEND, created
// 0640) instead of stderr; set_file("") goes back to stderr. Call it while
// no other thread logs (at start-up, before start()). Errors: the errno.
int set_file(const std::string& path);
// Reopens the log file by its path (after logrotate renamed it): the new
// file takes the place of the old one atomically (dup3), so a line being
// written meanwhile lands in one or the other, never lost. Safe at any time,
// from any thread. Returns what it did, for a log line: "reopened PATH",
// "nothing to reopen: the log goes to standard error", or why it failed
// ("cannot reopen PATH: ...; still writing to the old file").
std::string reopen();

// The access log ([log] access_log). By default access lines are Info lines
// of the main log; set_access_file(path) sends them to a file of their own
// (opened O_APPEND, created 0640, reopened by reopen() too), each line
// "TIME access ...". set_access_file("") goes back. Errors: the errno.
int set_access_file(const std::string& path);
// One access line (never blocks; dropped and counted when the queue is full).
void access(std::string_view line);

void set_level(Level level);
Level level();
inline bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(level()); }

void write(Level level, std::string_view line);

template <class... A>
void error(fmt::format_string<A...> f, A&&... a) { if (enabled(Level::Error)) write(Level::Error, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void warning(fmt::format_string<A...> f, A&&... a) { if (enabled(Level::Warning)) write(Level::Warning, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void notice(fmt::format_string<A...> f, A&&... a) { if (enabled(Level::Notice)) write(Level::Notice, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void info(fmt::format_string<A...> f, A&&... a) { if (enabled(Level::Info)) write(Level::Info, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void debug(fmt::format_string<A...> f, A&&... a) { if (enabled(Level::Debug)) write(Level::Debug, fmt::format(f, std::forward<A>(a)...)); }

}  // namespace agd::log
