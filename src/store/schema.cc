// The store's tables and their migrations (store/schema.h).
#include "store/schema.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>

#include <fmt/core.h>

#include "store/packed.h"
#include "store/sqlite_util.h"

namespace agd::store {

namespace {

// kMigrations[i] takes a database from version i to version i + 1. Never edit
// a released step: add one.
//
// requests.id is the row's number, in the order rows were written (oldest
// first, what size trimming deletes first); request_id is the daemon's id of
// the request, which starts again with every run of the daemon, so it is
// indexed but not unique. NULL token counts and times mean unknown.
constexpr const char* kV1 = R"sql(
CREATE TABLE requests (
  id INTEGER PRIMARY KEY,
  request_id INTEGER NOT NULL,
  ts_ms INTEGER NOT NULL,
  client TEXT NOT NULL,
  addr TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  op TEXT NOT NULL,
  protocol TEXT,
  model TEXT NOT NULL,
  model_sent TEXT NOT NULL,
  provider TEXT NOT NULL,
  credential TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  attempt_detail TEXT NOT NULL,
  status INTEGER NOT NULL,
  upstream_status INTEGER NOT NULL,
  error TEXT NOT NULL,
  limit_hit TEXT NOT NULL,
  stream INTEGER NOT NULL,
  input INTEGER,
  output INTEGER,
  cache_read INTEGER,
  cache_write INTEGER,
  reasoning INTEGER,
  usage_state TEXT NOT NULL,
  ttfb_ms REAL,
  ttft_ms REAL,
  total_ms REAL NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL
);
CREATE INDEX requests_ts ON requests (ts_ms);
CREATE INDEX requests_request_id ON requests (request_id);

CREATE TABLE bodies (
  id INTEGER PRIMARY KEY,
  ts_ms INTEGER NOT NULL,
  request TEXT,
  response TEXT,
  request_truncated INTEGER NOT NULL,
  response_truncated INTEGER NOT NULL
);
CREATE INDEX bodies_ts ON bodies (ts_ms);

CREATE TABLE rollups (
  hour INTEGER NOT NULL,
  client TEXT NOT NULL,
  model TEXT NOT NULL,
  provider TEXT NOT NULL,
  credential TEXT NOT NULL,
  requests INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  input INTEGER NOT NULL,
  output INTEGER NOT NULL,
  cache_read INTEGER NOT NULL,
  cache_write INTEGER NOT NULL,
  reasoning INTEGER NOT NULL,
  total_ms REAL NOT NULL,
  PRIMARY KEY (hour, client, model, provider, credential)
) WITHOUT ROWID;
)sql";

// Version 2: requests are kept in segments, many to one SQLite row (a
// packed-row blob, store/packed.h), numbered from first_row on; the v1
// requests table is converted (convert_v1_requests) and dropped. bodies
// keep their ids: a request's number is the same in both versions.
constexpr const char* kV2 = R"sql(
CREATE TABLE segments (
  first_row INTEGER PRIMARY KEY,
  rows INTEGER NOT NULL,
  ts_min INTEGER NOT NULL,
  ts_max INTEGER NOT NULL,
  id_min INTEGER NOT NULL,
  id_max INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX segments_ts ON segments (ts_max);
CREATE INDEX segments_id ON segments (id_max);
)sql";

struct Migration {
    const char* sql;
    Status (*then)(sqlite3* db);  // nullptr: the SQL is all
};

Status convert_v1_requests(sqlite3* db);

const Migration kMigrations[] = {{kV1, nullptr}, {kV2, convert_v1_requests}};
static_assert(std::size(kMigrations) == static_cast<size_t>(kSchemaVersion));

int64_t us_of(double ms) { return static_cast<int64_t>(std::llround(ms * 1000.0)); }

// Writes the v1 requests table's rows as segments of consecutive row
// numbers, then drops it. Inside the migration's transaction.
Status convert_v1_requests(sqlite3* db) {
    sql::Stmt sel, ins;
    if (sel.prepare(db, "SELECT id, request_id, ts_ms, client, addr, method, path, op, protocol, model, model_sent, "
                        "provider, credential, attempts, attempt_detail, status, upstream_status, error, limit_hit, "
                        "stream, input, output, cache_read, cache_write, reasoning, usage_state, ttfb_ms, ttft_ms, "
                        "total_ms, bytes_in, bytes_out, EXISTS (SELECT 1 FROM bodies b WHERE b.id = r.id) "
                        "FROM requests r ORDER BY id") != SQLITE_OK ||
        ins.prepare(db, "INSERT INTO segments (first_row, rows, ts_min, ts_max, id_min, id_max, data) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)") != SQLITE_OK)
        return Status::fail(sqlite3_extended_errcode(db), sql::message(db));
    std::string segment, packed;
    int64_t first = 0, next = 0, rows = 0, ts_min = 0, ts_max = 0, id_min = 0, id_max = 0;
    auto flush = [&]() -> bool {
        if (rows == 0) return true;
        ins.bind(1, first);
        ins.bind(2, rows);
        ins.bind(3, ts_min);
        ins.bind(4, ts_max);
        ins.bind(5, id_min);
        ins.bind(6, id_max);
        ins.bind_blob_static(7, segment);
        int rc = ins.step();
        ins.rewind();
        segment.clear();
        rows = 0;
        return rc == SQLITE_DONE;
    };
    int rc;
    while ((rc = sel.step()) == SQLITE_ROW) {
        int64_t id = sel.i64(0);
        if (rows > 0 && (id != next || rows >= 2048) && !flush()) break;
        std::string texts[13];
        const int text_cols[] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 17, 18};
        for (int i = 0; i < 13; ++i) texts[i] = sel.text(text_cols[i]);
        std::string usage_state = sel.text(25);
        PackedRow r;
        r.flags = static_cast<uint8_t>((sel.i64(19) != 0 ? kPackedStream : 0) |
                                       (sel.is_null(8) ? 0 : kPackedUpstream | kPackedProtocol) |
                                       (texts[9].empty() ? 0 : kPackedRouted) | (sel.i64(31) != 0 ? kPackedBodies : 0));
        r.request_id = static_cast<uint64_t>(sel.i64(1));
        r.ts_ms = sel.i64(2);
        r.client = texts[0];
        r.addr = texts[1];
        r.method = texts[2];
        r.path = texts[3];
        r.op = texts[4];
        r.protocol = texts[5];
        r.model = texts[6];
        r.model_sent = texts[7];
        r.provider = texts[8];
        r.credential = texts[9];
        r.attempts = static_cast<uint64_t>(std::max<int64_t>(sel.i64(13), 0));
        r.attempt_detail = texts[10];
        r.status = static_cast<uint64_t>(std::max<int64_t>(sel.i64(15), 0));
        r.upstream_status = static_cast<uint64_t>(std::max<int64_t>(sel.i64(16), 0));
        r.error = texts[11];
        r.limit = texts[12];
        r.input = sel.i64_or(20, -1);
        r.output = sel.i64_or(21, -1);
        r.cache_read = sel.i64_or(22, -1);
        r.cache_write = sel.i64_or(23, -1);
        r.reasoning = sel.i64_or(24, -1);
        r.usage_state = usage_state;
        r.ttfb_us = sel.is_null(26) ? -1 : us_of(sel.real(26));
        r.ttft_us = sel.is_null(27) ? -1 : us_of(sel.real(27));
        r.total_us = us_of(sel.real(28));
        r.bytes_in = static_cast<uint64_t>(std::max<int64_t>(sel.i64(29), 0));
        r.bytes_out = static_cast<uint64_t>(std::max<int64_t>(sel.i64(30), 0));
        pack(packed, r);
        if (rows == 0) {
            first = id;
            ts_min = ts_max = r.ts_ms;
            id_min = id_max = static_cast<int64_t>(r.request_id);
        } else {
            ts_min = std::min(ts_min, r.ts_ms);
            ts_max = std::max(ts_max, r.ts_ms);
            id_min = std::min(id_min, static_cast<int64_t>(r.request_id));
            id_max = std::max(id_max, static_cast<int64_t>(r.request_id));
        }
        append_to_segment(segment, packed);
        ++rows;
        next = id + 1;
    }
    if (rc != SQLITE_DONE || !flush()) return Status::fail(sqlite3_extended_errcode(db), sql::message(db));
    sel.finalize();
    if (sql::exec(db, "DROP TABLE requests") != SQLITE_OK)
        return Status::fail(sqlite3_extended_errcode(db), sql::message(db));
    return {};
}

