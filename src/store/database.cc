// The writer's connection (store/database.h).
#include "store/database.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/core.h>

#include "daemon/parent_dir.h"
#include "store/batch.h"
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

constexpr const char* kInsertSegment =
    "INSERT INTO segments (first_row, rows, ts_min, ts_max, id_min, id_max, data) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

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

}  // namespace

struct Database::Statements {
    sql::Stmt insert_segment, insert_body, upsert_rollup;
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
    if (stmts->insert_segment.prepare(db_, kInsertSegment) != SQLITE_OK ||
        stmts->insert_body.prepare(db_, kInsertBody) != SQLITE_OK ||
        stmts->upsert_rollup.prepare(db_, kUpsertRollup) != SQLITE_OK) {
        Status st = fail("cannot prepare statements");
        close();
        return st;
    }
    st_ = std::move(stmts);
    // Numbers go on from the highest a segment or a body has.
    next_row_ = std::max(sql::query_int(db_, "SELECT coalesce(max(first_row + rows), 1) FROM segments", 1),
                         sql::query_int(db_, "SELECT coalesce(max(id) + 1, 1) FROM bodies", 1));
    return {};
}

void Database::close() {
    st_.reset();
    if (db_ == nullptr) return;
    sql::exec(db_, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close_v2(db_);
    db_ = nullptr;
}

Status Database::write(const Batch& batch) {
    if (db_ == nullptr || !st_) return Status::fail(SQLITE_MISUSE, "not open");
    if (batch.empty()) return {};
    if (sql::exec(db_, "BEGIN IMMEDIATE") != SQLITE_OK) return fail("begin");
    auto abort = [&](const char* what) {
        Status st = fail(what);
        if (sqlite3_get_autocommit(db_) == 0) sql::exec(db_, "ROLLBACK");
        return st;
    };

    // Numbers go on from the highest in the file, read inside the write
    // lock: another writer (a second daemon on the same file) may have added
    // rows since.
    const int64_t first =
        std::max({next_row_, sql::query_int(db_, "SELECT coalesce(max(first_row + rows), 1) FROM segments", 1),
                  sql::query_int(db_, "SELECT coalesce(max(id) + 1, 1) FROM bodies", 1)});
    auto& seg = st_->insert_segment;
    seg.bind(1, first);
    seg.bind(2, static_cast<int64_t>(batch.rows()));
    seg.bind(3, batch.ts_min());
    seg.bind(4, batch.ts_max());
    seg.bind(5, static_cast<int64_t>(batch.id_min()));
    seg.bind(6, static_cast<int64_t>(batch.id_max()));
    seg.bind_blob_static(7, batch.segment());
    int rc = seg.step();
    seg.rewind();
    if (rc != SQLITE_DONE) return abort("insert");

    auto& body = st_->insert_body;
    for (const auto& b : batch.bodies()) {
        body.bind(1, first + static_cast<int64_t>(b.index));
        body.bind(2, b.ts_ms);
        body.bind_static(3, b.bodies->request);
        body.bind_static(4, b.bodies->response);
        body.bind(5, int64_t{b.bodies->request_truncated ? 1 : 0});
        body.bind(6, int64_t{b.bodies->response_truncated ? 1 : 0});
        rc = body.step();
        body.rewind();
        if (rc != SQLITE_DONE) return abort("insert body");
    }

    auto& up = st_->upsert_rollup;
    for (const auto& [key, r] : batch.rollups()) {
        const RollupSums& s = r.sums;
        up.bind(1, r.hour);
        up.bind_static(2, r.client);
        up.bind_static(3, r.model);
        up.bind_static(4, r.provider);
        up.bind_static(5, r.credential);
        up.bind(6, s.requests);
        up.bind(7, s.errors);
        up.bind(8, s.input);
        up.bind(9, s.output);
        up.bind(10, s.cache_read);
        up.bind(11, s.cache_write);
        up.bind(12, s.reasoning);
        up.bind(13, static_cast<double>(s.total_us) / 1000.0);
        rc = up.step();
        up.reset();
        if (rc != SQLITE_DONE) return abort("rollup");
    }
    if (sql::exec(db_, "COMMIT") != SQLITE_OK) return abort("commit");
    next_row_ = first + static_cast<int64_t>(batch.rows());
    return {};
}

Result<int> Database::run_chunk(const char* text, int64_t bound, int64_t chunk) {
    sql::Stmt st;
    if (st.prepare(db_, text) != SQLITE_OK) return fail("prepare").error();
    st.bind(1, bound);
    if (sqlite3_bind_parameter_count(st.get()) >= 2) st.bind(2, chunk);
    if (st.step() != SQLITE_DONE) return fail("delete").error();
    return sqlite3_changes(db_);
}

Result<bool> Database::expire(int64_t now_ms, const Retention& r) {
    if (db_ == nullptr) return Result<bool>::fail(SQLITE_MISUSE, "not open");
    int chunks = 0;
    // Segments whose newest request is past the retention, then bodies (a
    // body goes with its row at the latest: they share ts_ms), then rollups
    // a day at a time.
    if (r.rows_ms > 0) {
        while (chunks < kChunksPerCall) {
            auto n = run_chunk("DELETE FROM segments WHERE first_row IN "
                               "(SELECT first_row FROM segments WHERE ts_max < ?1 LIMIT ?2)",
                               now_ms - r.rows_ms, kChunkSegments);
            if (!n) return n.error();
            ++chunks;
            if (*n < kChunkSegments) break;
        }
        if (chunks >= kChunksPerCall) return true;
    }
    int64_t body_cut = 0;
    if (r.bodies_ms > 0) body_cut = now_ms - r.bodies_ms;
    if (r.rows_ms > 0) body_cut = std::max(body_cut, now_ms - r.rows_ms);
    if (body_cut > 0) {
        while (chunks < kChunksPerCall) {
            auto n = run_chunk("DELETE FROM bodies WHERE id IN (SELECT id FROM bodies WHERE ts_ms < ?1 LIMIT ?2)",
                               body_cut, kChunkRows);
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
                               cut, 0);
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
        int64_t segments = sql::query_int(db_, "SELECT count(*) FROM segments", 0);
        if (segments <= 1) {
            // The newest segment stays (the last moments' requests); its
            // bodies, the bulk of a store that keeps them, go oldest first.
            if (sql::exec(db_, "DELETE FROM bodies WHERE id IN (SELECT id FROM bodies ORDER BY id LIMIT 64)") !=
                SQLITE_OK)
                return fail("trim").error();
            if (sqlite3_changes(db_) == 0) return false;  // what remains is one segment and the rollups
            continue;
        }
        // As many of the oldest segments as the excess is a share of the
        // live pages, at least one, never the newest, at most a chunk; the
        // bodies of their requests (numbers below the first one kept) go
        // with them.
        double share = static_cast<double>(live - target) / static_cast<double>(live);
        auto n = std::clamp<int64_t>(static_cast<int64_t>(static_cast<double>(segments) * share) + 1, 1,
                                     std::min<int64_t>(kChunkSegments, segments - 1));
        sql::Stmt bound;
        int64_t keep_from = next_row_;
        if (bound.prepare(db_, "SELECT first_row FROM segments ORDER BY first_row LIMIT 1 OFFSET ?1") != SQLITE_OK)
            return fail("trim").error();
        bound.bind(1, n);
        int rc = bound.step();
        if (rc == SQLITE_DONE) return false;  // fewer segments than counted: another writer trimmed meanwhile
        if (rc != SQLITE_ROW) return fail("trim").error();
        keep_from = bound.i64(0);
        bound.finalize();
        if (sql::exec(db_, "BEGIN IMMEDIATE") != SQLITE_OK) return fail("begin").error();
        sql::Stmt bodies, segs;
        bool ok = bodies.prepare(db_, "DELETE FROM bodies WHERE id < ?1") == SQLITE_OK;
        if (ok) {
            bodies.bind(1, keep_from);
            ok = bodies.step() == SQLITE_DONE;
        }
        ok = ok && segs.prepare(db_, "DELETE FROM segments WHERE first_row < ?1") == SQLITE_OK;
        if (ok) {
            segs.bind(1, keep_from);
            ok = segs.step() == SQLITE_DONE;
        }
        bodies.finalize();
        segs.finalize();
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
