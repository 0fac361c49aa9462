#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "store/database.h"
#include "store/batch.h"
#include "store/packed.h"
#include "store/reader.h"
#include "store/schema.h"
#include "store/sqlite_util.h"
#include "support.h"

using namespace agd::store;
using store_test::TempDir;

namespace {

int64_t q(sqlite3* db, const std::string& text) { return sql::query_int(db, text.c_str(), -999); }

std::string qs(sqlite3* db, const std::string& text) {
    sql::Stmt st;
    if (st.prepare(db, text) != SQLITE_OK || st.step() != SQLITE_ROW) return "<none>";
    return st.is_null(0) ? "<null>" : st.text(0);
}

// A batch of `recs`; bodies[i], when given, are the i-th record's.
Batch batch_of(const std::vector<agd::record::RequestRecord>& recs, std::vector<std::unique_ptr<Bodies>> bodies = {}) {
    Batch b;
    std::string packed;
    for (size_t i = 0; i < recs.size(); ++i) {
        std::unique_ptr<Bodies> body = i < bodies.size() ? std::move(bodies[i]) : nullptr;
        pack_row(packed, recs[i], body != nullptr);
        REQUIRE(b.add(packed, std::move(body)));
    }
    return b;
}

// The stored request with this id (the only one).
LogEntry entry(const std::string& path, uint64_t id) {
    auto reader = Reader::open(path);
    REQUIRE_MESSAGE(reader, (reader ? "" : reader.error().message));
    auto found = reader->entries(id);
    REQUIRE(found);
    REQUIRE(found->size() == 1);
    CHECK(reader->damaged() == 0);
    return found->front();
}

size_t stored_rows(const std::string& path) {
    auto reader = Reader::open(path);
    REQUIRE(reader);
    LogQuery all;
    all.limit = 1'000'000;
    auto rows = reader->log(all);
    REQUIRE(rows);
    return rows->size();
}

}  // namespace

TEST_CASE("store schema: a new database is created with its pragmas and tables") {
    TempDir dir;
    std::string path = dir.file("sub/dir/agd.db");  // missing directories are created
    Database db;
    auto st = db.open(path);
    REQUIRE_MESSAGE(st, (st ? "" : st.error().message));
    sqlite3* h = db.handle();
    CHECK(q(h, "PRAGMA user_version") == kSchemaVersion);
    CHECK(q(h, "PRAGMA application_id") == kApplicationId);
    CHECK(q(h, "PRAGMA auto_vacuum") == 2);  // INCREMENTAL
    CHECK(qs(h, "PRAGMA journal_mode") == "wal");
    CHECK(q(h, "PRAGMA synchronous") == 1);  // NORMAL
    CHECK(q(h, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('segments', 'bodies', 'rollups')") == 3);
    CHECK(q(h, "SELECT count(*) FROM sqlite_schema WHERE name = 'requests'") == 0);
    CHECK(qs(h, "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type = 'index' AND "
                "tbl_name = 'segments' AND sql IS NOT NULL ORDER BY name)") == "segments_id,segments_ts");
    struct stat sb {};
    REQUIRE(::stat(path.c_str(), &sb) == 0);
    CHECK((sb.st_mode & 0777) == 0640);
    REQUIRE(::stat(dir.file("sub/dir").c_str(), &sb) == 0);
    CHECK(S_ISDIR(sb.st_mode));
    CHECK((sb.st_mode & 0007) == 0);  // 0750 less the umask
    db.close();

    // Opening it again changes nothing.
    Database again;
    REQUIRE(again.open(path));
    CHECK(q(again.handle(), "PRAGMA user_version") == kSchemaVersion);
    again.close();
    // The WAL and its index stay after close (PERSIST_WAL), emptied by the last checkpoint.
    CHECK(std::filesystem::exists(path + "-wal"));
    CHECK(std::filesystem::exists(path + "-shm"));
    CHECK(store_test::file_size(path + "-wal") == 0);
}

TEST_CASE("store schema: another program's database, a newer schema and garbage are refused") {
    TempDir dir;
    {
        std::string path = dir.file("other.db");
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &h) == SQLITE_OK);
        sql::exec(h, "CREATE TABLE notes (x)");
        sqlite3_close(h);
        Database db;
        auto st = db.open(path);
        REQUIRE_FALSE(st);
        CHECK(st.error().code == kErrForeign);
        CHECK_FALSE(db.is_open());
    }
    {
        std::string path = dir.file("newer.db");
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &h) == SQLITE_OK);
        sql::exec(h, "PRAGMA application_id = 1095189553; PRAGMA user_version = 99; CREATE TABLE future (x)");
        sqlite3_close(h);
        Database db;
        auto st = db.open(path);
        REQUIRE_FALSE(st);
        CHECK(st.error().code == kErrNewerSchema);
    }
    {
        std::string path = dir.file("garbage.db");
        std::ofstream(path) << std::string(8192, 'x');
        Database db;
        auto st = db.open(path);
        REQUIRE_FALSE(st);
        CHECK((st.error().code & 0xff) == SQLITE_NOTADB);
    }
}

