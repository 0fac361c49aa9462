// The writer's connection (store/database.h).
#include "store/database.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string_view>
#include <tuple>

#include <fmt/core.h>

#include "daemon/parent_dir.h"
#include "store/row.h"
#include "store/schema.h"
#include "store/sqlite_util.h"

namespace agd::store {

namespace {

// A writer waits this long for a lock another process holds (a second
// daemon on the same file, an sqlite3 shell in a write transaction). Readers
// never block it in WAL mode.
constexpr int kBusyTimeoutMs = 200;
// Pages given back per PRAGMA incremental_vacuum, and statements per compact().
constexpr int kVacuumPages = 4096;
constexpr int kVacuumSteps = 64;

constexpr int64_t kHourMs = 3'600'000;

int64_t hour_of(int64_t ts_ms) {
    int64_t h = ts_ms / kHourMs;
    if (ts_ms % kHourMs < 0) --h;  // floor for times before 1970
    return h * 3600;
}

constexpr const char* kInsertRequest =
    "INSERT INTO requests (request_id, ts_ms, client, addr, method, path, op, protocol, model, model_sent, "
    "provider, credential, attempts, attempt_detail, status, upstream_status, error, limit_hit, stream, input, "
    "output, cache_read, cache_write, reasoning, usage_state, ttfb_ms, ttft_ms, total_ms, bytes_in, bytes_out) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
    "?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)";

constexpr const char* kInsertBody =
    "INSERT INTO bodies (id, ts_ms, request, response, request_truncated, response_truncated) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

constexpr const char* kUpsertRollup =
    "INSERT INTO rollups (hour, client, model, provider, credential, requests, errors, input, output, cache_read, "
    "cache_write, reasoning, total_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
    "ON CONFLICT (hour, client, model, provider, credential) DO UPDATE SET "
    "requests = requests + excluded.requests, errors = errors + excluded.errors, input = input + excluded.input, "
    "output = output + excluded.output, cache_read = cache_read + excluded.cache_read, "
    "cache_write = cache_write + excluded.cache_write, reasoning = reasoning + excluded.reasoning, "
    "total_ms = total_ms + excluded.total_ms";

struct RollupSums {
    int64_t requests = 0, errors = 0, input = 0, output = 0, cache_read = 0, cache_write = 0, reasoning = 0;
    double total_ms = 0;
};

using RollupKey = std::tuple<int64_t, std::string_view, std::string_view, std::string_view, std::string_view>;

int64_t known(int64_t v) { return v > 0 ? v : 0; }

double ms_of(int64_t us) { return static_cast<double>(us) / 1000.0; }

}  // namespace

struct Database::Statements {
    sql::Stmt insert_request, insert_body, upsert_rollup;
};

Database::Database() = default;
Database::~Database() { close(); }

Status Database::fail(const char* what) {
    int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : SQLITE_NOMEM;
    return Status::fail(code, fmt::format("{}: {}", what, sql::message(db_)));
}

Status Database::open(const std::string& path) {
    close();
    path_ = path;
    wal_path_ = path + "-wal";
    if (auto made = daemon::make_parent_dir(path, 0750); !made)
        return Status::fail(made.error().code == EACCES || made.error().code == EPERM ? SQLITE_PERM : SQLITE_CANTOPEN,
                            made.error().message);
    // Created here rather than by SQLite, whose default mode is 0644 less the
    // umask: the file (and the -wal and -shm files, which SQLite gives the
    // database's mode) is 0640, readable by the daemon's group.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd >= 0) {
        (void)::fchmod(fd, 0640);
        ::close(fd);
    } else if (errno != EEXIST) {
        int err = errno;
        return Status::fail(err == EACCES || err == EPERM || err == EROFS ? SQLITE_PERM : SQLITE_CANTOPEN,
                            fmt::format("cannot create {}: {}", path, std::strerror(err)));
    }

