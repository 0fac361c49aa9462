#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "store/database.h"
#include "store/reader.h"
#include "store/sqlite_util.h"
#include "store/writer.h"
#include "support.h"

using namespace agd::store;
using namespace std::chrono_literals;
using agd::config::LogBodies;
using store_test::TempDir;

namespace {

int64_t count(const std::string& path, const std::string& text) {
    sqlite3* h = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    int64_t n = sql::query_int(h, text.c_str(), -999);
    sqlite3_close(h);
    return n;
}

// The requests in the store, newest first.
std::vector<LogRow> stored(const std::string& path) {
    auto reader = Reader::open(path);
    REQUIRE_MESSAGE(reader, (reader ? "" : reader.error().message));
    LogQuery all;
    all.limit = 1'000'000;
    auto rows = reader->log(all);
    REQUIRE(rows);
    CHECK(reader->damaged() == 0);
    return std::move(*rows);
}

int64_t stored_count(const std::string& path) { return static_cast<int64_t>(stored(path).size()); }

uint64_t min_id(const std::vector<LogRow>& rows) {
    uint64_t m = UINT64_MAX;
    for (const auto& r : rows) m = std::min(m, r.request_id);
    return m;
}

uint64_t max_id(const std::vector<LogRow>& rows) {
    uint64_t m = 0;
    for (const auto& r : rows) m = std::max(m, r.request_id);
    return m;
}

bool has_bodies(const std::string& path, uint64_t id) {
    auto reader = Reader::open(path);
    REQUIRE(reader);
    auto found = reader->entries(id);
    REQUIRE(found);
    REQUIRE(found->size() == 1);
    return found->front().has_bodies;
}

}  // namespace

TEST_CASE("store writer: records queued without a thread are written by flush()") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    Writer w(store_test::log_config(path));
    int64_t now = store_test::now_ms();
    for (uint64_t i = 1; i <= 10; ++i) w.on_complete(store_test::record(i, now));
    CHECK(w.stats().queue_depth == 10);
    CHECK(w.flush());
    auto s = w.stats();
    CHECK(s.written == 10);
    CHECK(s.queue_depth == 0);
    CHECK(s.dropped == 0);
    CHECK(s.errors == 0);
    CHECK(s.db_ok);
    CHECK(stored_count(path) == 10);
    CHECK(count(path, "SELECT count(*) FROM segments") == 1);  // one batch, one segment
}

TEST_CASE("store writer: each worker has its lane; a full lane drops and counts, never blocks") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    WriterOptions opts;
    opts.workers = 2;
    opts.lane_bytes = 4096;  // a few records
    Writer w(store_test::log_config(path), opts);
    auto from = [&](uint64_t id, unsigned worker) {
        auto r = store_test::record(id, store_test::now_ms());
        r.worker = worker;
        return r;
    };
    for (uint64_t i = 1; i <= 100; ++i) w.on_complete(from(i, 0));
    auto s = w.stats();
    CHECK(s.dropped > 0);
    CHECK(s.queue_depth > 0);
    CHECK(s.queue_depth + s.dropped == 100);
    // Worker 1's lane is its own: not full.
    w.on_complete(from(1001, 1));
    CHECK(w.stats().dropped == s.dropped);
    // A worker index the writer was not made for is dropped, counted.
    w.on_complete(from(2001, 2));
    CHECK(w.stats().dropped == s.dropped + 1);
    CHECK(w.flush());
    auto rows = stored(path);
    CHECK(rows.size() == s.queue_depth + 1);
    CHECK(w.stats().written == rows.size());
    CHECK(max_id(rows) == 1001);
    // After a flush the lane takes records again.
    w.on_complete(from(101, 0));
    CHECK(w.flush());
    CHECK(w.stats().dropped == s.dropped + 1);
    CHECK(stored_count(path) == static_cast<int64_t>(s.queue_depth) + 2);
}

TEST_CASE("store writer: bodies travel apart from their row and are freed when not written") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.bodies = LogBodies::All;
    {
        Writer w(cfg);
        for (uint64_t i = 1; i <= 6; ++i) {
            auto r = store_test::record(i, store_test::now_ms());
            r.request_body = std::string(10000, 'q');
            w.on_complete(r);
        }
        CHECK(w.flush());
        CHECK(count(path, "SELECT count(*) FROM bodies") == 6);
        auto r = store_test::record(7, store_test::now_ms());
        r.request_body = "left in the lane";
        w.on_complete(r);
    }  // destroyed with a record (and its bodies) never written: freed (AddressSanitizer would say)
    CHECK(count(path, "SELECT count(*) FROM bodies") == 6);
}