TEST_CASE("store schema: rows, bodies and hourly rollups for a known set of records") {
    TempDir dir;
    Database db;
    REQUIRE(db.open(dir.file("agd.db")));
    const int64_t hour = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
    std::vector<agd::record::RequestRecord> recs;
    recs.push_back(store_test::record(1, hour + 1000));
    recs.push_back(store_test::record(2, hour + 2000));
    recs.back().usage.cache_read = -1;  // unknown counts as 0 in the rollups, NULL in the row
    recs.back().usage.reasoning = -1;
    recs.push_back(store_test::record(3, hour + 3000));  // a 429 after a failover
    recs.back().status = 429;
    recs.back().upstream_status = 429;
    recs.back().credential = "5e6f7a8b";
    recs.back().attempts = {{0, "1a2b3c4d", 429, agd::record::AttemptOutcome::RateLimited},
                            {1, "99990000", 500, agd::record::AttemptOutcome::UpstreamError}};
    recs.back().usage = {};
    recs.back().error = "rate limited";
    recs.push_back(store_test::record(4, hour + 3'600'000 + 5));  // the next hour
    recs.push_back(store_test::record(5, hour + 4000, "bob", "made-up-model"));  // no provider took it
    recs.back().provider = -1;
    recs.back().provider_name.clear();
    recs.back().credential.clear();
    recs.back().attempts.clear();
    recs.back().status = 404;
    recs.back().usage = {};
    recs.push_back(store_test::record(6, hour + 5000, "bob", "whatever"));  // a health check: not in the rollups
    recs.back().upstream = false;
    recs.back().op = agd::Operation::Health;
    recs.back().path = "/healthz?key=SECRET";
    recs.back().provider = -1;

    std::vector<std::unique_ptr<Bodies>> bodies;
    bodies.push_back(std::make_unique<Bodies>());
    bodies[0]->request = "{\"q\":1}";
    bodies[0]->response = "{\"a\":2}";
    bodies[0]->response_truncated = true;
    auto st = db.write(batch_of(recs, std::move(bodies)));
    REQUIRE_MESSAGE(st, (st ? "" : st.error().message));
    sqlite3* h = db.handle();

    // One segment holds the six, numbered 1 to 6.
    CHECK(q(h, "SELECT count(*) FROM segments") == 1);
    CHECK(q(h, "SELECT rows FROM segments") == 6);
    CHECK(q(h, "SELECT first_row FROM segments") == 1);
    CHECK(q(h, "SELECT ts_min FROM segments") == hour + 1000);
    CHECK(q(h, "SELECT ts_max FROM segments") == hour + 3'600'000 + 5);
    CHECK(qs(h, "SELECT id_min || '-' || id_max FROM segments") == "1-6");
    CHECK(db.next_row() == 7);
    std::string path = dir.file("agd.db");
    CHECK(stored_rows(path) == 6);
    LogEntry e1 = entry(path, 1);
    CHECK(e1.row.row == 1);
    CHECK(e1.row.input == 100);
    CHECK(e1.row.total_ms == 900.0);
    CHECK(e1.row.ttft_ms == 150.0);
    CHECK(e1.row.usage_state == "reported");
    // One plain attempt is not spelled out in the row; the reader gives it back.
    CHECK(e1.row.attempt_detail == "openai/1a2b3c4d:200:ok");
    CHECK(e1.row.attempts == 1);
    CHECK(e1.has_bodies);
    CHECK(e1.request_body == "{\"q\":1}");
    CHECK(e1.response_body == "{\"a\":2}");
    CHECK(e1.response_truncated);
    CHECK_FALSE(e1.request_truncated);
    CHECK(entry(path, 2).row.cache_read == -1);  // unknown stays unknown
    LogEntry e3 = entry(path, 3);
    CHECK(e3.row.row == 3);
    CHECK(e3.row.attempt_detail == "openai/1a2b3c4d:429:rate_limited,claude/99990000:500:error");
    CHECK(e3.row.attempts == 2);
    CHECK(e3.row.status == 429);
    CHECK(e3.row.error == "rate limited");
    CHECK_FALSE(e3.has_bodies);
    LogEntry e6 = entry(path, 6);
    CHECK(e6.row.protocol.empty());
    CHECK(e6.row.path == "/healthz");  // no query string: keys never
    CHECK(q(h, "SELECT count(*) FROM bodies") == 1);
    CHECK(q(h, "SELECT id FROM bodies") == 1);

    // Rollups: (hour, alice, gpt-4o, openai, 1a2b3c4d) holds #1 and #2;
    // #3 has its own credential; #4 the next hour; #5 is unrouted: no model.
    CHECK(q(h, "SELECT count(*) FROM rollups") == 4);
    int64_t h0 = hour / 1000;
    std::string k0 = fmt::format("FROM rollups WHERE hour = {} AND client = 'alice' AND credential = '1a2b3c4d'", h0);
    CHECK(q(h, "SELECT requests " + k0) == 2);
    CHECK(q(h, "SELECT input " + k0) == 200);
    CHECK(q(h, "SELECT output " + k0) == 40);
    CHECK(q(h, "SELECT cache_read " + k0) == 50);
    CHECK(q(h, "SELECT reasoning " + k0) == 5);
    CHECK(q(h, "SELECT errors " + k0) == 0);
    CHECK(qs(h, "SELECT total_ms " + k0) == "1800.0");
    CHECK(q(h, fmt::format("SELECT errors FROM rollups WHERE hour = {} AND credential = '5e6f7a8b'", h0)) == 1);
    CHECK(q(h, fmt::format("SELECT requests FROM rollups WHERE hour = {}", h0 + 3600)) == 1);
    CHECK(q(h, "SELECT count(*) FROM rollups WHERE client = 'bob'") == 1);
    CHECK(qs(h, "SELECT model || '|' || provider || '|' || credential FROM rollups WHERE client = 'bob'") == "||");

    // A second batch adds to the same rollup rows (upsert).
    std::vector<agd::record::RequestRecord> more{store_test::record(7, hour + 9000)};
    REQUIRE(db.write(batch_of(more)));
    CHECK(q(h, "SELECT requests " + k0) == 3);
    CHECK(q(h, "SELECT input " + k0) == 300);
    CHECK(q(h, "SELECT first_row FROM segments ORDER BY first_row DESC LIMIT 1") == 7);
    CHECK(entry(path, 7).row.row == 7);
}

