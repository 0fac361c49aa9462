// Read-only queries of the request store (store/reader.h).
#include "store/reader.h"

#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "common/glob.h"
#include "store/packed.h"
#include "store/schema.h"
#include "store/since.h"
#include "store/sqlite_util.h"
#include "store/stats.h"

namespace agd::store {

namespace {

double ms_or_unknown(int64_t us) { return us >= 0 ? static_cast<double>(us) / 1000.0 : -1; }

LogRow log_row(const PackedRow& p, int64_t number) {
    LogRow r;
    r.row = number;
    r.request_id = p.request_id;
    r.ts_ms = p.ts_ms;
    r.client = p.client;
    r.addr = p.addr;
    r.method = p.method;
    r.path = p.path;
    r.op = p.op;
    r.protocol = p.protocol;
    r.model = p.model;
    r.model_sent = p.model_sent;
    r.provider = p.provider;
    r.credential = p.credential;
    r.attempts = static_cast<int>(std::min<uint64_t>(p.attempts, INT32_MAX));
    r.attempt_detail = plain_attempt_detail(p);
    r.status = static_cast<int>(std::min<uint64_t>(p.status, 999));
    r.upstream_status = static_cast<int>(std::min<uint64_t>(p.upstream_status, 999));
    r.error = p.error;
    r.limit = p.limit;
    r.stream = p.stream();
    r.input = p.input;
    r.output = p.output;
    r.cache_read = p.cache_read;
    r.cache_write = p.cache_write;
    r.reasoning = p.reasoning;
    r.usage_state = p.usage_state;
    r.ttfb_ms = ms_or_unknown(p.ttfb_us);
    r.ttft_ms = ms_or_unknown(p.ttft_us);
    r.total_ms = static_cast<double>(std::max<int64_t>(p.total_us, 0)) / 1000.0;
    r.bytes_in = static_cast<int64_t>(std::min<uint64_t>(p.bytes_in, INT64_MAX));
    r.bytes_out = static_cast<int64_t>(std::min<uint64_t>(p.bytes_out, INT64_MAX));
    return r;
}

bool matches(const PackedRow& r, const LogQuery& q) {
    if (q.since_ms > 0 && r.ts_ms < q.since_ms) return false;
    if (q.client && r.client != *q.client) return false;
    if (q.model && !glob_match(*q.model, r.model) && !glob_match(*q.model, r.model_sent)) return false;
    if (q.provider && r.provider != *q.provider) return false;
    auto status = static_cast<int64_t>(std::min<uint64_t>(r.status, 999));
    switch (q.status.kind) {
        case StatusFilter::Kind::Any: break;
        case StatusFilter::Kind::Exact: return status == q.status.value;
        case StatusFilter::Kind::Class: return status / 100 == q.status.value;
        case StatusFilter::Kind::Error: return status >= 400 || !r.error.empty();
    }
    return true;
}

// Calls f(row, number) for each row of a segment that can be read, numbered
// from `first`; a row that cannot be read (and the delta rows after it,
// which need it) is counted in `damaged`. f returns false to stop; each_row
// then returns false.
template <class F>
bool each_row(std::string_view segment, int64_t first, uint64_t& damaged, F f) {
    SegmentCursor cursor(segment);
    std::string_view packed;
    PackedRow r, prev;
    bool have_prev = false;
    for (int64_t number = first; cursor.next(packed); ++number) {
        if (!unpack_row(packed, r, have_prev ? &prev : nullptr)) {
            ++damaged;
            have_prev = false;
            continue;
        }
        prev = r;
        have_prev = true;
        if (!f(static_cast<const PackedRow&>(r), number)) return false;
    }
    if (!cursor.ok()) ++damaged;
    return true;
}

template <class T>
Result<T> query_error(sqlite3* db) {
    int code = sqlite3_extended_errcode(db) & 0xff;
    int ex = code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? EX_DATAERR
             : code == SQLITE_PERM || code == SQLITE_AUTH  ? EX_NOPERM
                                                           : EX_SOFTWARE;
    return Result<T>::fail(ex, fmt::format("cannot read the request store: {}", sql::message(db)));
}

// Requests of a schema before version 2 are read once the daemon (the
// only writer) has upgraded the file; rollups read the same in both.
template <class T>
Result<T> older_schema(int version) {
    return Result<T>::fail(EX_DATAERR, fmt::format("the request store was written by an older antigravityd (schema "
                                                   "version {}): the daemon upgrades it when it starts; the requests "
                                                   "can be read after that (usage can now)",
                                                   version));
}

int exit_code_of(int code) {
    if (code == kErrForeign || code == kErrNewerSchema) return EX_DATAERR;
    switch (code & 0xff) {
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return EX_DATAERR;
        case SQLITE_PERM:
        case SQLITE_AUTH: return EX_NOPERM;
        default: return EX_SOFTWARE;
    }
}

// Opens and checks the schema. The SQLite (or schema) error code on failure.
Result<std::pair<sqlite3*, int>> try_open(const std::string& uri) {
    sqlite3* db = nullptr;
    sql::init_once();
    int rc = sqlite3_open_v2(uri.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = sql::message(db);
        int code = db != nullptr ? sqlite3_extended_errcode(db) : rc;
        sqlite3_close_v2(db);
        return Result<std::pair<sqlite3*, int>>::fail(code, msg);
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 1000);
    auto version = schema_version(db);
    if (!version) {
        sqlite3_close_v2(db);
        return version.error();
    }
    return std::pair<sqlite3*, int>{db, *version};
}

bool is_fallback_code(int code) {
    int primary = code & 0xff;
    return primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_PERM;
}

}  // namespace

std::optional<StatusFilter> parse_status_filter(std::string_view t) {
    StatusFilter f;
    if (t == "error" || t == "errors") {
        f.kind = StatusFilter::Kind::Error;
        return f;
    }
    if (t.size() != 3 || t[0] < '1' || t[0] > '5') return std::nullopt;
    if ((t[1] == 'x' || t[1] == 'X') && (t[2] == 'x' || t[2] == 'X')) {
        f.kind = StatusFilter::Kind::Class;
        f.value = t[0] - '0';
        return f;
    }
    if (t[1] < '0' || t[1] > '9' || t[2] < '0' || t[2] > '9') return std::nullopt;
    f.kind = StatusFilter::Kind::Exact;
    f.value = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
    return f;
}

std::optional<GroupBy> parse_group_by(std::string_view t) {
    if (t == "client") return GroupBy::Client;
    if (t == "model") return GroupBy::Model;
    if (t == "provider") return GroupBy::Provider;
    if (t == "credential") return GroupBy::Credential;
    if (t == "hour") return GroupBy::Hour;
    if (t == "day") return GroupBy::Day;
    return std::nullopt;
}

const char* group_by_name(GroupBy g) {
    switch (g) {
        case GroupBy::Client: return "client";
        case GroupBy::Model: return "model";
        case GroupBy::Provider: return "provider";
        case GroupBy::Credential: return "credential";
        case GroupBy::Hour: return "hour";
        case GroupBy::Day: return "day";
    }
    return "client";
}

Result<Reader> Reader::open(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        int err = errno;
        if (err == ENOENT)
            return Result<Reader>::fail(EX_NOINPUT, fmt::format("no request store at {} (the daemon creates it when "
                                                                "it runs with [log] database set)",
                                                                path));
        return Result<Reader>::fail(err == EACCES ? EX_NOPERM : EX_NOINPUT,
                                    fmt::format("cannot read {}: {}", path, std::strerror(err)));
    }
    if (S_ISDIR(st.st_mode)) return Result<Reader>::fail(EX_DATAERR, fmt::format("{} is a directory", path));
    if (::access(path.c_str(), R_OK) != 0) {
        int err = errno;
        return Result<Reader>::fail(EX_NOPERM, fmt::format("cannot read {}: {}", path, std::strerror(err)));
    }

