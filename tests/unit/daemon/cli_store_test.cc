#include <doctest/doctest.h>

#include <sysexits.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

#include "daemon/cli.h"
#include "daemon/cli_store.h"
#include "store/reader.h"
#include "store/writer.h"
#include "../store/support.h"
#include "../support.h"

using agd::testing::contains;
using namespace agd::daemon;
using store_test::TempDir;

namespace {

agd::Result<Invocation> parse(std::vector<std::string_view> args) { return parse_args(args); }


struct Utc {
    std::optional<std::string> old;
    Utc() {
        if (const char* o = std::getenv("TZ")) old = o;
        ::setenv("TZ", "UTC", 1);
        ::tzset();
    }
    ~Utc() {
        if (old)
            ::setenv("TZ", old->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }
};

constexpr int64_t kBase = 1'796'774'400'000;  // 2026-12-09T00:00:00Z
constexpr int64_t kNow = kBase / 1000 + 12 * 3600;

// Three requests: alice's good one, bob's 429 with bodies, one of no client
// whose model name carries a terminal escape.
std::string make_store(const TempDir& dir) {
    std::string path = dir.file("agd.db");
    auto cfg = store_test::log_config(path);
    cfg.bodies = agd::config::LogBodies::Errors;
    agd::store::Writer w(cfg);
    w.on_complete(store_test::record(0x10001, kBase + 3'600'000 + 250, "alice", "gpt-4o"));
    auto bob = store_test::record(0x10002, kBase + 2 * 3'600'000, "bob", "claude-sonnet-4");
    bob.provider = 1;
    bob.provider_name = "claude";
    bob.credential = "5e6f7a8b";
    bob.status = 429;
    bob.upstream_status = 429;
    bob.error = "rate limited";
    bob.limit = "rpm";
    bob.usage = {};
    bob.ttft_us = -1;
    bob.total_us = 1'500'000;
    bob.request_body = "{\"model\":\"claude-sonnet-4\",\"x\":\"\x1b[31mred\"}";
    bob.response_body = "{\"error\":\"slow down\"}\n";
    bob.response_truncated = true;
    w.on_complete(bob);
    auto anon = store_test::record(0x10003, kBase + 3 * 3'600'000, "", "evil\x1b]0;title\x07");
    anon.provider = -1;
    anon.provider_name.clear();
    anon.credential.clear();
    anon.attempts.clear();
    anon.status = 404;
    anon.usage = {};
    w.on_complete(anon);
    REQUIRE(w.flush());
    return path;
}

rapidjson::Document parse_json(const std::string& text) {
    rapidjson::Document d;
    d.Parse(text.data(), text.size());
    REQUIRE_MESSAGE(!d.HasParseError(), text);
    return d;
}

}  // namespace

TEST_CASE("cli store: log and usage options") {
    auto log = parse({"log", "-c", "/x.conf", "--since", "1h", "--client", "alice", "--model=gpt-4o*", "--provider",
                      "openai", "--status", "5xx", "--limit", "10", "--json"});
    REQUIRE_MESSAGE(log, log.error().message);
    CHECK(log->command == Command::Log);
    CHECK(log->options.config_path == "/x.conf");
    CHECK(log->options.since == "1h");
    CHECK(log->options.client == "alice");
    CHECK(log->options.model == "gpt-4o*");
    CHECK(log->options.provider == "openai");
    CHECK(log->options.status == "5xx");
    CHECK(log->options.limit == 10);
    CHECK(log->options.json);
    CHECK_FALSE(log->options.id);

    auto one = parse({"log", "--id", "0000000000010002"});
    REQUIRE(one);
    CHECK(one->options.id == 0x10002u);
    CHECK(parse({"log", "--id=0x10002"})->options.id == 0x10002u);

    auto usage = parse({"usage", "--since", "month", "--by", "day"});
    REQUIRE(usage);
    CHECK(usage->command == Command::Usage);
    CHECK(usage->options.by == "day");
    CHECK(parse({"usage"})->options.by == "client");
    CHECK(parse({"log"})->options.limit == 50);

    struct Case {
        std::vector<std::string_view> args;
        std::string_view message;
    };
    const Case cases[] = {
        {{"log", "--since", "yesterdayish"}, "--since: cannot read 'yesterdayish' (30m, 24h, 7d, today, month, 2026-12-01)"},
        {{"log", "--status", "6xx"}, "--status: cannot read '6xx' (429, 4xx, 5xx, error)"},
        {{"log", "--limit", "0"}, "--limit: '0' is not a number from 1 to 1000000"},
        {{"log", "--limit", "ten"}, "--limit: 'ten' is not a number from 1 to 1000000"},
        {{"log", "--id", "xyz"}, "--id: 'xyz' is not a request id (hex, as in the access log)"},
        {{"log", "--id", "1", "--client", "a"}, "option '--id' shows one request: it takes no filters"},
        {{"log", "--by", "client"}, "option '--by' is not valid for 'log'"},
        {{"usage", "--client", "a"}, "option '--client' is not valid for 'usage'"},
        {{"usage", "--by", "week"}, "--by: cannot read 'week' (client, model, provider, credential, hour, day)"},
        {{"status", "--since", "1h"}, "option '--since' is not valid for 'status'"},
        {{"log", "--client"}, "option '--client' needs a value"},
    };
    for (const auto& c : cases) {
        auto r = parse(c.args);
        INFO(c.message);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == EX_USAGE);
        CHECK(r.error().message == c.message);
    }
    std::string u = usage_text();
    for (auto word : {"log", "usage", "--since", "--client", "--model", "--provider", "--status", "--limit", "--id",
                      "--by"})
        CHECK_MESSAGE(contains(u, word), word);
}