Result<int64_t> pragma_value(sqlite3* db, const char* text) {
    sql::Stmt st;
    int rc = st.prepare(db, text);
    if (rc == SQLITE_OK) rc = st.step();
    if (rc != SQLITE_ROW) return Result<int64_t>::fail(sqlite3_extended_errcode(db), sql::message(db));
    return st.i64(0);
}

Status fail(sqlite3* db, std::string_view what) {
    return Status::fail(sqlite3_extended_errcode(db), fmt::format("{}: {}", what, sql::message(db)));
}

// The version of an antigravityd database, 0 for an empty one.
Result<int> check(sqlite3* db) {
    auto app = pragma_value(db, "PRAGMA application_id");
    if (!app) return app.error();
    auto version = pragma_value(db, "PRAGMA user_version");
    if (!version) return version.error();
    auto tables = pragma_value(db, "SELECT count(*) FROM sqlite_schema");
    if (!tables) return tables.error();
    if ((*app != 0 && *app != kApplicationId) || (*app == 0 && (*version != 0 || *tables != 0)))
        return Result<int>::fail(kErrForeign, "not an antigravityd database (another program's SQLite file)");
    if (*version > kSchemaVersion)
        return Result<int>::fail(kErrNewerSchema,
                                 fmt::format("written by a newer antigravityd (schema version {}, this one knows {})",
                                             *version, kSchemaVersion));
    return static_cast<int>(*version);
}

}  // namespace

