#include "metrics/exposition.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "metrics/shard.h"
#include "test_config.h"

using namespace agd;
using namespace agd::metrics;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines_of(text))
        if (l == line) return true;
    return false;
}

// A sample's value by its exact series text (name{labels}).
std::string value_of(const std::string& text, const std::string& series) {
    for (const auto& l : lines_of(text))
        if (l.size() > series.size() && l.compare(0, series.size(), series) == 0 && l[series.size()] == ' ')
            return l.substr(series.size() + 1);
    return "";
}

std::string sample_text() {
    auto cfg = test::sample_config();
    cfg->clients[1].name = "we\"ird\\client\nname";
    Shard s;
    auto r = test::upstream_record(*cfg, "gpt-4o-mini", 0);
    r.ttft_us = 80'000;
    r.usage.input = 7;
    r.usage.output = 3;
    r.attempts.push_back({0, "0badc0de", 503, record::AttemptOutcome::UpstreamError});
    r.attempts.push_back({0, "1a2b3c4d", 200, record::AttemptOutcome::Ok});
    s.add(r);
    r.total_us = 3'000'000;
    s.add(r);
    auto weird = test::upstream_record(*cfg, "fast", 0, 1, 429);
    weird.limit = "rpm";
    s.add(weird);
    record::RequestRecord local;
    local.status = 200;
    s.add(local);
    Merged m;
    m.add(s.data());
    Gauges g;
    g.in_flight = 2;
    g.config_generation = 3;
    g.log_dropped = 11;
    g.credentials = {{"oa", "1a2b3c4d", true}, {"oa", "0BADC0DE", false}, {"oa", "1a2b3c4d", true}};
    g.have_process = true;
    g.process.cpu_seconds = 1.25;
    g.process.resident_bytes = 1 << 20;
    g.process.start_time_seconds = 1700000000.5;
    return render(m, g);
}

}  // namespace

TEST_CASE("exposition: counters, histograms, gauges") {
    std::string text = sample_text();
    CHECK(has_line(text, "# TYPE antigravityd_requests_total counter"));
    CHECK(has_line(text, R"(antigravityd_requests_total{client="team-a",protocol="openai-chat",model="gpt-*",provider="oa",status="200"} 2)"));
    CHECK(has_line(text, R"(antigravityd_requests_total{client="we\"ird\\client\nname",protocol="openai-chat",model="fast",provider="oa",status="429"} 1)"));
    CHECK(has_line(text, R"(antigravityd_requests_total{client="-",protocol="local",model="-",provider="-",status="200"} 1)"));

    CHECK(has_line(text, "# TYPE antigravityd_request_duration_seconds histogram"));
    const std::string d = R"(antigravityd_request_duration_seconds_bucket{protocol="openai-chat",model="gpt-*",provider="oa",le=")";
    CHECK(value_of(text, d + "0.1\"}") == "0");
    CHECK(value_of(text, d + "0.25\"}") == "1");
    CHECK(value_of(text, d + "2.5\"}") == "1");
    CHECK(value_of(text, d + "5\"}") == "2");
    CHECK(value_of(text, d + "600\"}") == "2");
    CHECK(value_of(text, d + "+Inf\"}") == "2");
    CHECK(value_of(text, R"(antigravityd_request_duration_seconds_sum{protocol="openai-chat",model="gpt-*",provider="oa"})") == "3.12");
    CHECK(value_of(text, R"(antigravityd_request_duration_seconds_count{protocol="openai-chat",model="gpt-*",provider="oa"})") == "2");
    CHECK(value_of(text, R"(antigravityd_time_to_first_token_seconds_bucket{protocol="openai-chat",model="gpt-*",provider="oa",le="0.05"})") == "0");
    CHECK(value_of(text, R"(antigravityd_time_to_first_token_seconds_bucket{protocol="openai-chat",model="gpt-*",provider="oa",le="0.1"})") == "2");
    CHECK(value_of(text, R"(antigravityd_time_to_first_token_seconds_sum{protocol="openai-chat",model="gpt-*",provider="oa"})") == "0.16");

    CHECK(value_of(text, R"(antigravityd_tokens_total{client="team-a",model="gpt-*",provider="oa",type="input"})") == "14");
    CHECK(value_of(text, R"(antigravityd_tokens_total{client="team-a",model="gpt-*",provider="oa",type="output"})") == "6");
    CHECK(value_of(text, R"(antigravityd_tokens_total{client="team-a",model="gpt-*",provider="oa",type="reasoning"})") == "0");
    CHECK(value_of(text, R"(antigravityd_upstream_attempts_total{provider="oa",credential="0badc0de",outcome="error"})") == "2");
    CHECK(value_of(text, R"(antigravityd_client_limited_total{client="we\"ird\\client\nname",limit="rpm"})") == "1");

    CHECK(value_of(text, R"(antigravityd_credential_up{provider="oa",credential="1a2b3c4d"})") == "1");
    CHECK(value_of(text, R"(antigravityd_credential_up{provider="oa",credential="0badc0de"})") == "0");
    CHECK(value_of(text, "antigravityd_in_flight_requests") == "2");
    CHECK(value_of(text, "antigravityd_config_generation") == "3");
    CHECK(value_of(text, "antigravityd_log_dropped_total") == "11");
    CHECK(value_of(text, "antigravityd_build_info{version=\"" AGD_VERSION "\"}") == "1");
    CHECK(value_of(text, "process_cpu_seconds_total") == "1.25");
    CHECK(value_of(text, "process_resident_memory_bytes") == "1048576");
    CHECK(value_of(text, "process_start_time_seconds") == "1700000000.5");
}

