// `antigravityd log` and `antigravityd usage`: the request store read by the
// CLI. Plain functions from options and query results to text, so tests can
// check them on a database they wrote, without a daemon. cli.cc wires them
// to the config file and the terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "daemon/cli.h"
#include "store/reader.h"

namespace agd::daemon {

// "0000000000000004", "4", "0x4": a request id as the access log prints it
// (hex). nullopt for anything else.
std::optional<uint64_t> parse_request_id(std::string_view text);
// "0000000000000004".
std::string format_request_id(uint64_t id);

// Text that came from clients and upstreams, made safe for a terminal:
// invalid UTF-8 becomes U+FFFD, control characters (C0, DEL, C1) \xNN;
// `multiline` keeps newlines and tabs.
std::string clean(std::string_view s, bool multiline = false);

// The queries the options ask for. --since is resolved against now_s;
// usage without --since covers the last 24 hours. Options are checked by
// parse_args; an invalid value still gives EX_USAGE here.
Result<store::LogQuery> log_query(const CliOptions& opts, int64_t now_s);
Result<store::UsageQuery> usage_query(const CliOptions& opts, int64_t now_s);

// Text: one aligned line per request under a header, newest first; JSON:
// one array of objects. Local times in the text, UTC ISO 8601 in JSON.
std::string render_log(const std::vector<store::LogRow>& rows);
std::string render_log_json(const std::vector<store::LogRow>& rows);
// One request in full, bodies included when kept. `others`: how many older
// requests (earlier runs of the daemon) had the same id.
std::string render_entry(const store::LogEntry& e, size_t others);
std::string render_entry_json(const store::LogEntry& e);
// A table of requests, errors, each token type and the cache hit ratio
// (cache reads / all input tokens), with a total line.
std::string render_usage(const std::vector<store::UsageRow>& rows, const store::UsageQuery& q);
std::string render_usage_json(const std::vector<store::UsageRow>& rows, const store::UsageQuery& q);

// The whole commands on an open store.
Outcome log_outcome(const store::Reader& reader, const CliOptions& opts, int64_t now_s);
Outcome usage_outcome(const store::Reader& reader, const CliOptions& opts, int64_t now_s);

}  // namespace agd::daemon