TEST_CASE("cli store: request ids and queries") {
    CHECK(parse_request_id("0000000000010002") == 0x10002u);
    CHECK(parse_request_id("ffffffffffffffff") == UINT64_MAX);
    CHECK_FALSE(parse_request_id("10000000000000000"));
    CHECK_FALSE(parse_request_id(""));
    CHECK_FALSE(parse_request_id("0x"));
    CHECK(format_request_id(0x10002) == "0000000000010002");

    Utc utc;
    CliOptions o;
    o.since = "today";
    o.status = "error";
    auto q = log_query(o, kNow);
    REQUIRE(q);
    CHECK(q->since_ms == kBase);
    CHECK(q->status.kind == agd::store::StatusFilter::Kind::Error);
    CHECK(q->limit == 50);
    CliOptions u;
    auto uq = usage_query(u, kNow);
    REQUIRE(uq);
    CHECK(uq->since_s == kNow - 86400);
    CHECK(uq->by == agd::store::GroupBy::Client);
    u.by = "nope";
    CHECK(usage_query(u, kNow).error().code == EX_USAGE);
}

TEST_CASE("cli store: log as text and JSON") {
    Utc utc;
    TempDir dir;
    auto reader = agd::store::Reader::open(make_store(dir));
    REQUIRE(reader);
    CliOptions o;
    auto text = log_outcome(*reader, o, kNow);
    CHECK(text.exit_code == 0);
    CHECK(text.err.empty());
    INFO(text.out);
    std::vector<std::string> lines;
    for (size_t p = 0, n; (n = text.out.find('\n', p)) != std::string::npos; p = n + 1)
        lines.push_back(text.out.substr(p, n - p));
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] ==
          "TIME                 ID                CLIENT  STATUS  MODEL                 PROVIDER          IN  OUT  CACHED"
          "   TTFT  TOTAL  ERROR");
    // A client's model name cannot drive the terminal.
    CHECK(lines[1] ==
          "2026-12-09 03:00:00  0000000000010003  -          404  evil\\x1b]0;title\\x07  -                  -    -       -"
          "  150ms  900ms");
    CHECK(lines[2] ==
          "2026-12-09 02:00:00  0000000000010002  bob        429  claude-sonnet-4       claude/5e6f7a8b    -    -       -"
          "      -  1.50s  limit rpm: rate limited");
    CHECK(lines[3] ==
          "2026-12-09 01:00:00  0000000000010001  alice      200  gpt-4o                openai/1a2b3c4d  100   20      50"
          "  150ms  900ms");
    CHECK_FALSE(contains(text.out, "\x1b"));

    o.json = true;
    o.client = "bob";
    auto json = log_outcome(*reader, o, kNow);
    auto d = parse_json(json.out);
    REQUIRE(d.IsArray());
    REQUIRE(d.Size() == 1);
    const auto& r = d[0];
    CHECK(std::string(r["id"].GetString()) == "0000000000010002");
    CHECK(std::string(r["time"].GetString()) == "2026-12-09T02:00:00.000Z");
    CHECK(r["status"].GetInt() == 429);
    CHECK(std::string(r["limit"].GetString()) == "rpm");
    CHECK(r["usage"]["input"].IsNull());
    CHECK(r["ttft_ms"].IsNull());
    CHECK(r["total_ms"].GetDouble() == doctest::Approx(1500.0));
    CHECK(std::string(r["protocol"].GetString()) == "openai-chat");

    CliOptions none;
    none.model = "nothing*";
    CHECK(log_outcome(*reader, none, kNow).out == "no requests found\n");
    none.json = true;
    CHECK(log_outcome(*reader, none, kNow).out == "[]\n");
}