    sqlite3* db = nullptr;
    sql::init_once();
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             nullptr);
    db_ = db;
    if (rc != SQLITE_OK) {
        Status st = fail("cannot open");
        close();
        return st;
    }
    sqlite3_extended_result_codes(db_, 1);
    // SQLite opens a file it may not write read-only without a word; every
    // write would then fail.
    if (sqlite3_db_readonly(db_, "main") == 1) {
        close();
        return Status::fail(SQLITE_READONLY, fmt::format("cannot write {}: permission denied", path));
    }
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    int persist = 1;
    sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (auto st = prepare_database(db_); !st) {
        close();
        return st;
    }
    struct stat sb {};
    if (::stat(path.c_str(), &sb) == 0) {
        dev_ = static_cast<uint64_t>(sb.st_dev);
        ino_ = static_cast<uint64_t>(sb.st_ino);
    }
    auto stmts = std::make_unique<Statements>();
    if (stmts->insert_request.prepare(db_, kInsertRequest) != SQLITE_OK ||
        stmts->insert_body.prepare(db_, kInsertBody) != SQLITE_OK ||
        stmts->upsert_rollup.prepare(db_, kUpsertRollup) != SQLITE_OK) {
        Status st = fail("cannot prepare statements");
        close();
        return st;
    }
    st_ = std::move(stmts);
    return {};
}

void Database::close() {
    st_.reset();
    if (db_ == nullptr) return;
    sql::exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close_v2(db_);
    db_ = nullptr;
}

Status Database::write(const std::vector<std::unique_ptr<Row>>& rows) {
    if (db_ == nullptr || !st_) return Status::fail(SQLITE_MISUSE, "not open");
    if (rows.empty()) return {};
    if (sql::exec(db_, "BEGIN IMMEDIATE") != SQLITE_OK) return fail("begin");
    auto abort = [&](const char* what) {
        Status st = fail(what);
        if (sqlite3_get_autocommit(db_) == 0) sql::exec(db_, "ROLLBACK");
        return st;
    };

    std::map<RollupKey, RollupSums> rollups;
    auto& ins = st_->insert_request;
    auto& body = st_->insert_body;
    for (const auto& rp : rows) {
        const Row& r = *rp;
        ins.bind(1, r.request_id);
        ins.bind(2, r.ts_ms);
        ins.bind_static(3, r.client);
        ins.bind_static(4, r.addr);
        ins.bind_static(5, r.method);
        ins.bind_static(6, r.path);
        ins.bind_static(7, r.op);
        if (r.protocol != nullptr)
            ins.bind_static(8, r.protocol);
        else
            ins.bind_null(8);
        ins.bind_static(9, r.model);
        ins.bind_static(10, r.model_sent);
        ins.bind_static(11, r.provider);
        ins.bind_static(12, r.credential);
        ins.bind(13, int64_t{r.attempts});
        ins.bind_static(14, r.attempt_detail);
        ins.bind(15, int64_t{r.status});
        ins.bind(16, int64_t{r.upstream_status});
        ins.bind_static(17, r.error);
        ins.bind_static(18, r.limit);
        ins.bind(19, int64_t{r.stream ? 1 : 0});
        ins.bind_known(20, r.input);
        ins.bind_known(21, r.output);
        ins.bind_known(22, r.cache_read);
        ins.bind_known(23, r.cache_write);
        ins.bind_known(24, r.reasoning);
        ins.bind_static(25, r.usage_state);
        if (r.ttfb_us >= 0) ins.bind(26, ms_of(r.ttfb_us)); else ins.bind_null(26);
        if (r.ttft_us >= 0) ins.bind(27, ms_of(r.ttft_us)); else ins.bind_null(27);
        ins.bind(28, ms_of(std::max<int64_t>(r.total_us, 0)));
        ins.bind(29, static_cast<int64_t>(std::min<uint64_t>(r.bytes_in, INT64_MAX)));
        ins.bind(30, static_cast<int64_t>(std::min<uint64_t>(r.bytes_out, INT64_MAX)));
        int rc = ins.step();
        ins.rewind();  // every parameter is bound again for the next row
        if (rc != SQLITE_DONE) return abort("insert");

        if (r.has_bodies) {
            body.bind(1, static_cast<int64_t>(sqlite3_last_insert_rowid(db_)));
            body.bind(2, r.ts_ms);
            body.bind_static(3, r.request_body);
            body.bind_static(4, r.response_body);
            body.bind(5, int64_t{r.request_truncated ? 1 : 0});
            body.bind(6, int64_t{r.response_truncated ? 1 : 0});
            rc = body.step();
            body.rewind();
            if (rc != SQLITE_DONE) return abort("insert body");
        }

        if (r.upstream) {
            // Unrouted names (no provider took them) are not kept apart, or
            // clients asking for made-up models would multiply the rows.
            std::string_view model = r.routed ? std::string_view(r.model) : std::string_view();
            std::string_view provider = r.routed ? std::string_view(r.provider) : std::string_view();
            std::string_view credential = r.routed ? std::string_view(r.credential) : std::string_view();
            RollupSums& s = rollups[RollupKey{hour_of(r.ts_ms), r.client, model, provider, credential}];
            s.requests += 1;
            s.errors += r.status >= 400 ? 1 : 0;
            s.input += known(r.input);
            s.output += known(r.output);
            s.cache_read += known(r.cache_read);
            s.cache_write += known(r.cache_write);
            s.reasoning += known(r.reasoning);
            s.total_ms += ms_of(std::max<int64_t>(r.total_us, 0));
        }
    }

    auto& up = st_->upsert_rollup;
    for (const auto& [key, s] : rollups) {
        up.bind(1, std::get<0>(key));
        up.bind_static(2, std::get<1>(key));
        up.bind_static(3, std::get<2>(key));
        up.bind_static(4, std::get<3>(key));
        up.bind_static(5, std::get<4>(key));
        up.bind(6, s.requests);
        up.bind(7, s.errors);
        up.bind(8, s.input);
        up.bind(9, s.output);
        up.bind(10, s.cache_read);
        up.bind(11, s.cache_write);
        up.bind(12, s.reasoning);
        up.bind(13, s.total_ms);
        int rc = up.step();
        up.reset();
        if (rc != SQLITE_DONE) return abort("rollup");
    }
    if (sql::exec(db_, "COMMIT") != SQLITE_OK) return abort("commit");
    return {};
}