    Reader reader;
    std::string uri = sql::file_uri(path);
    struct stat shm {};
    bool has_shm = ::stat((path + "-shm").c_str(), &shm) == 0;
    // Without a -shm file, opening in WAL mode creates -wal and -shm as the
    // caller: fine for root (SQLite gives them the database's owner) and the
    // owner; anyone else reads the quiet file as immutable instead.
    uid_t me = ::geteuid();
    bool may_create = me == 0 || me == st.st_uid;
    int first_error = 0;
    std::string first_message;
    if (has_shm || may_create) {
        auto opened = try_open(uri + "?mode=ro");
        if (opened) {
            reader.db_ = opened->first;
            reader.version_ = opened->second;
        } else {
            first_error = opened.error().code;
            first_message = opened.error().message;
            if (!is_fallback_code(first_error))
                return Result<Reader>::fail(exit_code_of(first_error),
                                            fmt::format("{}: {}", path, first_message));
        }
    }
    if (reader.db_ == nullptr) {
        auto opened = try_open(uri + "?mode=ro&immutable=1");
        if (!opened) {
            int code = first_error != 0 ? first_error : opened.error().code;
            const std::string& msg = first_error != 0 ? first_message : opened.error().message;
            return Result<Reader>::fail(exit_code_of(code), fmt::format("{}: {}", path, msg));
        }
        reader.db_ = opened->first;
        reader.version_ = opened->second;
        reader.immutable_ = true;
        struct stat wal {};
        if (::stat((path + "-wal").c_str(), &wal) == 0 && wal.st_size > 0)
            reader.note_ = fmt::format(
                "{} read without its WAL (this user cannot use {}-shm): the newest requests may be missing", path,
                path);
    }
    return reader;
}

