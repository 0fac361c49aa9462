#include <doctest/doctest.h>

#include <sysexits.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <fmt/core.h>

#include "store/reader.h"
#include "store/writer.h"
#include "support.h"

using namespace agd::store;
using agd::config::LogBodies;
using store_test::TempDir;

namespace {

struct Zone {
    std::optional<std::string> old;
    explicit Zone(const char* tz) {
        if (const char* o = std::getenv("TZ")) old = o;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~Zone() {
        if (old)
            ::setenv("TZ", old->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }
};

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kBase = 1'796'774'400'000;  // 2026-12-09T00:00:00Z

// A known history: alice and bob over two days and an older month.
void fill(Writer& w) {
    using store_test::record;
    w.on_complete(record(1, kBase - 40 * kDay, "alice", "gpt-4o"));  // November
    w.on_complete(record(2, kBase - kDay + 3'600'000, "alice", "gpt-4o"));  // yesterday 01:00
    auto r3 = record(3, kBase + 3'600'000, "alice", "gpt-4o-mini");  // today 01:00
    r3.usage.input = 1000;
    r3.usage.cache_read = 800;
    w.on_complete(r3);
    auto r4 = record(4, kBase + 2 * 3'600'000, "bob", "claude-sonnet-4");  // today 02:00, a 429
    r4.provider = 1;
    r4.provider_name = "claude";
    r4.credential = "5e6f7a8b";
    r4.status = 429;
    r4.error = "rate limited";
    r4.usage = {};
    r4.request_body = "{\"model\":\"claude-sonnet-4\"}";
    r4.response_body = "{\"error\":\"slow down\"}";
    w.on_complete(r4);
    auto r5 = record(5, kBase + 2 * 3'600'000 + 60'000, "bob", "claude-sonnet-4");
    r5.provider = 1;
    r5.provider_name = "claude";
    r5.credential = "5e6f7a8b";
    r5.status = 502;
    r5.usage = {};
    w.on_complete(r5);
    auto r6 = record(6, kBase + 3 * 3'600'000, "", "nope");  // no client, no provider
    r6.provider = -1;
    r6.provider_name.clear();
    r6.credential.clear();
    r6.status = 401;
    r6.usage = {};
    w.on_complete(r6);
    // A later run of the daemon gave id 3 again.
    w.on_complete(record(3, kBase + 4 * 3'600'000, "alice", "gpt-4o"));
    REQUIRE(w.flush());
}

std::vector<uint64_t> ids(const std::vector<LogRow>& rows) {
    std::vector<uint64_t> out;
    for (const auto& r : rows) out.push_back(r.request_id);
    return out;
}

}  // namespace

TEST_CASE("store reader: log filters, newest first") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.bodies = LogBodies::Errors;
    cfg.retention = std::chrono::milliseconds(0);  // keep the old rows of the fixture
    Writer w(cfg);
    fill(w);
    auto reader = Reader::open(path);  // the writer's connection is still open
    REQUIRE_MESSAGE(reader, (reader ? "" : reader.error().message));
    CHECK_FALSE(reader->immutable());
    CHECK(reader->note().empty());

    LogQuery all;
    all.limit = 100;
    CHECK(ids(*reader->log(all)) == std::vector<uint64_t>{3, 6, 5, 4, 3, 2, 1});
    LogQuery q = all;
    q.limit = 2;
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{3, 6});
    q = all;
    q.client = "bob";
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{5, 4});
    q = all;
    q.client = "";
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{6});
    q = all;
    q.model = "gpt-4o*";
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{3, 3, 2, 1});
    q.model = "gpt-4o-[m]ini";
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{3});
    q = all;
    q.provider = "claude";
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{5, 4});
    q = all;
    q.status = *parse_status_filter("5xx");
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{5});
    q.status = *parse_status_filter("429");
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{4});
    q.status = *parse_status_filter("4xx");
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{6, 4});
    q.status = *parse_status_filter("error");
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{6, 5, 4});
    q = all;
    q.since_ms = kBase;
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{3, 6, 5, 4, 3});
    // until: started before; before: the page after a row (the admin API's cursor).
    q = all;
    q.until_ms = kBase + 1;
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{2, 1});
    q.since_ms = kBase - 2 * kDay;
    CHECK(ids(*reader->log(q)) == std::vector<uint64_t>{2});
    {
        auto every = *reader->log(all);
        std::vector<uint64_t> paged;
        LogQuery page = all;
        page.limit = 2;
        for (int i = 0; i < 10; ++i) {
            auto got = *reader->log(page);
            for (const auto& r : got) paged.push_back(r.request_id);
            if (got.size() < page.limit) break;
            page.before = std::make_pair(got.back().ts_ms, got.back().row);
        }
        CHECK(paged == ids(every));
    }

    auto rows = *reader->log(all);
    const LogRow& r4 = rows[3];
    CHECK(r4.client == "bob");
    CHECK(r4.provider == "claude");
    CHECK(r4.credential == "5e6f7a8b");
    CHECK(r4.input == -1);
    CHECK(r4.total_ms == doctest::Approx(900.0));
    CHECK(r4.ttft_ms == doctest::Approx(150.0));
    CHECK(r4.error == "rate limited");

    // More rows while the reader is open: the next query sees them.
    w.on_complete(store_test::record(7, kBase + 5 * 3'600'000));
    REQUIRE(w.flush());
    CHECK(reader->log(all)->front().request_id == 7);

    // One request in full; id 3 was used by two runs.
    auto e4 = reader->entries(4);
    REQUIRE(e4);
    REQUIRE(e4->size() == 1);
    CHECK(e4->front().has_bodies);
    CHECK(e4->front().request_body == "{\"model\":\"claude-sonnet-4\"}");
    CHECK(e4->front().response_body == "{\"error\":\"slow down\"}");
    CHECK_FALSE(e4->front().response_truncated);
    auto e3 = reader->entries(3);
    REQUIRE(e3->size() == 2);
    CHECK(e3->front().row.ts_ms == kBase + 4 * 3'600'000);
    CHECK_FALSE(e3->front().has_bodies);
    CHECK(reader->entries(99)->empty());
}

