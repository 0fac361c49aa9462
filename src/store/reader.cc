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
#include "store/schema.h"
#include "store/since.h"
#include "store/sqlite_util.h"

namespace agd::store {

namespace {

constexpr const char* kRowColumns =
    "r.id, r.request_id, r.ts_ms, r.client, r.addr, r.method, r.path, r.op, r.protocol, r.model, r.model_sent, "
    "r.provider, r.credential, r.attempts, r.attempt_detail, r.status, r.upstream_status, r.error, r.limit_hit, "
    "r.stream, r.input, r.output, r.cache_read, r.cache_write, r.reasoning, r.usage_state, r.ttfb_ms, r.ttft_ms, "
    "r.total_ms, r.bytes_in, r.bytes_out";
constexpr int kRowColumnCount = 31;

LogRow read_row(const sql::Stmt& st) {
    LogRow r;
    r.row = st.i64(0);
    r.request_id = static_cast<uint64_t>(st.i64(1));
    r.ts_ms = st.i64(2);
    r.client = st.text(3);
    r.addr = st.text(4);
    r.method = st.text(5);
    r.path = st.text(6);
    r.op = st.text(7);
    r.protocol = st.text(8);
    r.model = st.text(9);
    r.model_sent = st.text(10);
    r.provider = st.text(11);
    r.credential = st.text(12);
    r.attempts = static_cast<int>(st.i64(13));
    r.attempt_detail = st.text(14);
    r.status = static_cast<int>(st.i64(15));
    r.upstream_status = static_cast<int>(st.i64(16));
    r.error = st.text(17);
    r.limit = st.text(18);
    r.stream = st.i64(19) != 0;
    r.input = st.i64_or(20, -1);
    r.output = st.i64_or(21, -1);
    r.cache_read = st.i64_or(22, -1);
    r.cache_write = st.i64_or(23, -1);
    r.reasoning = st.i64_or(24, -1);
    r.usage_state = st.text(25);
    r.ttfb_ms = st.is_null(26) ? -1 : st.real(26);
    r.ttft_ms = st.is_null(27) ? -1 : st.real(27);
    r.total_ms = st.real(28);
    r.bytes_in = st.i64(29);
    r.bytes_out = st.i64(30);
    return r;
}

// agd_glob(pattern, text): the config's globs (common/glob.h), not SQLite's GLOB.
void glob_function(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
    if (argc != 2 || sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
    int pn = sqlite3_value_bytes(argv[0]);
    const auto* t = reinterpret_cast<const char*>(sqlite3_value_text(argv[1]));
    int tn = sqlite3_value_bytes(argv[1]);
    if (p == nullptr || t == nullptr) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    sqlite3_result_int(ctx, glob_match(std::string_view(p, static_cast<size_t>(pn)),
                                       std::string_view(t, static_cast<size_t>(tn)))
                                ? 1
                                : 0);
}

template <class T>
Result<T> query_error(sqlite3* db) {
    int code = sqlite3_extended_errcode(db) & 0xff;
    int ex = code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? EX_DATAERR
             : code == SQLITE_PERM || code == SQLITE_AUTH  ? EX_NOPERM
                                                           : EX_SOFTWARE;
    return Result<T>::fail(ex, fmt::format("cannot read the request store: {}", sql::message(db)));
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
    sqlite3_create_function_v2(reader.db_, "agd_glob", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                               glob_function, nullptr, nullptr, nullptr);
    return reader;
}

Reader::Reader(Reader&& o) noexcept
    : db_(o.db_), version_(o.version_), immutable_(o.immutable_), note_(std::move(o.note_)) {
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
    }
    return *this;
}

Reader::~Reader() { sqlite3_close_v2(db_); }

Result<std::vector<LogRow>> Reader::log(const LogQuery& q) const {
    std::vector<LogRow> out;
    if (version_ == 0 || q.limit == 0) return out;
    std::string text = fmt::format("SELECT {} FROM requests r WHERE 1", kRowColumns);
    if (q.since_ms > 0) text += " AND r.ts_ms >= :since";
    if (q.client) text += " AND r.client = :client";
    if (q.model) text += " AND (agd_glob(:model, r.model) OR agd_glob(:model, r.model_sent))";
    if (q.provider) text += " AND r.provider = :provider";
    switch (q.status.kind) {
        case StatusFilter::Kind::Any: break;
        case StatusFilter::Kind::Exact: text += " AND r.status = :status"; break;
        case StatusFilter::Kind::Class: text += " AND r.status >= :status * 100 AND r.status < :status * 100 + 100"; break;
        case StatusFilter::Kind::Error: text += " AND (r.status >= 400 OR r.error != '')"; break;
    }
    text += " ORDER BY r.ts_ms DESC, r.id DESC LIMIT :limit";
    sql::Stmt st;
    if (st.prepare(db_, text) != SQLITE_OK) return query_error<std::vector<LogRow>>(db_);
    auto bind = [&](const char* name, auto value) {
        int i = sqlite3_bind_parameter_index(st.get(), name);
        if (i > 0) st.bind(i, value);
    };
    bind(":since", q.since_ms);
    if (q.client) bind(":client", std::string_view(*q.client));
    if (q.model) bind(":model", std::string_view(*q.model));
    if (q.provider) bind(":provider", std::string_view(*q.provider));
    bind(":status", int64_t{q.status.value});
    bind(":limit", static_cast<int64_t>(std::min<size_t>(q.limit, INT64_MAX)));
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) out.push_back(read_row(st));
    if (rc != SQLITE_DONE) return query_error<std::vector<LogRow>>(db_);
    return out;
}

Result<std::vector<LogEntry>> Reader::entries(uint64_t request_id) const {
    std::vector<LogEntry> out;
    if (version_ == 0) return out;
    std::string text = fmt::format(
        "SELECT {}, b.id IS NOT NULL, b.request, b.response, b.request_truncated, b.response_truncated "
        "FROM requests r LEFT JOIN bodies b ON b.id = r.id WHERE r.request_id = ?1 ORDER BY r.id DESC",
        kRowColumns);
    sql::Stmt st;
    if (st.prepare(db_, text) != SQLITE_OK) return query_error<std::vector<LogEntry>>(db_);
    st.bind(1, static_cast<int64_t>(request_id));
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
        LogEntry e;
        e.row = read_row(st);
        e.has_bodies = st.i64(kRowColumnCount) != 0;
        e.request_body = st.text(kRowColumnCount + 1);
        e.response_body = st.text(kRowColumnCount + 2);
        e.request_truncated = st.i64(kRowColumnCount + 3) != 0;
        e.response_truncated = st.i64(kRowColumnCount + 4) != 0;
        out.push_back(std::move(e));
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