Reader::Reader(Reader&& o) noexcept
    : damaged_(o.damaged_), db_(o.db_), version_(o.version_), immutable_(o.immutable_), note_(std::move(o.note_)) {
    o.db_ = nullptr;
}

Reader& Reader::operator=(Reader&& o) noexcept {
    if (this != &o) {
        sqlite3_close_v2(db_);
        db_ = o.db_;
        o.db_ = nullptr;
        version_ = o.version_;
        immutable_ = o.immutable_;
        note_ = std::move(o.note_);
        damaged_ = o.damaged_;
    }
    return *this;
}

Reader::~Reader() { sqlite3_close_v2(db_); }

Result<std::vector<LogRow>> Reader::log(const LogQuery& q) const {
    std::vector<LogRow> out;
    if (version_ == 0 || q.limit == 0) return out;
    if (version_ < 2) return older_schema<std::vector<LogRow>>(version_);
    // Newest start first. Segments come by their newest start, so once
    // `limit` rows are in hand, a segment whose newest start is older than
    // the oldest of them (and every segment after it) has nothing to add.
    sql::Stmt st;
    if (st.prepare(db_, "SELECT first_row, ts_max, data FROM segments WHERE ts_max >= ?1 "
                        "ORDER BY ts_max DESC, first_row DESC") != SQLITE_OK)
        return query_error<std::vector<LogRow>>(db_);
    st.bind(1, q.since_ms);
    auto newer = [](const LogRow& a, const LogRow& b) {
        return a.ts_ms != b.ts_ms ? a.ts_ms > b.ts_ms : a.row > b.row;
    };
    // A heap whose front is the oldest row kept.
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
        if (out.size() >= q.limit && st.i64(1) < out.front().ts_ms) {
            rc = SQLITE_DONE;  // the rest cannot add anything
            break;
        }
        each_row(st.blob(2), st.i64(0), damaged_, [&](const PackedRow& r, int64_t number) {
            if (q.until_ms > 0 && r.ts_ms >= q.until_ms) return true;
            if (q.before && !(r.ts_ms < q.before->first || (r.ts_ms == q.before->first && number < q.before->second)))
                return true;
            if (!matches(r, q)) return true;
            if (out.size() >= q.limit) {
                const LogRow& oldest = out.front();
                if (r.ts_ms < oldest.ts_ms || (r.ts_ms == oldest.ts_ms && number < oldest.row)) return true;
                std::pop_heap(out.begin(), out.end(), newer);
                out.pop_back();
            }
            out.push_back(log_row(r, number));
            std::push_heap(out.begin(), out.end(), newer);
            return true;
        });
    }
    if (rc != SQLITE_DONE) return query_error<std::vector<LogRow>>(db_);
    std::sort(out.begin(), out.end(), newer);
    return out;
}