TEST_CASE("store reader: usage from the rollups, and each client's tokens today and this month") {
    Zone utc("UTC");
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.retention = std::chrono::milliseconds(0);
    Writer w(cfg);
    fill(w);
    auto reader = Reader::open(path);
    REQUIRE(reader);

    UsageQuery q;
    q.since_s = kBase / 1000;
    q.by = GroupBy::Client;
    auto by_client = *reader->usage(q);
    REQUIRE(by_client.size() == 3);
    CHECK(by_client[0].key == "alice");  // 2 requests today
    CHECK(by_client[0].requests == 2);
    CHECK(by_client[0].input == 1100);
    CHECK(by_client[0].output == 40);
    CHECK(by_client[0].cache_read == 850);
    CHECK(by_client[0].errors == 0);
    CHECK(by_client[1].key == "bob");
    CHECK(by_client[1].errors == 2);
    CHECK(by_client[1].input == 0);
    CHECK(by_client[2].key.empty());
    CHECK(by_client[2].errors == 1);

    q.by = GroupBy::Model;
    auto by_model = *reader->usage(q);
    REQUIRE(by_model.size() == 4);
    CHECK(by_model[0].key == "claude-sonnet-4");
    CHECK(by_model[0].requests == 2);

    q.by = GroupBy::Credential;
    auto by_cred = *reader->usage(q);
    REQUIRE(by_cred.size() == 3);
    CHECK(by_cred[0].key == "claude/5e6f7a8b");

    q.by = GroupBy::Hour;
    q.since_s = kBase / 1000 - 86400;
    auto by_hour = *reader->usage(q);
    REQUIRE(by_hour.size() == 5);
    CHECK(by_hour[0].start_s == (kBase - kDay) / 1000 + 3600);
    CHECK(by_hour[1].start_s == kBase / 1000 + 3600);

    q.by = GroupBy::Day;
    q.since_s = kBase / 1000 - 60 * 86400;
    auto by_day = *reader->usage(q);
    REQUIRE(by_day.size() == 3);
    CHECK(by_day[0].start_s == (kBase - 40 * kDay) / 1000);
    CHECK(by_day[1].requests == 1);
    CHECK(by_day[2].start_s == kBase / 1000);
    CHECK(by_day[2].requests == 5);

    // Today: alice 1020 + 120 (r3 and the second id 3); this month also yesterday's 120.
    auto tokens = reader->client_tokens(kBase / 1000, kBase / 1000 - 8 * 86400);
    REQUIRE(tokens);
    CHECK(tokens->at("alice").day == 1140);
    CHECK(tokens->at("alice").month == 1260);
    CHECK(tokens->at("bob").day == 0);
    // The same through the daemon's start-up call, and for a store that does not exist yet.
    auto direct = client_tokens(path, kBase / 1000, kBase / 1000 - 8 * 86400);
    REQUIRE(direct);
    CHECK(direct->at("alice").month == 1260);
    auto none = client_tokens(dir.file("missing.db"), 0, 0);
    REQUIRE(none);
    CHECK(none->empty());
}

