// Reader: read-only queries of the request store, for the CLI (`log`,
// `usage`) and for the daemon's start-up (the tokens each client used today
// and this month, so that daily and monthly limits survive a restart).
//
// A reader never disturbs the writer: the database is opened read-only
// (SQLITE_OPEN_READONLY), which in WAL mode works while the daemon writes
// and after it stopped, as long as the reader may read the database and its
// -wal and -shm files (the daemon keeps those at exit, 0640 like the
// database). When SQLite cannot use them (no -shm and no right to create one
// in the directory, or a -shm this user cannot read) the database is opened
// as immutable instead: exact when the daemon is stopped (its WAL is then
// empty), possibly without the latest requests while it runs; note() says
// so. A user who is neither root nor the database's owner, when there is
// no -shm, also reads it as immutable rather than creating -wal and -shm
// files the daemon could not write.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct sqlite3;

namespace agd::store {

// --status: "429", "4xx", "5xx", "error" (status >= 400, or a failure).
struct StatusFilter {
    enum class Kind { Any, Exact, Class, Error };
    Kind kind = Kind::Any;
    int value = 0;  // Exact: the status; Class: its first digit
};
std::optional<StatusFilter> parse_status_filter(std::string_view text);

struct LogQuery {
    int64_t since_ms = 0;                 // rows that started at or after; 0: no bound
    int64_t until_ms = 0;                 // rows that started before; 0: no bound
    // Rows older than this one (its start, its row number): the page after
    // the one that ended with it.
    std::optional<std::pair<int64_t, int64_t>> before;
    std::optional<std::string> client;    // exact name ("" = requests of no client)
    std::optional<std::string> model;     // glob on the model asked or sent
    std::optional<std::string> provider;  // exact name
    StatusFilter status;
    size_t limit = 50;
};

// One request. Unknown numbers are -1.
struct LogRow {
    int64_t row = 0;          // the row's number in the store
    uint64_t request_id = 0;  // the daemon's id (as in the access log), unique within one run
    int64_t ts_ms = 0;
    std::string client, addr, method, path, op, protocol, model, model_sent, provider, credential;
    int attempts = 0;
    std::string attempt_detail;
    int status = 0, upstream_status = 0;
    std::string error, limit;
    bool stream = false;
    int64_t input = -1, output = -1, cache_read = -1, cache_write = -1, reasoning = -1;
    std::string usage_state;
    double ttfb_ms = -1, ttft_ms = -1, total_ms = 0;
    int64_t bytes_in = 0, bytes_out = 0;
};

struct LogEntry {
    LogRow row;
    bool has_bodies = false;
    std::string request_body, response_body;
    bool request_truncated = false, response_truncated = false;
};

enum class GroupBy { Client, Model, Provider, Credential, Hour, Day };
std::optional<GroupBy> parse_group_by(std::string_view text);
const char* group_by_name(GroupBy g);

struct UsageQuery {
    int64_t since_s = 0;  // from the hour bucket holding it
    GroupBy by = GroupBy::Client;
};

struct UsageRow {
    std::string key;       // client, model, provider or "provider/credential"; "" for none
    int64_t start_s = 0;   // Hour, Day: the bucket's start
    uint64_t requests = 0, errors = 0, input = 0, output = 0, cache_read = 0, cache_write = 0, reasoning = 0;
    double total_ms = 0;
};

// Tokens (input + output) a client used since the day and month started.
struct ClientTokens {
    uint64_t day = 0;
    uint64_t month = 0;
};

struct Stats;
struct StatsQuery;

class Reader {
public:
    // Errors carry a sysexits code: EX_NOINPUT (no such file), EX_NOPERM
    // (not readable), EX_DATAERR (not an antigravityd database, damaged, or
    // written by a newer version), EX_SOFTWARE (anything else).
    static Result<Reader> open(const std::string& path);

    Reader(Reader&& o) noexcept;
    Reader& operator=(Reader&& o) noexcept;
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    ~Reader();

    bool immutable() const { return immutable_; }
    // What the caller should tell a person about how it was opened ("" when
    // nothing: the view is exact).
    const std::string& note() const { return note_; }

    // Newest first.
    Result<std::vector<LogRow>> log(const LogQuery& q) const;
    // The requests with this id, newest first (ids start again with every
    // run of the daemon, so older runs may have used it too).
    Result<std::vector<LogEntry>> entries(uint64_t request_id) const;
    // From the hourly rollups (kept longer than rows). Hour and Day
    // oldest first; the others by requests, most first, then by name ("" last).
    Result<std::vector<UsageRow>> usage(const UsageQuery& q) const;
    // Requests, errors, tokens and latency percentiles over a window, whole
    // and in buckets (store/stats.h), from the request rows (newest first,
    // at most q.max_rows of them).
    Result<Stats> stats(const StatsQuery& q) const;
    // Per client, from the rollups' hour buckets: each sum starts at the
    // bucket that holds its start (a time zone with an offset that is not
    // whole hours counts the part of that hour before midnight too).
    Result<std::map<std::string, ClientTokens>> client_tokens(int64_t day_start_s, int64_t month_start_s) const;

    // Rows the queries so far found damaged (a packed row or segment this
    // code cannot read) and left out.
    uint64_t damaged() const { return damaged_; }

private:
    Reader() = default;
    mutable uint64_t damaged_ = 0;
    sqlite3* db_ = nullptr;
    int version_ = 0;  // 0: no tables yet (queries answer nothing)
    bool immutable_ = false;
    std::string note_;
};

// The daemon's start-up (main thread; it blocks on the disk): the tokens per
// client name since local midnight and the first of the month
// (local_day_start, local_month_start of store/since.h). A database that
// does not exist yet gives an empty map; an error says why the store could
// not be read (the daemon logs it and starts from zero).
Result<std::map<std::string, ClientTokens>> client_tokens(const std::string& db_path, int64_t day_start_s,
                                                          int64_t month_start_s);

}  // namespace agd::store
