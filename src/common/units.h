// Sizes and durations as written in the config file.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace agd {

// "100", "64K", "100M", "2G" (binary multiples; "KB", "MiB" etc. accepted too).
std::optional<uint64_t> parse_size(std::string_view text);
// "250ms", "30s", "5m", "1h", "30d"; a bare number means seconds. Compound "1m30s" accepted.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// A count: "5000", "200k", "5M", "1G" (decimal multiples: k = 1000).
std::optional<uint64_t> parse_count(std::string_view text);

}  // namespace agd