Result<int> Database::run_chunk(const char* text, int64_t bound) {
    sql::Stmt st;
    if (st.prepare(db_, text) != SQLITE_OK) return fail("prepare").error();
    st.bind(1, bound);
    if (sqlite3_bind_parameter_count(st.get()) >= 2) st.bind(2, int64_t{kChunkRows});
    if (st.step() != SQLITE_DONE) return fail("delete").error();
    return sqlite3_changes(db_);
}

Result<bool> Database::expire(int64_t now_ms, const Retention& r) {
    if (db_ == nullptr) return Result<bool>::fail(SQLITE_MISUSE, "not open");
    int chunks = 0;
    // Requests, then bodies (a body goes with its row at the latest: they
    // share ts_ms), then rollups a day at a time.
    if (r.rows_ms > 0) {
        while (chunks < kChunksPerCall) {
            auto n = run_chunk("DELETE FROM requests WHERE id IN "
                               "(SELECT id FROM requests WHERE ts_ms < ?1 LIMIT ?2)",
                               now_ms - r.rows_ms);
            if (!n) return n.error();
            ++chunks;
            if (*n < kChunkRows) break;
        }
        if (chunks >= kChunksPerCall) return true;
    }
    int64_t body_cut = 0;
    if (r.bodies_ms > 0) body_cut = now_ms - r.bodies_ms;
    if (r.rows_ms > 0) body_cut = std::max(body_cut, now_ms - r.rows_ms);
    if (body_cut > 0) {
        while (chunks < kChunksPerCall) {
            auto n = run_chunk("DELETE FROM bodies WHERE id IN (SELECT id FROM bodies WHERE ts_ms < ?1 LIMIT ?2)",
                               body_cut);
            if (!n) return n.error();
            ++chunks;
            if (*n < kChunkRows) break;
        }
        if (chunks >= kChunksPerCall) return true;
    }
    if (r.rollups_ms > 0) {
        int64_t cut = hour_of(now_ms - r.rollups_ms);
        while (chunks < kChunksPerCall) {
            auto n = run_chunk("DELETE FROM rollups WHERE hour < min(?1, (SELECT min(hour) FROM rollups) + 86400)",
                               cut);
            if (!n) return n.error();
            ++chunks;
            if (*n == 0) break;
        }
        if (chunks >= kChunksPerCall) return true;
    }
    return false;
}