TEST_CASE("store writer: bodies follow [log] bodies and body_max") {
    TempDir dir;
    auto make = [](uint64_t id, int status) {
        auto r = store_test::record(id, store_test::now_ms());
        r.status = status;
        r.request_body = "{\"messages\":\"0123456789abcdef\"}";  // 32 bytes
        r.response_body = "short";
        return r;
    };
    SUBCASE("off") {
        std::string path = dir.file("off.db");
        auto cfg = store_test::log_config(path);
        cfg.bodies = LogBodies::Off;
        Writer w(cfg);
        w.on_complete(make(1, 200));
        w.on_complete(make(2, 500));
        w.flush();
        CHECK(count(path, "SELECT count(*) FROM bodies") == 0);
        CHECK(stored_count(path) == 2);
    }
    SUBCASE("errors") {
        std::string path = dir.file("errors.db");
        auto cfg = store_test::log_config(path);
        cfg.bodies = LogBodies::Errors;
        Writer w(cfg);
        w.on_complete(make(1, 200));
        w.on_complete(make(2, 502));
        auto failed = make(3, 200);  // a stream that failed after its 200
        failed.error = "upstream stream cut";
        w.on_complete(failed);
        w.flush();
        CHECK(count(path, "SELECT count(*) FROM bodies") == 2);
        CHECK_FALSE(has_bodies(path, 1));
        CHECK(has_bodies(path, 2));
        CHECK(has_bodies(path, 3));
    }
    SUBCASE("all, cut to body_max and marked") {
        std::string path = dir.file("all.db");
        auto cfg = store_test::log_config(path);
        cfg.bodies = LogBodies::All;
        cfg.body_max = 10;
        Writer w(cfg);
        w.on_complete(make(1, 200));
        auto pre_cut = make(2, 200);  // the request path had already cut the answer
        pre_cut.response_truncated = true;
        w.on_complete(pre_cut);
        w.flush();
        CHECK(count(path, "SELECT count(*) FROM bodies") == 2);
        CHECK(count(path, "SELECT length(request) FROM bodies WHERE request_truncated = 1 LIMIT 1") == 10);
        CHECK(count(path, "SELECT count(*) FROM bodies WHERE request_truncated = 1") == 2);
        CHECK(count(path, "SELECT count(*) FROM bodies WHERE response_truncated = 1") == 1);
        CHECK(count(path, "SELECT count(*) FROM bodies WHERE response = 'short'") == 2);
    }
    SUBCASE("reconfigure applies to the next records") {
        std::string path = dir.file("reload.db");
        Writer w(store_test::log_config(path));
        w.on_complete(make(1, 500));
        auto cfg = store_test::log_config(path);
        cfg.bodies = LogBodies::All;
        CHECK(w.reconfigure(cfg).empty());
        w.on_complete(make(2, 500));
        cfg.database = dir.file("elsewhere.db");
        CHECK(w.reconfigure(cfg).find("until antigravityd restarts") != std::string::npos);
        w.flush();
        CHECK(count(path, "SELECT count(*) FROM bodies") == 1);
        CHECK_FALSE(std::filesystem::exists(dir.file("elsewhere.db")));
    }
}

TEST_CASE("store writer: retention deletes old rows, bodies and rollups") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.bodies = LogBodies::All;
    cfg.retention = std::chrono::milliseconds(30LL * 86'400'000);
    cfg.body_retention = std::chrono::milliseconds(86'400'000);
    cfg.rollup_retention = std::chrono::milliseconds(400LL * 86'400'000);
    Writer w(cfg);
    int64_t now = store_test::now_ms();
    const int64_t day = 86'400'000;
    auto with_body = [](agd::record::RequestRecord r) {
        r.request_body = "{}";
        return r;
    };
    // One batch each: rows go by segment, when its newest request passes
    // the retention (a segment is one batch: a fraction of a second).
    w.on_complete(with_body(store_test::record(1, now - 500 * day)));  // past every retention
    w.flush();
    w.on_complete(with_body(store_test::record(2, now - 40 * day)));   // past the rows' (its rollup stays)
    w.flush();
    w.on_complete(with_body(store_test::record(3, now - 2 * day)));    // past the bodies'
    w.flush();
    w.on_complete(with_body(store_test::record(4, now)));
    w.flush();
    CHECK(stored_count(path) == 4);
    CHECK(count(path, "SELECT count(*) FROM bodies") == 4);
    CHECK(count(path, "SELECT count(*) FROM rollups") == 4);
    w.maintain_now();
    CHECK(stored_count(path) == 2);
    CHECK(min_id(stored(path)) == 3);
    CHECK(count(path, "SELECT count(*) FROM bodies") == 1);
    CHECK(count(path, "SELECT count(*) FROM rollups") == 3);
    CHECK(w.stats().errors == 0);
}

