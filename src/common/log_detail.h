// log.cc's internals, exposed for its unit tests only (log.h is the API).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/log.h"

namespace agd::log::detail {

const char* level_name(Level level);
std::string sanitize(std::string_view message);
bool journal_stream_matches(const char* env, std::uint64_t dev, std::uint64_t ino);
std::string format_line(Level level, std::string_view message, bool journal,
                        std::chrono::system_clock::time_point now);
void set_queue_limit(std::size_t bytes);
std::uint64_t dropped_total();

}  // namespace agd::log::detail