TEST_CASE("store schema: stored strings are cut on a character boundary") {
    std::string long_model(300, 'm');
    long_model[254] = '\xc3';  // "é" across the 256-byte bound
    long_model[255] = '\xa9';
    long_model[256] = '\xc3';
    long_model[257] = '\xa9';
    auto rec = store_test::record(1, 0, "alice", long_model);
    rec.error = std::string(5000, 'e');
    std::string long_path = "/v1/" + std::string(2000, 'p');
    rec.path = long_path;
    std::string packed;
    pack_row(packed, rec, false);
    PackedRow row;
    REQUIRE(unpack_row(packed, row));
    CHECK(row.model.size() == 256);
    CHECK(row.error.size() == kMaxErrorBytes);
    CHECK(row.path.size() == kMaxPathBytes);
    CHECK(cut_utf8("ab\xc3\xa9", 3) == "ab");
    CHECK(cut_utf8("ab\xc3\xa9", 4) == "ab\xc3\xa9");
    CHECK(cut_utf8("\xe2\x82\xac\xe2\x82\xac", 5) == "\xe2\x82\xac");
    CHECK(cut_utf8("abc", 0).empty());
}

TEST_CASE("store schema: a full database fails the batch with SQLITE_FULL and rolls it back") {
    TempDir dir;
    Database db;
    REQUIRE(db.open(dir.file("agd.db")));
    int64_t pages = q(db.handle(), "PRAGMA page_count");
    sql::exec(db.handle(), fmt::format("PRAGMA max_page_count = {}", pages + 2).c_str());
    std::vector<agd::record::RequestRecord> recs;
    for (int i = 0; i < 200; ++i) recs.push_back(store_test::record(static_cast<uint64_t>(i), 1000 + i));
    std::vector<std::unique_ptr<Bodies>> bodies;
    for (size_t i = 0; i < recs.size(); ++i) {
        bodies.push_back(std::make_unique<Bodies>());
        bodies.back()->request = std::string(2000, 'b');
    }
    auto st = db.write(batch_of(recs, std::move(bodies)));
    REQUIRE_FALSE(st);
    CHECK((st.error().code & 0xff) == SQLITE_FULL);
    CHECK(q(db.handle(), "SELECT count(*) FROM segments") == 0);
    CHECK(db.next_row() == 1);  // the numbers were not used
    CHECK(sqlite3_get_autocommit(db.handle()) == 1);  // no transaction left open
}