Result<Stats> Reader::stats(const StatsQuery& q) const {
    Stats out;
    out.init(q);
    if (version_ == 0) return out;
    if (version_ < 2) return older_schema<Stats>(version_);
    sql::Stmt st;
    int rc = SQLITE_DONE;
    if (st.prepare(db_, "SELECT data FROM segments WHERE ts_max >= ?1 AND ts_min < ?2 "
                        "ORDER BY ts_max DESC, first_row DESC") != SQLITE_OK)
        return query_error<Stats>(db_);
    st.bind(1, out.since_ms);
    st.bind(2, out.until_ms);
    while (!out.truncated && (rc = st.step()) == SQLITE_ROW) {
        each_row(st.blob(0), 0, damaged_, [&](const PackedRow& r, int64_t) {
            if (!r.upstream() || r.ts_ms < out.since_ms || r.ts_ms >= out.until_ms) return true;
            if (out.scanned >= q.max_rows) {
                out.truncated = true;  // enough: the newest segments are read
                return false;
            }
            ++out.scanned;
            out.add(r.ts_ms, static_cast<int>(std::min<uint64_t>(r.status, 999)), r.input, r.output, r.cache_read,
                    r.cache_write, r.reasoning, r.total_us, r.ttft_us);
            return true;
        });
    }
    if (!out.truncated && rc != SQLITE_DONE) return query_error<Stats>(db_);
    return out;
}

Result<std::vector<LogEntry>> Reader::entries(uint64_t request_id) const {
    std::vector<LogEntry> out;
    if (version_ == 0) return out;
    if (version_ < 2) return older_schema<std::vector<LogEntry>>(version_);
    sql::Stmt st, body;
    if (st.prepare(db_, "SELECT first_row, data FROM segments WHERE id_max >= ?1 AND id_min <= ?1 "
                        "ORDER BY first_row DESC") != SQLITE_OK ||
        body.prepare(db_, "SELECT request, response, request_truncated, response_truncated FROM bodies "
                          "WHERE id = ?1") != SQLITE_OK)
        return query_error<std::vector<LogEntry>>(db_);
    auto id = static_cast<int64_t>(std::min<uint64_t>(request_id, INT64_MAX));
    st.bind(1, id);
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
        std::vector<LogEntry> found;  // oldest first within the segment
        bool body_error = false;
        each_row(st.blob(1), st.i64(0), damaged_, [&](const PackedRow& r, int64_t number) {
            if (r.request_id != request_id) return true;
            LogEntry e;
            e.row = log_row(r, number);
            if (r.has_bodies()) {
                body.bind(1, number);
                int brc = body.step();
                if (brc == SQLITE_ROW) {
                    e.has_bodies = true;
                    e.request_body = body.text(0);
                    e.response_body = body.text(1);
                    e.request_truncated = body.i64(2) != 0;
                    e.response_truncated = body.i64(3) != 0;
                }
                body.reset();
                if (brc != SQLITE_ROW && brc != SQLITE_DONE) {
                    body_error = true;
                    return false;
                }
            }
            found.push_back(std::move(e));
            return true;
        });
        if (body_error) return query_error<std::vector<LogEntry>>(db_);
        for (auto it = found.rbegin(); it != found.rend(); ++it) out.push_back(std::move(*it));
    }
    if (rc != SQLITE_DONE) return query_error<std::vector<LogEntry>>(db_);
    return out;
}