TEST_CASE("cli store: one request in full") {
    Utc utc;
    TempDir dir;
    auto reader = agd::store::Reader::open(make_store(dir));
    REQUIRE(reader);
    CliOptions o;
    o.id = 0x10002;
    auto text = log_outcome(*reader, o, kNow);
    CHECK(text.exit_code == 0);
    INFO(text.out);
    CHECK(contains(text.out, "request:     0000000000010002\n"));
    CHECK(contains(text.out, "time:        2026-12-09 02:00:00.000 (local), 2026-12-09T02:00:00.000Z\n"));
    CHECK(contains(text.out, "client:      bob from 192.0.2.7\n"));
    CHECK(contains(text.out, "call:        POST /v1/chat/completions (chat.completions, openai-chat)\n"));
    CHECK(contains(text.out, "provider:    claude, credential 5e6f7a8b\n"));
    CHECK(contains(text.out, "attempts:    1: openai/1a2b3c4d:200:ok\n"));
    CHECK(contains(text.out, "status:      429\n"));
    CHECK(contains(text.out, "error:       rate limited\n"));
    CHECK(contains(text.out, "usage:       input -, output -, cache read -, cache write -, reasoning - (reported)\n"));
    CHECK(contains(text.out, "\nrequest body:\n{\"model\":\"claude-sonnet-4\",\"x\":\"\\x1b[31mred\"}\n"));
    CHECK(contains(text.out, "\nresponse body (truncated):\n{\"error\":\"slow down\"}\n"));

    o.json = true;
    auto json = log_outcome(*reader, o, kNow);
    auto d = parse_json(json.out);
    REQUIRE(d.IsArray());
    REQUIRE(d.Size() == 1);
    CHECK(std::string(d[0]["request_body"].GetString()) == "{\"model\":\"claude-sonnet-4\",\"x\":\"\x1b[31mred\"}");
    CHECK(d[0]["response_truncated"].GetBool());
    CHECK_FALSE(d[0]["request_truncated"].GetBool());

    o.id = 0x10001;  // no bodies kept (bodies = errors)
    o.json = false;
    CHECK(contains(log_outcome(*reader, o, kNow).out, "bodies:      not kept\n"));
    o.id = 0x999;
    auto missing = log_outcome(*reader, o, kNow);
    CHECK(missing.exit_code == 1);
    CHECK(missing.err == "antigravityd: log: no request 0000000000000999 in the store\n");
}

TEST_CASE("cli store: usage as text and JSON") {
    Utc utc;
    TempDir dir;
    auto reader = agd::store::Reader::open(make_store(dir));
    REQUIRE(reader);
    CliOptions o;
    o.since = "today";
    auto text = usage_outcome(*reader, o, kNow);
    CHECK(text.exit_code == 0);
    CHECK(text.out ==
          "since 2026-12-09 00:00 (local), by client\n"
          "CLIENT  REQUESTS  ERRORS  INPUT  OUTPUT  CACHE_READ  CACHE_WRITE  REASONING  CACHE_HIT\n"
          "alice          1       0    100      20          50            0          5      50.0%\n"
          "bob            1       1      0       0           0            0          0          -\n"
          "(none)         1       1      0       0           0            0          0          -\n"
          "TOTAL          3       2    100      20          50            0          5      50.0%\n");

    o.by = "model";
    CHECK(contains(usage_outcome(*reader, o, kNow).out, "\n(unrouted)  "));
    o.by = "hour";
    CHECK(contains(usage_outcome(*reader, o, kNow).out, "\n2026-12-09 02:00         1       1"));

    o.by = "day";
    o.json = true;
    auto json = usage_outcome(*reader, o, kNow);
    auto d = parse_json(json.out);
    CHECK(std::string(d["by"].GetString()) == "day");
    CHECK(std::string(d["since"].GetString()) == "2026-12-09T00:00:00.000Z");
    REQUIRE(d["rows"].Size() == 1);
    CHECK(std::string(d["rows"][0]["day"].GetString()) == "2026-12-09");
    CHECK(d["rows"][0]["requests"].GetInt() == 3);
    CHECK(d["total"]["cache_hit_ratio"].GetDouble() == doctest::Approx(0.5));
    o.by = "provider";
    auto p = parse_json(usage_outcome(*reader, o, kNow).out);
    CHECK(std::string(p["rows"][0]["provider"].GetString()) == "claude");

    CliOptions later;
    later.since = "2030-01-01";
    CHECK(usage_outcome(*reader, later, kNow).out == "no requests since 2030-01-01 00:00 (local)\n");
}
