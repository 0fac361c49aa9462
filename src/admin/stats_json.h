// GET /api/stats's answer: a store::Stats as JSON (docs/ADMIN-API.md).
#pragma once

#include <string>

namespace agd::store {
struct Stats;
}

namespace agd::admin {

std::string render_stats_json(const store::Stats& s);

}  // namespace agd::admin
