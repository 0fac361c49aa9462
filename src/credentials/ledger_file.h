// The ledger's state file: what the credentials are resting for, and why,
// kept in the state directory ([server] state_dir, ledger.json) so that a
// restart does not forget a cooldown any more than a reload does.
//
// JSON, version 1: {"version":1,"saved_at":MS,"credentials":{"PROVIDER/FP":
// {"disabled":B,"admin_disabled":B,"until":MS,"probe":MS,"soft":MS,"breaker":MS,
// "models":[{"model":S,"until":MS}],"why":{...}}}}, times in wall-clock ms.
// Only credentials with something to keep are written. Reading treats the
// file as damaged input: bounded size and depth, wrong types skipped,
// deadlines past a bound refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>

#include "common/result.h"

namespace agd::credentials {

class Ledger;

inline constexpr size_t kMaxLedgerFile = 16u << 20;
inline constexpr const char* kLedgerFileName = "ledger.json";

std::string ledger_json(Ledger& ledger, int64_t now_ms, int64_t now_wall_ms);
// Restores the credentials named in `text` that `configured` holds (ids
// as Ledger::id; nullptr: all), so that a damaged file cannot create states
// by the million. The number restored, or why the text could not be read.
Result<size_t> load_ledger_json(Ledger& ledger, std::string_view text, int64_t now_ms, int64_t now_wall_ms,
                                const std::unordered_set<std::string>* configured = nullptr);

}  // namespace agd::credentials