Result<bool> Database::trim(uint64_t max_size) {
    if (db_ == nullptr) return Result<bool>::fail(SQLITE_MISUSE, "not open");
    if (max_size == 0 || size_bytes() <= max_size) return false;
    const uint64_t target = max_size / 10 * 9;
    for (int chunks = 0; chunks < kChunksPerCall; ++chunks) {
        uint64_t live = live_bytes();
        if (live <= target) return false;
        int64_t first = sql::query_int(db_, "SELECT min(id) FROM requests", 0);
        int64_t newest = sql::query_int(db_, "SELECT max(id) FROM requests", 0);
        if (newest <= 0) return false;  // no rows left: what remains is rollups
        // As many of the oldest rows as the excess is a share of the live
        // pages (row numbers are nearly dense), at least 64, at most a chunk.
        double share = static_cast<double>(live - target) / static_cast<double>(live);
        auto n = static_cast<int64_t>(static_cast<double>(newest - first + 1) * share) + 1;
        int64_t last = first + std::clamp<int64_t>(n, 64, kChunkRows) - 1;
        if (sql::exec(db_, "BEGIN IMMEDIATE") != SQLITE_OK) return fail("begin").error();
        sql::Stmt bodies, requests;
        bool ok = bodies.prepare(db_, "DELETE FROM bodies WHERE id <= ?1") == SQLITE_OK;
        if (ok) {
            bodies.bind(1, last);
            ok = bodies.step() == SQLITE_DONE;
        }
        ok = ok && requests.prepare(db_, "DELETE FROM requests WHERE id <= ?1") == SQLITE_OK;
        if (ok) {
            requests.bind(1, last);
            ok = requests.step() == SQLITE_DONE;
        }
        bodies.finalize();
        requests.finalize();
        if (!ok || sql::exec(db_, "COMMIT") != SQLITE_OK) {
            Status st = fail("trim");
            if (sqlite3_get_autocommit(db_) == 0) sql::exec(db_, "ROLLBACK");
            return st.error();
        }
    }
    return live_bytes() > target;
}

Status Database::compact() {
    if (db_ == nullptr) return Status::fail(SQLITE_MISUSE, "not open");
    std::string vacuum = fmt::format("PRAGMA incremental_vacuum({})", kVacuumPages);
    for (int i = 0; i < kVacuumSteps; ++i) {
        if (sql::query_int(db_, "PRAGMA freelist_count", 0) <= 0) break;
        if (sql::exec(db_, vacuum.c_str()) != SQLITE_OK) return fail("incremental_vacuum");
    }
    // SQLITE_BUSY here means a reader still uses part of the WAL: the
    // checkpoint did what it could, and the next one does the rest.
    int rc = sql::exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) return fail("checkpoint");
    return {};
}

bool Database::replaced() const {
    if (db_ == nullptr) return false;
    struct stat sb {};
    if (::stat(path_.c_str(), &sb) != 0) return errno == ENOENT || errno == ENOTDIR;
    return static_cast<uint64_t>(sb.st_dev) != dev_ || static_cast<uint64_t>(sb.st_ino) != ino_;
}

uint64_t Database::live_bytes() const {
    if (db_ == nullptr) return 0;
    int64_t pages = sql::query_int(db_, "PRAGMA page_count", 0);
    int64_t free_pages = sql::query_int(db_, "PRAGMA freelist_count", 0);
    int64_t page = sql::query_int(db_, "PRAGMA page_size", 0);
    if (pages <= free_pages || page <= 0) return 0;
    return static_cast<uint64_t>(pages - free_pages) * static_cast<uint64_t>(page);
}

uint64_t Database::size_bytes() const {
    if (db_ == nullptr) return 0;
    int64_t pages = sql::query_int(db_, "PRAGMA page_count", 0);
    int64_t page = sql::query_int(db_, "PRAGMA page_size", 0);
    uint64_t total = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
    struct stat st {};
    if (::stat(wal_path_.c_str(), &st) == 0 && st.st_size > 0) total += static_cast<uint64_t>(st.st_size);
    return total;
}

}  // namespace agd::store