Result<std::vector<UsageRow>> Reader::usage(const UsageQuery& q) const {
    std::vector<UsageRow> out;
    if (version_ == 0) return out;
    const char* key = "client";
    switch (q.by) {
        case GroupBy::Client: key = "client"; break;
        case GroupBy::Model: key = "model"; break;
        case GroupBy::Provider: key = "provider"; break;
        case GroupBy::Credential: key = "CASE WHEN provider = '' THEN '' ELSE provider || '/' || credential END"; break;
        case GroupBy::Hour:
        case GroupBy::Day: key = "hour"; break;
    }
    std::string text = fmt::format(
        "SELECT {0}, sum(requests), sum(errors), sum(input), sum(output), sum(cache_read), sum(cache_write), "
        "sum(reasoning), sum(total_ms) FROM rollups WHERE hour >= ?1 GROUP BY 1 ORDER BY 1",
        key);
    sql::Stmt st;
    if (st.prepare(db_, text) != SQLITE_OK) return query_error<std::vector<UsageRow>>(db_);
    int64_t since = q.since_s - ((q.since_s % 3600) + 3600) % 3600;  // the hour bucket holding it
    st.bind(1, since);
    bool by_time = q.by == GroupBy::Hour || q.by == GroupBy::Day;
    auto u = [&](int i) { return static_cast<uint64_t>(std::max<int64_t>(st.i64(i), 0)); };
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
        UsageRow r;
        if (by_time) {
            r.start_s = st.i64(0);
            if (q.by == GroupBy::Day) r.start_s = local_day_start(r.start_s);
        } else {
            r.key = st.text(0);
        }
        r.requests = u(1);
        r.errors = u(2);
        r.input = u(3);
        r.output = u(4);
        r.cache_read = u(5);
        r.cache_write = u(6);
        r.reasoning = u(7);
        r.total_ms = st.real(8);
        // Hours arrive in order: a day is the run of hours that start in it.
        if (q.by == GroupBy::Day && !out.empty() && out.back().start_s == r.start_s) {
            UsageRow& d = out.back();
            d.requests += r.requests;
            d.errors += r.errors;
            d.input += r.input;
            d.output += r.output;
            d.cache_read += r.cache_read;
            d.cache_write += r.cache_write;
            d.reasoning += r.reasoning;
            d.total_ms += r.total_ms;
            continue;
        }
        out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return query_error<std::vector<UsageRow>>(db_);
    if (!by_time)
        std::stable_sort(out.begin(), out.end(), [](const UsageRow& a, const UsageRow& b) {
            if (a.requests != b.requests) return a.requests > b.requests;
            return !a.key.empty() && b.key.empty();  // then by name (SQL's order), "" last
        });
    return out;
}

Result<std::map<std::string, ClientTokens>> Reader::client_tokens(int64_t day_start_s, int64_t month_start_s) const {
    using Map = std::map<std::string, ClientTokens>;
    Map out;
    if (version_ == 0) return out;
    auto bucket = [](int64_t t) { return t - ((t % 3600) + 3600) % 3600; };
    sql::Stmt st;
    if (st.prepare(db_,
                   "SELECT client, sum(CASE WHEN hour >= ?1 THEN input + output ELSE 0 END), "
                   "sum(CASE WHEN hour >= ?2 THEN input + output ELSE 0 END) "
                   "FROM rollups WHERE hour >= min(?1, ?2) GROUP BY client") != SQLITE_OK)
        return query_error<Map>(db_);
    st.bind(1, bucket(day_start_s));
    st.bind(2, bucket(month_start_s));
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
        ClientTokens& t = out[st.text(0)];
        t.day = static_cast<uint64_t>(std::max<int64_t>(st.i64(1), 0));
        t.month = static_cast<uint64_t>(std::max<int64_t>(st.i64(2), 0));
    }
    if (rc != SQLITE_DONE) return query_error<Map>(db_);
    return out;
}

Result<std::map<std::string, ClientTokens>> client_tokens(const std::string& db_path, int64_t day_start_s,
                                                          int64_t month_start_s) {
    using Map = std::map<std::string, ClientTokens>;
    struct stat st {};
    if (db_path.empty() || (::stat(db_path.c_str(), &st) != 0 && errno == ENOENT)) return Map{};
    auto reader = Reader::open(db_path);
    if (!reader) return reader.error();
    return reader->client_tokens(day_start_s, month_start_s);
}

}  // namespace agd::store
