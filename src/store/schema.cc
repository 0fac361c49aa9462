// The store's tables and their migrations (store/schema.h).
#include "store/schema.h"

#include <iterator>
#include <string>

#include <fmt/core.h>

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

constexpr const char* kMigrations[] = {kV1};
static_assert(std::size(kMigrations) == static_cast<size_t>(kSchemaVersion));

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
        if (sql::exec(db, kMigrations[v]) != SQLITE_OK) {
            Status st = fail(db, fmt::format("schema version {}", v + 1));
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
