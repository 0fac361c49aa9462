// Points in time for the store's readers: the local day and month (limits'
// daily and monthly counters, `usage --since month`) and the CLI's --since.
// Local means the process's time zone (TZ).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace agd::store {

// Unix seconds of the local midnight that starts the day holding `now_s`,
// and of the first day of its month.
int64_t local_day_start(int64_t now_s);
int64_t local_month_start(int64_t now_s);

// --since, as unix seconds:
//   "90s", "30m", "1h", "24h", "7d", "2w"   that long before now_s;
//   "today", "yesterday", "month"          local midnight, the first of this month;
//   "2026-12-01"                           local midnight of that day;
//   "2026-12-01T13:45", "2026-12-01 13:45:30"  local time, or UTC / an
//                                          offset with "Z", "+02:00", "-0530".
// nullopt for anything else (and for dates that do not exist).
std::optional<int64_t> parse_since(std::string_view text, int64_t now_s);

}  // namespace agd::store
