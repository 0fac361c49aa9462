// Logging: one line per event to stderr. When stderr is the journal
// (JOURNAL_STREAM names stderr's device:inode) each line starts with a
// syslog priority prefix "<N>"; otherwise lines are plain with a timestamp.
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
