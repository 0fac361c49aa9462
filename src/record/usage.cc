#include "record/usage.h"

namespace agd::record {

const char* usage_state_name(UsageState s) {
    switch (s) {
        case UsageState::None: return "none";
        case UsageState::Reported: return "reported";
        case UsageState::Missing: return "missing";
        case UsageState::Cut: return "cut";
        case UsageState::Estimated: return "estimated";
    }
    return "none";
}

}  // namespace agd::record