Result<int> schema_version(sqlite3* db) { return check(db); }

Status prepare_database(sqlite3* db) {
    auto version = check(db);
    if (!version) return version.error();
    // Only takes effect before the first table is created: a database made
    // here always has it, so that deleted rows can be given back to the
    // file system (PRAGMA incremental_vacuum) without a full VACUUM.
    if (*version == 0 && sql::exec(db, "PRAGMA auto_vacuum = INCREMENTAL") != SQLITE_OK)
        return fail(db, "auto_vacuum");
    {
        sql::Stmt st;
        if (st.prepare(db, "PRAGMA journal_mode = WAL") != SQLITE_OK || st.step() != SQLITE_ROW)
            return fail(db, "journal_mode");
        if (st.text(0) != "wal")
            return Status::fail(SQLITE_CANTOPEN, fmt::format("cannot use WAL mode (journal mode stays {})", st.text(0)));
    }
    if (sql::exec(db, "PRAGMA synchronous = NORMAL") != SQLITE_OK) return fail(db, "synchronous");
    if (*version == kSchemaVersion) return {};

    if (sql::exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) return fail(db, "begin");
    // Again inside the transaction: another process may have migrated it meanwhile.
    auto current = check(db);
    if (!current) {
        sql::exec(db, "ROLLBACK");
        return current.error();
    }
    for (int v = *current; v < kSchemaVersion; ++v) {
        Status st;
        if (sql::exec(db, kMigrations[v].sql) != SQLITE_OK)
            st = fail(db, fmt::format("schema version {}", v + 1));
        else if (kMigrations[v].then != nullptr)
            if (auto done = kMigrations[v].then(db); !done)
                st = Status::fail(done.error().code, fmt::format("schema version {}: {}", v + 1, done.error().message));
        if (!st) {
            sql::exec(db, "ROLLBACK");
            return st;
        }
    }
    std::string stamp = fmt::format("PRAGMA user_version = {}; PRAGMA application_id = {};", kSchemaVersion,
                                    kApplicationId);
    if (sql::exec(db, stamp.c_str()) != SQLITE_OK || sql::exec(db, "COMMIT") != SQLITE_OK) {
        Status st = fail(db, "schema");
        sql::exec(db, "ROLLBACK");
        return st;
    }
    return {};
}

}  // namespace agd::store