TEST_CASE("store schema: a version 1 database is upgraded, its requests kept with their numbers") {
    TempDir dir;
    std::string path = dir.file("v1.db");
    {
        // Version 1 as released: one SQL row per request.
        sqlite3* h = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &h) == SQLITE_OK);
        REQUIRE(sql::exec(h, R"sql(
PRAGMA auto_vacuum = INCREMENTAL;
PRAGMA journal_mode = WAL;
CREATE TABLE requests (id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
  client TEXT NOT NULL, addr TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, op TEXT NOT NULL,
  protocol TEXT, model TEXT NOT NULL, model_sent TEXT NOT NULL, provider TEXT NOT NULL, credential TEXT NOT NULL,
  attempts INTEGER NOT NULL, attempt_detail TEXT NOT NULL, status INTEGER NOT NULL,
  upstream_status INTEGER NOT NULL, error TEXT NOT NULL, limit_hit TEXT NOT NULL, stream INTEGER NOT NULL,
  input INTEGER, output INTEGER, cache_read INTEGER, cache_write INTEGER, reasoning INTEGER,
  usage_state TEXT NOT NULL, ttfb_ms REAL, ttft_ms REAL, total_ms REAL NOT NULL, bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL);
CREATE INDEX requests_ts ON requests (ts_ms);
CREATE INDEX requests_request_id ON requests (request_id);
CREATE TABLE bodies (id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, request TEXT, response TEXT,
  request_truncated INTEGER NOT NULL, response_truncated INTEGER NOT NULL);
CREATE INDEX bodies_ts ON bodies (ts_ms);
CREATE TABLE rollups (hour INTEGER NOT NULL, client TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
  credential TEXT NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL, input INTEGER NOT NULL,
  output INTEGER NOT NULL, cache_read INTEGER NOT NULL, cache_write INTEGER NOT NULL, reasoning INTEGER NOT NULL,
  total_ms REAL NOT NULL, PRIMARY KEY (hour, client, model, provider, credential)) WITHOUT ROWID;
INSERT INTO requests VALUES (5, 41, 1000, 'alice', '10.0.0.1', 'POST', '/v1/chat/completions', 'chat',
  'openai', 'gpt-4o', 'gpt-4o', 'openai', '1a2b3c4d', 1, 'openai/1a2b3c4d:200:ok', 200, 200, '', '', 1,
  100, 20, NULL, 0, 5, 'reported', 12.5, 30.25, 900.0, 300, 4000);
INSERT INTO requests VALUES (6, 42, 2000, 'bob', '10.0.0.2', 'GET', '/healthz', 'health',
  NULL, '', '', '', '', 0, '', 200, 0, '', '', 0, NULL, NULL, NULL, NULL, NULL, 'none', NULL, NULL, 0.5, 0, 2);
INSERT INTO requests VALUES (9, 43, 3000, 'alice', '10.0.0.1', 'POST', '/v1/messages', 'messages',
  'anthropic', 'claude-x', 'claude-x', 'claude', '5e6f7a8b', 2, 'a/b:500:error,c/d:502:error', 502, 502,
  'upstream failed', '', 0, NULL, NULL, NULL, NULL, NULL, 'missing', NULL, NULL, 40.0, 10, 20);
INSERT INTO bodies VALUES (9, 3000, '{"q":1}', '{"error":1}', 0, 1);
INSERT INTO rollups VALUES (0, 'alice', 'gpt-4o', 'openai', '1a2b3c4d', 1, 0, 100, 20, 0, 0, 5, 900.0);
PRAGMA user_version = 1;
PRAGMA application_id = 1095189553;
)sql") == SQLITE_OK);
        sqlite3_close(h);
    }
    {
        auto reader = Reader::open(path);  // before the daemon upgrades it: usage yes, requests no
        REQUIRE(reader);
        CHECK_FALSE(reader->log(LogQuery{}));
        auto usage = reader->usage(UsageQuery{});
        REQUIRE(usage);
        CHECK(usage->size() == 1);
    }
    Database db;
    auto st = db.open(path);
    REQUIRE_MESSAGE(st, (st ? "" : st.error().message));
    CHECK(q(db.handle(), "PRAGMA user_version") == kSchemaVersion);
    CHECK(q(db.handle(), "SELECT count(*) FROM sqlite_schema WHERE name = 'requests'") == 0);
    CHECK(q(db.handle(), "SELECT count(*) FROM segments") == 2);  // 5-6, then 9 (numbers kept)
    CHECK(db.next_row() == 10);
    LogEntry a = entry(path, 41);
    CHECK(a.row.row == 5);
    CHECK(a.row.client == "alice");
    CHECK(a.row.protocol == "openai");
    CHECK(a.row.stream);
    CHECK(a.row.input == 100);
    CHECK(a.row.cache_read == -1);
    CHECK(a.row.cache_write == 0);
    CHECK(a.row.ttfb_ms == 12.5);
    CHECK(a.row.ttft_ms == 30.25);
    CHECK(a.row.total_ms == 900.0);
    CHECK(a.row.bytes_out == 4000);
    CHECK_FALSE(a.has_bodies);
    LogEntry b = entry(path, 42);
    CHECK(b.row.row == 6);
    CHECK(b.row.protocol.empty());
    CHECK(b.row.ttfb_ms == -1);
    LogEntry c = entry(path, 43);
    CHECK(c.row.row == 9);
    CHECK(c.row.status == 502);
    CHECK(c.row.error == "upstream failed");
    CHECK(c.row.attempt_detail == "a/b:500:error,c/d:502:error");
    CHECK(c.has_bodies);
    CHECK(c.response_body == "{\"error\":1}");
    CHECK(c.response_truncated);
    // New requests go on after the old numbers.
    REQUIRE(db.write(batch_of({store_test::record(44, 4000)})));
    CHECK(entry(path, 44).row.row == 10);
}
