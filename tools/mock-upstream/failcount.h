// fail_times=N: how many requests of each (model, credential) pair have
// failed so far. Process-wide, shared by all worker threads.
#pragma once

#include <string_view>

namespace mock {

// Counts one request that is due to fail; true while the pair has failed
// fewer than `times` times (this request is then answered with the error),
// false from then on (answered normally).
bool fail_times_take(std::string_view model, std::string_view credential, int times);

// Forgets every count (DELETE /__mock/state).
void fail_times_clear();

}  // namespace mock
