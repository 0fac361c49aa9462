// [client.NAME], [log] and [metrics].
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config/loader.h"

using namespace agd::config;
using namespace std::chrono_literals;

namespace {

const std::string kFile = "/etc/antigravityd/antigravityd.conf";

LoadResult load(const std::string& text) { return load_string(text, kFile); }

std::vector<std::string> errors_of(const LoadResult& r) {
    std::vector<std::string> out;
    for (const auto& d : r.errors) out.push_back(d.str());
    return out;
}

std::string at(int line, const std::string& msg) { return kFile + ":" + std::to_string(line) + ": " + msg; }

const ClientConfig* client(const LoadResult& r, const std::string& name) {
    for (const auto& c : r.config->clients)
        if (c.name == name) return &c;
    return nullptr;
}

}  // namespace

TEST_CASE("config clients: keys, models and every limit") {
    LoadResult r = load(
        "[client.team-a]\n"
        "key = gw-aaaaaaaaaaaa\n"
        "key = gw-aaaaaaaaaaab\n"
        "models = claude-*, gpt-5*\n"
        "models = gemini-2.5-pro\n"
        "rpm = 60\n"
        "tpm = 200k\n"
        "daily_tokens = 5M\n"
        "monthly_tokens = 1G\n"
        "max_concurrent = 8\n"
        "expires = 2028-02-29\n");
    REQUIRE(errors_of(r) == std::vector<std::string>{});
    const ClientConfig* c = client(r, "team-a");
    REQUIRE(c);
    CHECK(c->keys == std::vector<std::string>{"gw-aaaaaaaaaaaa", "gw-aaaaaaaaaaab"});
    CHECK(c->models == std::vector<std::string>{"claude-*", "gpt-5*", "gemini-2.5-pro"});
    CHECK(c->rpm == 60);
    CHECK(c->tpm == 200'000);
    CHECK(c->daily_tokens == 5'000'000);
    CHECK(c->monthly_tokens == 1'000'000'000);
    CHECK(c->max_concurrent == 8);
    CHECK(c->expires == 20280229);
    CHECK(c->line == 1);
    CHECK(r.config->clients.size() == 1);  // no [auth] key: no default client
}

TEST_CASE("config clients: [auth] keys are the client named default") {
    LoadResult r = load("[auth]\nkey = gw-plain-one\n[client.ops]\nkey = gw-ops-one\n");
    REQUIRE(r.ok());
    REQUIRE(r.config->clients.size() == 2);
    CHECK(r.config->clients[0].name == "default");
    CHECK(r.config->clients[0].keys == std::vector<std::string>{"gw-plain-one"});
    CHECK(r.config->clients[1].name == "ops");

    // An explicit [client.default] gets the [auth] keys and keeps its limits.
    r = load("[auth]\nkey = gw-plain-one\n[client.default]\nrpm = 5\nkey = gw-other\n");
    REQUIRE(r.ok());
    REQUIRE(r.config->clients.size() == 1);
    CHECK(r.config->clients[0].rpm == 5);
    CHECK(r.config->clients[0].keys == std::vector<std::string>{"gw-other", "gw-plain-one"});
}

TEST_CASE("config clients: a key belongs to one client only") {
    LoadResult r = load("[client.a]\nkey = gw-shared-key\n[client.b]\nkey = gw-shared-key\n");
    CHECK(errors_of(r) == std::vector<std::string>{at(4,
                                                      "client.b.key: this key already belongs to client 'a' (line 2); "
                                                      "a key may belong to one client only")});
    r = load("[auth]\nkey = gw-shared-key\n[client.b]\nkey = gw-shared-key\n");
    CHECK(errors_of(r) == std::vector<std::string>{at(4,
                                                      "client.b.key: this key already belongs to client 'default' "
                                                      "(line 2); a key may belong to one client only")});
}

TEST_CASE("config clients: errors name the line") {
    CHECK(errors_of(load("[client.a]\nrpm = 10\n")) == std::vector<std::string>{at(1, "client.a: no key configured (a client is known by its keys)")});
    CHECK(errors_of(load("[client.a b]\nkey = gw-x1\n")) ==
          std::vector<std::string>{at(1, "client.a b: bad client name (use letters, digits, '_', '.' and '-')")});
    CHECK(errors_of(load("[client]\n")) == std::vector<std::string>{at(1, "client: missing client name: write [client.NAME]")});
    CHECK(errors_of(load("[client.a]\nkey = gw-x1\nrpm = lots\n")) ==
          std::vector<std::string>{at(3, "client.a.rpm: expected a number like 60, 200k or 5M (k = 1000), got \"lots\"")});
    CHECK(errors_of(load("[client.a]\nkey = gw-x1\ntpm = 0\n")) ==
          std::vector<std::string>{at(3, "client.a.tpm: must be greater than 0 (leave the key out for no limit)")});
    CHECK(errors_of(load("[client.a]\nkey = gw-x1\nexpires = 2027-02-29\n")) ==
          std::vector<std::string>{at(3, "client.a.expires: expected a date like 2027-03-31, got \"2027-02-29\"")});
    CHECK(errors_of(load("[client.a]\nkey = gw-x1\nrpm = 1\nrpm = 2\n")) ==
          std::vector<std::string>{at(4, "client.a.rpm: already set on line 3 (only lists may repeat a key)")});
    CHECK(errors_of(load("[client.a]\nkey = gw-x1\nburst = 2\n")) ==
          std::vector<std::string>{at(3,
                                      "client.a.burst: unknown key (expected key, key_file, models, rpm, tpm, "
                                      "daily_tokens, monthly_tokens, max_concurrent or expires)")});
    CHECK(errors_of(load("[client.a]\nkey = gw-x1\n[client.a]\nkey = gw-x2\n")) ==
          std::vector<std::string>{at(3, "client.a: duplicate client name (first defined on line 1)")});
}

TEST_CASE("config clients: client keys satisfy auth on an exposed listener") {
    LoadResult r = load("[server]\nlisten = 0.0.0.0:8045\n[client.a]\nkey = gw-x1\n");
    CHECK(r.ok());
    CHECK(r.config->auth.effective == AuthMode::AllExceptHealth);
    r = load("[auth]\nmode = strict\n[client.a]\nkey = gw-x1\n");
    CHECK(r.ok());
}

TEST_CASE("config log: defaults, every key, empty database") {
    LoadResult r = load("");
    REQUIRE(r.ok());
    const LogConfig& d = r.config->log;
    CHECK(d.database == "/var/lib/antigravityd/antigravityd.db");
    CHECK(d.retention == 30 * 24h);
    CHECK(d.rollup_retention == 400 * 24h);
    CHECK(d.max_size == (1ull << 30));
    CHECK(d.bodies == LogBodies::Off);
    CHECK(d.body_retention == 24h);
    CHECK(d.body_max == 256 * 1024);
    CHECK(d.access_log == "stderr");

    r = load(
        "[log]\ndatabase = /tmp/x.db\nretention = 7d\nrollup_retention = 90d\nmax_size = 100M\nbodies = errors\n"
        "body_retention = 12h\nbody_max = 64K\naccess_log = /var/log/antigravityd/access.log\n");
    REQUIRE(errors_of(r) == std::vector<std::string>{});
    const LogConfig& l = r.config->log;
    CHECK(l.database == "/tmp/x.db");
    CHECK(l.retention == 7 * 24h);
    CHECK(l.rollup_retention == 90 * 24h);
    CHECK(l.max_size == 100u << 20);
    CHECK(l.bodies == LogBodies::Errors);
    CHECK(l.body_retention == 12h);
    CHECK(l.body_max == 64u << 10);
    CHECK(l.access_log == "/var/log/antigravityd/access.log");

    r = load("[log]\ndatabase =\naccess_log = off\n");
    REQUIRE(r.ok());
    CHECK(r.config->log.database.empty());
    CHECK(r.config->log.access_log == "off");

    CHECK(errors_of(load("[log]\nbodies = some\n")) ==
          std::vector<std::string>{at(2, "log.bodies: expected off, errors or all, got \"some\"")});
    CHECK(errors_of(load("[log]\nmax_size = 10K\n")) ==
          std::vector<std::string>{at(2, "log.max_size: must be at least 1M (or 0: no bound)")});
    r = load("[log]\nmax_size = 0\nretention = 0\nrollup_retention = 0s\nbody_retention = 0\n");
    REQUIRE(errors_of(r) == std::vector<std::string>{});
    CHECK(r.config->log.max_size == 0);
    CHECK(r.config->log.retention.count() == 0);
    CHECK(r.config->log.rollup_retention.count() == 0);
    CHECK(r.config->log.body_retention.count() == 0);
    CHECK(errors_of(load("[log]\naccess_log = relative.log\n")) ==
          std::vector<std::string>{at(2, "log.access_log: expected an absolute path, got \"relative.log\"")});
    CHECK(errors_of(load("[log]\nretention =\n")) == std::vector<std::string>{at(2, "log.retention: empty value")});
}

TEST_CASE("config metrics: listeners of their own") {
    LoadResult r = load("");
    REQUIRE(r.ok());
    CHECK(r.config->metrics.listen.empty());
    r = load("[metrics]\nlisten = 127.0.0.1:9464\nlisten = [::1]:9464\n");
    REQUIRE(r.ok());
    REQUIRE(r.config->metrics.listen.size() == 2);
    CHECK(r.config->metrics.listen[0].port == 9464);
    CHECK(r.config->metrics.listen[1].host == "::1");
    r = load("[metrics]\nlisten =\n");
    REQUIRE(r.ok());
    CHECK(r.config->metrics.listen.empty());
    CHECK(errors_of(load("[metrics]\nlisten = 127.0.0.1:8045\n")) ==
          std::vector<std::string>{at(2,
                                      "metrics.listen: must not be a client listener (127.0.0.1:8045): metrics get a "
                                      "port of their own")});
    CHECK(errors_of(load("[server]\nlisten = 127.0.0.1:7000\n[metrics]\nlisten = 127.0.0.1:7000\n")) ==
          std::vector<std::string>{at(4, "metrics.listen: duplicate listen address \"127.0.0.1:7000\" (already on line 2)")});
}