TEST_CASE("store writer: max_size trims the oldest rows and the file shrinks") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.bodies = LogBodies::All;
    cfg.max_size = 0;  // no bound while filling
    Writer w(cfg);
    int64_t now = store_test::now_ms();
    std::string body(4000, 'x');
    for (uint64_t i = 1; i <= 1500; ++i) {
        auto r = store_test::record(i, now - 100'000 + static_cast<int64_t>(i));
        r.request_body = body;
        r.response_body = body;
        w.on_complete(r);
        if (i % 100 == 0) w.flush();  // segments of 100
    }
    w.flush();
    w.maintain_now();  // checkpoints: the file holds everything
    uint64_t before = store_test::file_size(path);
    CHECK(before > (8u << 20));

    cfg.max_size = 1u << 20;
    w.reconfigure(cfg);
    w.maintain_now();
    uint64_t after = store_test::file_size(path);
    CHECK(after < (1u << 20));
    CHECK(after + store_test::file_size(path + "-wal") <= (1u << 20));
    CHECK(w.stats().db_bytes <= (1u << 20));
    // The newest rows stay, the oldest went, and bodies went with their rows.
    auto rows = stored(path);
    CHECK(max_id(rows) == 1500);
    CHECK(min_id(rows) > 1000);
    // Bodies went with their rows (or before them): none is older than the oldest row.
    CHECK(count(path, "SELECT count(*) FROM bodies WHERE id < (SELECT min(first_row) FROM segments)") == 0);
    CHECK(count(path, "SELECT sum(requests) FROM rollups") == 1500);  // rollups are not trimmed
}

TEST_CASE("store writer: max_size keeps the newest batch's requests and trims its bodies") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.bodies = LogBodies::All;
    cfg.max_size = 0;
    Writer w(cfg);
    int64_t now = store_test::now_ms();
    std::string body(8000, 'x');
    for (uint64_t i = 1; i <= 300; ++i) {
        auto r = store_test::record(i, now);
        r.request_body = body;
        w.on_complete(r);
    }
    w.flush();  // one segment
    w.maintain_now();
    CHECK(store_test::file_size(path) > (2u << 20));
    cfg.max_size = 1u << 20;
    w.reconfigure(cfg);
    w.maintain_now();
    CHECK(store_test::file_size(path) + store_test::file_size(path + "-wal") <= (1u << 20));
    CHECK(stored_count(path) == 300);  // every request is still there
    int64_t bodies = count(path, "SELECT count(*) FROM bodies");
    CHECK(bodies > 0);
    CHECK(bodies < 300);
    CHECK(count(path, "SELECT min(id) FROM bodies") == 301 - bodies);  // the oldest went first
}

TEST_CASE("store writer: a file that is not a database is counted, never fatal, and retried") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    std::ofstream(path) << std::string(4096, 'g');
    WriterOptions opts;
    opts.retry_interval = 1h;
    Writer w(store_test::log_config(path), opts);
    w.on_complete(store_test::record(1, store_test::now_ms()));
    w.on_complete(store_test::record(2, store_test::now_ms()));
    w.flush();
    auto s = w.stats();
    CHECK_FALSE(s.db_ok);
    CHECK(s.errors == 1);
    CHECK(s.lost == 2);
    CHECK(s.written == 0);
    // Not retried before retry_interval.
    w.on_complete(store_test::record(3, store_test::now_ms()));
    w.flush();
    CHECK(w.stats().errors == 1);
    CHECK(w.stats().lost == 3);
    w.maintain_now();
    CHECK(w.stats().errors == 1);
}

TEST_CASE("store writer: a repaired database is picked up again without a restart") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    std::ofstream(path) << std::string(4096, 'g');
    WriterOptions opts;
    opts.retry_interval = 0ms;
    Writer w(store_test::log_config(path), opts);
    w.on_complete(store_test::record(1, store_test::now_ms()));
    w.flush();
    CHECK(w.stats().lost == 1);
    std::filesystem::remove(path);  // the administrator moves the damaged file away
    w.on_complete(store_test::record(2, store_test::now_ms()));
    w.flush();
    CHECK(w.stats().db_ok);
    CHECK(w.stats().written == 1);
    auto rows = stored(path);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].request_id == 2);
}