TEST_CASE("exposition: well formed (families declared once, before their samples; series unique)") {
    std::string text = sample_text();
    REQUIRE(!text.empty());
    CHECK(text.back() == '\n');
    std::set<std::string> typed, helped, series;
    std::string current;
    for (const auto& l : lines_of(text)) {
        REQUIRE(!l.empty());
        if (l.rfind("# HELP ", 0) == 0) {
            std::string name = l.substr(7, l.find(' ', 7) - 7);
            CHECK(helped.insert(name).second);
            continue;
        }
        if (l.rfind("# TYPE ", 0) == 0) {
            std::string name = l.substr(7, l.find(' ', 7) - 7);
            CHECK(typed.insert(name).second);
            CHECK(helped.count(name) == 1);
            current = name;
            continue;
        }
        REQUIRE(l[0] != '#');
        size_t brace = l.find('{');
        size_t space = l.rfind(' ');
        std::string name = l.substr(0, std::min(brace, space));
        // A sample belongs to the family declared last (a histogram's _bucket, _sum, _count).
        bool ok = name == current || name == current + "_bucket" || name == current + "_sum" ||
                  name == current + "_count";
        CHECK_MESSAGE(ok, l);
        CHECK_MESSAGE(series.insert(l.substr(0, space)).second, "duplicate series: " << l);
    }
    for (const char* f : {"antigravityd_requests_total", "antigravityd_request_duration_seconds",
                          "antigravityd_time_to_first_token_seconds", "antigravityd_tokens_total",
                          "antigravityd_upstream_attempts_total", "antigravityd_credential_up",
                          "antigravityd_in_flight_requests", "antigravityd_client_limited_total",
                          "antigravityd_log_dropped_total", "antigravityd_config_generation",
                          "antigravityd_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
                          "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                          "process_start_time_seconds"})
        CHECK_MESSAGE(typed.count(f) == 1, f);
}

TEST_CASE("exposition: nothing counted yet still declares every family") {
    std::string text = render(Merged{}, Gauges{});
    CHECK(has_line(text, "# TYPE antigravityd_requests_total counter"));
    CHECK(has_line(text, "antigravityd_in_flight_requests 0"));
    CHECK(text.find("process_") == std::string::npos);  // no process figures given
}

TEST_CASE("exposition: promtool check metrics accepts it") {
    if (access("/usr/bin/promtool", X_OK) != 0) {
        MESSAGE("promtool not installed (Debian package prometheus): skipped");
        return;
    }
    char path[] = "/tmp/agd-metrics-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    std::string text = sample_text();
    REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);
    std::string cmd = std::string("/usr/bin/promtool check metrics < ") + path + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    char buf[512];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int rc = pclose(p);
    unlink(path);
    CHECK_MESSAGE(rc == 0, out);
    CHECK_MESSAGE(out.empty(), out);  // no lint complaint either
}