TEST_CASE("store reader: a database that is missing, empty, unreadable or not one") {
    TempDir dir;
    auto missing = Reader::open(dir.file("nope.db"));
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == EX_NOINPUT);
    CHECK(missing.error().message.find("no request store at") != std::string::npos);

    std::ofstream(dir.file("empty.db")).close();
    auto empty = Reader::open(dir.file("empty.db"));
    REQUIRE(empty);
    CHECK(empty->log(LogQuery{})->empty());
    CHECK(empty->usage(UsageQuery{})->empty());

    std::ofstream(dir.file("garbage.db")) << std::string(4096, 'g');
    auto garbage = Reader::open(dir.file("garbage.db"));
    REQUIRE_FALSE(garbage);
    CHECK(garbage.error().code == EX_DATAERR);

    std::string path = dir.file("agd.db");
    {
        Writer w(store_test::log_config(path));
        w.on_complete(store_test::record(1, store_test::now_ms()));
        w.flush();
    }
    ::chmod(path.c_str(), 0600);
    std::string result = store_test::as_unprivileged([&]() -> std::string {
        auto r = Reader::open(path);
        if (r) return "opened an unreadable database";
        if (r.error().code != EX_NOPERM) return fmt::format("code {}: {}", r.error().code, r.error().message);
        return "";
    });
    CHECK_MESSAGE(result.empty(), result);
}

TEST_CASE("store reader: read-only users, the daemon running or stopped, a directory they cannot write") {
    TempDir dir;
    std::string path = dir.file("agd.db");
    auto readable = [&] {
        for (const char* suffix : {"", "-wal", "-shm"}) ::chmod((path + suffix).c_str(), 0644);
    };
    auto count_as_nobody = [&](bool expect_immutable) {
        return store_test::as_unprivileged([&]() -> std::string {
            auto r = Reader::open(path);
            if (!r) return "open: " + r.error().message;
            if (r->immutable() != expect_immutable) return fmt::format("immutable = {}", r->immutable());
            auto rows = r->log(LogQuery{});
            if (!rows) return "log: " + rows.error().message;
            return fmt::format("{}", rows->size());
        });
    };
    Writer w(store_test::log_config(path));
    w.on_complete(store_test::record(1, store_test::now_ms()));
    w.on_complete(store_test::record(2, store_test::now_ms()));
    REQUIRE(w.flush());
    readable();
    // The writer holds it open with both rows in its WAL, not yet checkpointed.
    CHECK(store_test::file_size(path + "-wal") > 0);
    CHECK(count_as_nobody(false) == "2");
    w.stop();
    // Stopped: the daemon keeps -wal and -shm, so a reader needs no right to the directory.
    CHECK(std::filesystem::exists(path + "-shm"));
    readable();
    CHECK(count_as_nobody(false) == "2");
    // Without -wal and -shm (an older daemon, or removed by hand) the file is
    // read as immutable, exact since nothing is left in a WAL.
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    if (::geteuid() == 0) CHECK(count_as_nobody(true) == "2");
}