TEST_CASE("store writer: a database removed by hand is created again") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    Writer w(store_test::log_config(path));
    w.on_complete(store_test::record(1, store_test::now_ms()));
    w.flush();
    std::filesystem::remove(path);  // -wal and -shm stay behind
    w.maintain_now();               // notices, closes (emptying the WAL)
    CHECK_FALSE(w.stats().db_ok);
    w.on_complete(store_test::record(2, store_test::now_ms()));
    w.flush();
    CHECK(w.stats().db_ok);
    CHECK(w.stats().written == 2);
    auto rows = stored(path);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].request_id == 2);
}

TEST_CASE("store writer: a database it may not write, or a directory it may not create in") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    {
        Writer w(store_test::log_config(path));  // created by this (possibly root) process
        w.on_complete(store_test::record(1, store_test::now_ms()));
        w.flush();
    }
    ::chmod(path.c_str(), 0444);
    ::chmod((path + "-wal").c_str(), 0444);
    ::chmod((path + "-shm").c_str(), 0444);
    std::filesystem::create_directory(dir.file("locked"));
    ::chmod(dir.file("locked").c_str(), 0555);
    std::string result = store_test::as_unprivileged([&]() -> std::string {
        Writer w(store_test::log_config(path));
        w.on_complete(store_test::record(2, store_test::now_ms()));
        w.flush();
        auto s = w.stats();
        if (s.db_ok || s.errors != 1 || s.lost != 1 || s.written != 0)
            return fmt::format("read-only file: db_ok={} errors={} lost={} written={}", s.db_ok, s.errors, s.lost,
                               s.written);
        // A directory it cannot create files in.
        Writer w2(store_test::log_config(dir.path + "/locked/sub/agd.db"));
        w2.on_complete(store_test::record(3, store_test::now_ms()));
        w2.flush();
        s = w2.stats();
        if (s.db_ok || s.errors != 1 || s.lost != 1)
            return fmt::format("locked directory: db_ok={} errors={} lost={}", s.db_ok, s.errors, s.lost);
        return "";
    });
    CHECK_MESSAGE(result.empty(), result);
}

TEST_CASE("store writer: the thread writes, wakes for records after idling, and drains at stop") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    WriterOptions opts;
    opts.idle_after = 0ms;  // asleep after every batch: each record must wake it
    Writer w(store_test::log_config(path), opts);
    REQUIRE(w.start());
    CHECK(store_test::eventually([&] { return w.stats().db_ok; }));
    for (uint64_t i = 1; i <= 5; ++i) {
        w.on_complete(store_test::record(i, store_test::now_ms()));
        // No flush(): the producer's wake-up alone must get it written.
        CHECK(store_test::eventually([&] { return w.stats().written == i; }));
    }
    for (uint64_t i = 6; i <= 1000; ++i) w.on_complete(store_test::record(i, store_test::now_ms()));
    CHECK(w.flush());
    CHECK(w.stats().written == 1000);
    for (uint64_t i = 1001; i <= 1500; ++i) w.on_complete(store_test::record(i, store_test::now_ms()));
    w.stop();
    CHECK(w.stats().written == 1500);
    CHECK(w.stats().lost == 0);
    CHECK(stored_count(path) == 1500);
}

TEST_CASE("store writer: many producers, a writer that sleeps whenever it can: nothing waits forever") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    constexpr uint64_t kThreads = 4, kEach = 2000;
    WriterOptions opts;
    opts.idle_after = 0ms;
    opts.busy_interval = 1h;  // only a producer's wake-up (or the threshold) can get a record written
    opts.workers = kThreads;
    opts.lane_bytes = 64u << 10;  // small: the threshold wake-up is met often
    Writer w(store_test::log_config(path), opts);
    REQUIRE(w.start());
    std::vector<std::thread> producers;
    for (uint64_t t = 0; t < kThreads; ++t)
        producers.emplace_back([&w, t] {
            for (uint64_t i = 0; i < kEach; ++i) {
                auto r = store_test::record(t << 32 | i, store_test::now_ms());
                r.worker = static_cast<unsigned>(t);
                w.on_complete(r);
            }
        });
    for (auto& p : producers) p.join();
    CHECK(store_test::eventually([&] { return w.stats().written + w.stats().dropped == kThreads * kEach; }));
    CHECK(w.stats().lost == 0);
    w.stop();
    CHECK(stored_count(path) == static_cast<int64_t>(w.stats().written));
}
