#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "store/database.h"
#include "store/row.h"
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

std::vector<std::unique_ptr<Row>> rows_of(const std::vector<agd::record::RequestRecord>& recs) {
    std::vector<std::unique_ptr<Row>> out;
    for (const auto& r : recs) {
        auto row = std::make_unique<Row>();
        fill_row(*row, r);
        out.push_back(std::move(row));
    }
    return out;
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
    CHECK(q(h, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('requests', 'bodies', 'rollups')") == 3);
    // Every index costs each insert: only time (the CLI's filters walk it) and the request id.
    CHECK(qs(h, "SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type = 'index' AND "
                "tbl_name = 'requests' AND sql IS NOT NULL ORDER BY name)") == "requests_request_id,requests_ts");
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

    auto rows = rows_of(recs);
    rows[0]->has_bodies = true;
    rows[0]->request_body = "{\"q\":1}";
    rows[0]->response_body = "{\"a\":2}";
    rows[0]->response_truncated = true;
    auto st = db.write(rows);
    REQUIRE_MESSAGE(st, (st ? "" : st.error().message));
    sqlite3* h = db.handle();

    CHECK(q(h, "SELECT count(*) FROM requests") == 6);
    CHECK(q(h, "SELECT count(*) FROM requests WHERE cache_read IS NULL") == 3);  // #2, #3, #5
    CHECK(q(h, "SELECT input FROM requests WHERE request_id = 1") == 100);
    CHECK(qs(h, "SELECT total_ms FROM requests WHERE request_id = 1") == "900.0");
    CHECK(qs(h, "SELECT ttft_ms FROM requests WHERE request_id = 1") == "150.0");
    CHECK(qs(h, "SELECT attempt_detail FROM requests WHERE request_id = 3") ==
          "openai/1a2b3c4d:429:rate_limited,claude/99990000:500:error");
    CHECK(q(h, "SELECT attempts FROM requests WHERE request_id = 3") == 2);
    CHECK(qs(h, "SELECT protocol FROM requests WHERE request_id = 6") == "<null>");
    CHECK(qs(h, "SELECT path FROM requests WHERE request_id = 6") == "/healthz");  // no query string: keys never
    CHECK(qs(h, "SELECT usage_state FROM requests WHERE request_id = 1") == "reported");
    CHECK(q(h, "SELECT count(*) FROM bodies") == 1);
    CHECK(qs(h, "SELECT b.response FROM bodies b JOIN requests r ON r.id = b.id WHERE r.request_id = 1") == "{\"a\":2}");
    CHECK(q(h, "SELECT response_truncated FROM bodies") == 1);
    CHECK(q(h, "SELECT request_truncated FROM bodies") == 0);

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
    REQUIRE(db.write(rows_of(more)));
    CHECK(q(h, "SELECT requests " + k0) == 3);
    CHECK(q(h, "SELECT input " + k0) == 300);
}

TEST_CASE("store schema: stored strings are cut on a character boundary") {
    std::string long_model(300, 'm');
    long_model[254] = '\xc3';  // "é" across the 256-byte bound
    long_model[255] = '\xa9';
    long_model[256] = '\xc3';
    long_model[257] = '\xa9';
    auto rec = store_test::record(1, 0, "alice", long_model);
    rec.error = std::string(5000, 'e');
    Row row;
    fill_row(row, rec);
    CHECK(row.model.size() == 256);
    CHECK(row.error.size() == kMaxErrorBytes);
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
    auto rows = rows_of(recs);
    for (auto& r : rows) {
        r->has_bodies = true;
        r->request_body = std::string(2000, 'b');
    }
    auto st = db.write(rows);
    REQUIRE_FALSE(st);
    CHECK((st.error().code & 0xff) == SQLITE_FULL);
    CHECK(q(db.handle(), "SELECT count(*) FROM requests") == 0);
    CHECK(sqlite3_get_autocommit(db.handle()) == 1);  // no transaction left open
}
