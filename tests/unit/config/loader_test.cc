#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
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

std::vector<std::string> warnings_of(const LoadResult& r) {
    std::vector<std::string> out;
    for (const auto& d : r.warnings) out.push_back(d.str());
    return out;
}

// The single error of a config that must have exactly one.
std::string only_error(const std::string& text) {
    LoadResult r = load(text);
    CHECK_FALSE(r.ok());
    CHECK(r.config == nullptr);
    REQUIRE(r.errors.size() == 1);
    return r.errors[0].str();
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

std::string at(int line, const std::string& rest) { return kFile + ":" + std::to_string(line) + ": " + rest; }

const std::string kProvider =
    "[provider.openai]\n"
    "type = openai\n"
    "key = sk-live-0123456789abcdef\n"
    "models = gpt-4o*\n";

}  // namespace

TEST_CASE("config loader: empty file gives all defaults") {
    LoadResult r = load("");
    REQUIRE(r.ok());
    CHECK(r.errors.empty());
    CHECK(r.warnings.empty());
    const Config& c = *r.config;
    CHECK(c.path == kFile);
    REQUIRE(c.server.listen.size() == 1);
    CHECK(c.server.listen[0].kind == ListenAddr::Kind::Tcp);
    CHECK(c.server.listen[0].host == "127.0.0.1");
    CHECK(c.server.listen[0].port == 8045);
    CHECK(c.server.listen[0].text == "127.0.0.1:8045");
    CHECK(c.server.listen[0].loopback);
    CHECK(c.server.workers == 0);
    CHECK(c.server.max_body_size == 100ull << 20);
    CHECK(c.server.upload_buffer_size == 1ull << 20);
    CHECK(c.server.upstream_timeout == 300s);
    CHECK(c.server.connect_timeout == 10s);
    CHECK(c.server.shutdown_timeout == 30s);
    CHECK(c.server.pid_file == "/run/antigravityd/antigravityd.pid");
    CHECK(c.server.control_socket == "/run/antigravityd/control.sock");
    CHECK(c.server.log_level == LogLevel::Info);
    CHECK(c.auth.mode == AuthMode::Auto);
    CHECK(c.auth.effective == AuthMode::Off);
    CHECK(c.auth.keys.empty());
    CHECK(c.admin.listen.empty());
    CHECK(c.access.allow.empty());
    CHECK(c.access.deny.empty());
    CHECK(c.access.trusted_proxies.empty());
    CHECK(c.access.real_ip_header == RealIpHeader::XForwardedFor);
    CHECK(c.routing.strategy == Strategy::RoundRobin);
    CHECK(c.routing.cooldown == 60s);
    CHECK(c.routing.max_attempts == 3);
    CHECK(c.providers.empty());  // zero providers is valid
}

TEST_CASE("config loader: every key of every section") {
    LoadResult r = load(
        "# a full config\n"
        "[server]\n"
        "listen = 127.0.0.1:0\n"
        "listen = [::1]:9000\n"
        "listen = 0.0.0.0:8045\n"
        "listen = [::]:8046\n"
        "listen = unix:/run/agd.sock\n"
        "workers = 4\n"
        "max_body_size = 64K\n"
        "upload_buffer_size = 256K\n"
        "upstream_timeout = 2m\n"
        "connect_timeout = 1500ms\n"
        "shutdown_timeout = 0s\n"
        "pid_file = /tmp/agd.pid\n"
        "control_socket = /tmp/agd.sock\n"
        "log_level = debug\n"
        "\n"
        "[auth]\n"
        "mode = strict\n"
        "key = client-key-one\n"
        "key = client-key-two\n"

        "\n"
        "[access]\n"
        "allow = 192.168.0.0/16\n"
        "allow = fd00::/8\n"
        "deny = 192.168.1.66\n"
        "trusted_proxy = 127.0.0.1\n"
        "trusted_proxy = ::1\n"
        "\n"
        "[routing]\n"
        "strategy = fill-first\n"
        "cooldown = 90s\n"
        "max_attempts = 10\n"
        "max_cooldown = 2h\n"
        "probe_interval = 10m\n"
        "breaker_failures = 3\n"
        "breaker_cooldown = 1m\n"
        "\n"
        "[provider.oa]\n"
        "type = openai\n"
        "api = responses\n"
        "base_url = https://example.test/v1/\n"
        "key = sk-aaaaaaaaaaaaaaaa\n"
        "key = sk-bbbbbbbbbbbbbbbb\n"
        "models = gpt-4o*, o3*\n"
        "models = fast=gpt-4o-mini\n"
        "proxy = socks5h://127.0.0.1:1080\n"
        "http_client = libcurl\n"
        "\n"
        "[provider.claude]\n"
        "type = anthropic\n"
        "key = sk-ant-cccccccccccccccc\n"
        "models = claude-*\n"
        "\n"
        "[provider.g-1.x_y]\n"
        "type = gemini\n"
        "key = AIzaDDDDDDDDDDDDDDDDDDDD\n"
        "models = gemini-2.5-pro\n");
    INFO(joined(errors_of(r)));
    REQUIRE(r.ok());
    const Config& c = *r.config;

    REQUIRE(c.server.listen.size() == 5);
    CHECK(c.server.listen[0].host == "127.0.0.1");
    CHECK(c.server.listen[0].port == 0);
    CHECK(c.server.listen[0].line == 3);
    CHECK(c.server.listen[1].host == "::1");
    CHECK(c.server.listen[1].port == 9000);
    CHECK(c.server.listen[1].text == "[::1]:9000");
    CHECK(c.server.listen[1].loopback);
    CHECK(c.server.listen[2].host == "0.0.0.0");
    CHECK_FALSE(c.server.listen[2].loopback);
    CHECK(c.server.listen[3].host == "::");
    CHECK(c.server.listen[3].port == 8046);
    CHECK_FALSE(c.server.listen[3].loopback);
    CHECK(c.server.listen[4].kind == ListenAddr::Kind::Unix);
    CHECK(c.server.listen[4].path == "/run/agd.sock");
    CHECK(c.server.listen[4].loopback);
    CHECK(c.server.workers == 4);
    CHECK(c.server.max_body_size == 64u * 1024);
    CHECK(c.server.upload_buffer_size == 256u * 1024);
    CHECK(c.server.upstream_timeout == 120s);
    CHECK(c.server.connect_timeout == 1500ms);
    CHECK(c.server.shutdown_timeout == 0ms);
    CHECK(c.server.pid_file == "/tmp/agd.pid");
    CHECK(c.server.control_socket == "/tmp/agd.sock");
    CHECK(c.server.log_level == LogLevel::Debug);

    CHECK(c.auth.mode == AuthMode::Strict);
    CHECK(c.auth.effective == AuthMode::Strict);
    CHECK(c.auth.keys == std::vector<std::string>{"client-key-one", "client-key-two"});


    REQUIRE(c.access.allow.size() == 2);
    CHECK(c.access.allow[0].text == "192.168.0.0/16");
    CHECK(c.access.allow[1].text == "fd00::/8");
    REQUIRE(c.access.deny.size() == 1);
    CHECK(c.access.deny[0].prefix == 128);
    REQUIRE(c.access.trusted_proxies.size() == 2);
    CHECK(c.access.trusted_proxies[1].text == "::1");

    CHECK(c.routing.strategy == Strategy::FillFirst);
    CHECK(c.routing.cooldown == 90s);
    CHECK(c.routing.max_attempts == 10);
    CHECK(c.routing.max_cooldown == 2h);
    CHECK(c.routing.probe_interval == 10min);
    CHECK(c.routing.breaker_failures == 3);
    CHECK(c.routing.breaker_cooldown == 1min);

    REQUIRE(c.providers.size() == 3);
    const ProviderConfig& oa = c.providers[0];
    CHECK(oa.name == "oa");
    CHECK(oa.line == 39);
    CHECK(oa.type == ProviderType::OpenAI);
    CHECK(oa.api == OpenAIApi::Responses);
    CHECK(oa.base_url == "https://example.test/v1");  // trailing '/' stripped
    CHECK(oa.keys == std::vector<std::string>{"sk-aaaaaaaaaaaaaaaa", "sk-bbbbbbbbbbbbbbbb"});
    REQUIRE(oa.models.size() == 3);  // repeated `models` lines are concatenated
    CHECK(oa.models[0].pattern == "gpt-4o*");
    CHECK(oa.models[0].is_glob);
    CHECK(oa.models[0].upstream_name.empty());
    CHECK(oa.models[1].pattern == "o3*");
    CHECK(oa.models[2].pattern == "fast");
    CHECK(oa.models[2].upstream_name == "gpt-4o-mini");
    CHECK_FALSE(oa.models[2].is_glob);
    CHECK(oa.proxy == "socks5h://127.0.0.1:1080");
    CHECK(oa.http_client == HttpClient::Libcurl);

    const ProviderConfig& cl = c.providers[1];
    CHECK(cl.type == ProviderType::Anthropic);
    CHECK(cl.base_url == "https://api.anthropic.com");
    CHECK(cl.proxy.empty());
    CHECK(cl.http_client == HttpClient::Auto);

    const ProviderConfig& g = c.providers[2];
    CHECK(g.name == "g-1.x_y");
    CHECK(g.type == ProviderType::Gemini);
    CHECK(g.base_url == "https://generativelanguage.googleapis.com");
    REQUIRE(g.models.size() == 1);
    CHECK_FALSE(g.models[0].is_glob);
}

TEST_CASE("config loader: default base_url and api per type") {
    LoadResult r = load(kProvider);
    REQUIRE(r.ok());
    REQUIRE(r.config->providers.size() == 1);
    CHECK(r.config->providers[0].base_url == "https://api.openai.com/v1");
    CHECK(r.config->providers[0].api == OpenAIApi::Chat);
    CHECK(r.config->providers[0].line == 1);
}

TEST_CASE("config loader: comments, whitespace, long lines") {
    SUBCASE("inline comments with ';' and '#' after whitespace") {
        LoadResult r = load(
            "; leading comment\n"
            "   # indented comment\n"
            "[routing]   ; section comment\n"
            "strategy = fill-first ; trailing\n"
            "cooldown = 5s # trailing hash\n");
        REQUIRE(r.ok());
        CHECK(r.config->routing.strategy == Strategy::FillFirst);
        CHECK(r.config->routing.cooldown == 5s);
    }
    SUBCASE("'#' inside a value is kept") {
        LoadResult r = load("[auth]\nmode = off\nkey = ab#cd;ef-0123456789\n");
        REQUIRE(r.ok());
        REQUIRE(r.config->auth.keys.size() == 1);
        CHECK(r.config->auth.keys[0] == "ab#cd;ef-0123456789");
    }
    SUBCASE("indented keys are keys, not continuation lines") {
        LoadResult r = load("[routing]\n  strategy = fill-first\n\tmax_attempts = 2\n");
        REQUIRE(r.ok());
        CHECK(r.config->routing.max_attempts == 2);
    }
    SUBCASE("CRLF line endings and a BOM") {
        LoadResult r = load("\xEF\xBB\xBF[routing]\r\nmax_attempts = 7\r\n");
        REQUIRE(r.ok());
        CHECK(r.config->routing.max_attempts == 7);
    }
    SUBCASE("key: value form") {
        LoadResult r = load("[routing]\nmax_attempts: 4\n");
        REQUIRE(r.ok());
        CHECK(r.config->routing.max_attempts == 4);
    }
    SUBCASE("no trailing newline") {
        LoadResult r = load("[routing]\nmax_attempts = 6");
        REQUIRE(r.ok());
        CHECK(r.config->routing.max_attempts == 6);
    }
    SUBCASE("API keys far longer than inih's line buffer") {
        std::string long_key = "sk-" + std::string(400, 'Q') + "z";
        std::string long_models = "m0";
        for (int i = 1; i < 60; ++i) long_models += ", model-" + std::to_string(i);
        LoadResult r = load("[provider.big]\ntype = openai\nkey = " + long_key + "   ; comment\nmodels = " +
                            long_models + "\n[routing]\nmax_attempts = 5\n");
        INFO(joined(errors_of(r)));
        REQUIRE(r.ok());
        REQUIRE(r.config->providers.size() == 1);
        REQUIRE(r.config->providers[0].keys.size() == 1);
        CHECK(r.config->providers[0].keys[0] == long_key);
        CHECK(r.config->providers[0].models.size() == 60);
        CHECK(r.config->providers[0].models[59].pattern == "model-59");
        CHECK(r.config->routing.max_attempts == 5);  // line counting survives
    }
    SUBCASE("long lines keep line numbers right") {
        std::string long_value(300, 'x');
        std::string err = only_error("[server]\npid_file = /" + long_value + "\nworkers = many\n");
        CHECK(err == at(3, "server.workers: expected a number from 0 (one per CPU) to 256, got \"many\""));
    }
    SUBCASE("long section names") {
        std::string name(120, 'n');
        LoadResult r = load("[provider." + name + "]\ntype = gemini\nkey = AIzaABCDEFGHIJKLMN\nmodels = g*\n");
        REQUIRE(r.ok());
        REQUIRE(r.config->providers.size() == 1);
        CHECK(r.config->providers[0].name == name);
    }
}

TEST_CASE("config loader: repeated keys are lists") {
    LoadResult r = load(
        "[auth]\nmode = off\nkey = k-one-1234567\nkey = k-two-1234567\nkey = k-three-123456\n"
        "[access]\ndeny = 10.0.0.1\ndeny = 10.0.0.2\ndeny = 10.0.0.3\n");
    REQUIRE(r.ok());
    CHECK(r.config->auth.keys.size() == 3);
    CHECK(r.config->access.deny.size() == 3);
    CHECK(r.config->access.deny[2].text == "10.0.0.3");
}

TEST_CASE("config loader: sections may be reopened") {
    LoadResult r = load("[routing]\nstrategy = fill-first\n[server]\nworkers = 2\n[routing]\nmax_attempts = 2\n");
    REQUIRE(r.ok());
    CHECK(r.config->routing.strategy == Strategy::FillFirst);
    CHECK(r.config->routing.max_attempts == 2);
}

TEST_CASE("config loader: structural errors") {
    CHECK(only_error("[servre]\nworkers = 2\n") ==
          at(1, "servre: unknown section (expected server, auth, access, routing, log, metrics, tls, admin, "
                "provider.NAME, client.NAME, model.NAME or rule.NAME)"));
    CHECK(only_error("[server]\nworkers = 2\nwrokers = 3\n") ==
          at(3,
             "server.wrokers: unknown key (expected listen, workers, max_body_size, upload_buffer_size, max_json_depth, upstream_timeout, "
             "connect_timeout, shutdown_timeout, client_header_timeout, client_body_timeout, "
             "max_connections_per_ip, pid_file, control_socket, state_dir, user, group or log_level)"));
    CHECK(only_error("[auth]\nmode = off\ntoken = x\n") ==
          at(3, "auth.token: unknown key (expected mode, key or key_file)"));
    CHECK(only_error("[access]\npermit = 10.0.0.1\n") ==
          at(2, "access.permit: unknown key (expected allow, deny, trusted_proxy or real_ip_header)"));
    CHECK(only_error("[routing]\nretries = 2\n") ==
          at(2, "routing.retries: unknown key (expected strategy, cooldown, max_attempts, max_cooldown, "
                "probe_interval, breaker_failures, breaker_cooldown, sticky, sticky_ttl or first_token_timeout)"));
    CHECK(only_error("[server]\nstate_dir = relative/dir\n").find("server.state_dir") != std::string::npos);
    CHECK(only_error("[routing]\nbreaker_failures = 0\n") ==
          at(2, "routing.breaker_failures: expected a number from 1 to 1000, got \"0\""));
    CHECK(only_error("[routing]\nmax_cooldown = 0s\n").find("routing.max_cooldown") != std::string::npos);
    CHECK(only_error(kProvider + "region = eu\n") ==
          at(5, "provider.openai.region: unknown key (expected type, api, base_url, key, key_file, models, proxy, http_client, weight, "
                "priority, auth, token_url, client_id, client_secret_file, scope, token_file, auth_header, "
                "extra_header, refresh_lead or ca_file)"));
    CHECK(only_error("workers = 2\n") == at(1, "workers: key outside of any section"));
    CHECK(only_error("[server\nworkers = 2\n") == at(1, "section header without closing ']'"));
    CHECK(only_error("[server] extra\n") == at(1, "server: unexpected text after ']'"));
    CHECK(only_error("[server]\nworkers\n") == at(2, "server: expected \"key = value\", found a line without '='"));
    CHECK(only_error("[server]\n= 4\n") == at(2, "server: missing key name before '='"));
    CHECK(only_error("[server]\nworkers =\n") == at(2, "server.workers: empty value"));
    CHECK(only_error("[server]\nworkers = ; nothing\n") == at(2, "server.workers: empty value"));
    CHECK(only_error("[server]\npid_file = \"/run/x.pid\"\n") ==
          at(2, "server.pid_file: values are taken literally: remove the quotes"));
    CHECK(only_error(std::string("[server]\nworkers = 1\0x\n", 23)) == at(2, "line contains a NUL byte"));
}

TEST_CASE("config loader: non-repeatable keys set twice") {
    CHECK(only_error("[server]\nworkers = 2\n\nworkers = 3\n") ==
          at(4, "server.workers: already set on line 2 (only lists may repeat a key)"));
    CHECK(only_error("[auth]\nmode = off\nmode = off\n") ==
          at(3, "auth.mode: already set on line 2 (only lists may repeat a key)"));
    CHECK(only_error("[routing]\ncooldown = 1s\n[server]\n[routing]\ncooldown = 2s\n") ==
          at(5, "routing.cooldown: already set on line 2 (only lists may repeat a key)"));
    CHECK(only_error(kProvider + "type = gemini\n") ==
          at(5, "provider.openai.type: already set on line 2 (only lists may repeat a key)"));
    // A list key repeated is fine; each non-repeatable key is checked.
    for (const char* key : {"max_body_size = 1M", "upload_buffer_size = 1M", "max_json_depth = 64", "upstream_timeout = 1s", "connect_timeout = 1s",
                            "shutdown_timeout = 1s", "pid_file = /a", "control_socket = /a", "log_level = info"}) {
        LoadResult r = load(std::string("[server]\n") + key + "\n" + key + "\n");
        CHECK(r.errors.size() == 1);
        CHECK_FALSE(r.ok());
    }
}

TEST_CASE("config loader: server.max_json_depth") {
    LoadResult d = load("[server]\nworkers = 1\n");
    REQUIRE(d.ok());
    CHECK(d.config->server.max_json_depth == 512);
    for (unsigned n : {16u, 100u, 4096u}) {
        LoadResult r = load("[server]\nmax_json_depth = " + std::to_string(n) + "\n");
        REQUIRE(r.ok());
        CHECK(r.config->server.max_json_depth == n);
    }
    for (const char* bad : {"15", "0", "4097", "-1", "lots", "512k", "99999999999999999999999"})
        CHECK(only_error(std::string("[server]\n\nmax_json_depth = ") + bad + "\n") ==
              at(3, std::string("server.max_json_depth: expected a number of nesting levels from 16 to 4096, got \"") +
                        bad + "\""));
}

TEST_CASE("config loader: server value errors") {
    CHECK(only_error("[server]\nmax_body_size = lots\n") ==
          at(2, "server.max_body_size: expected a size like 100M (suffix K, M or G), got \"lots\""));
    CHECK(only_error("[server]\nmax_body_size = -1M\n") ==
          at(2, "server.max_body_size: expected a size like 100M (suffix K, M or G), got \"-1M\""));
    CHECK(only_error("[server]\nmax_body_size = 0\n") == at(2, "server.max_body_size: must be greater than 0"));
    // The user and group to become when started as root: names only.
    LoadResult who = load("[server]\nuser = antigravityd\ngroup = agd-group.2\n");
    REQUIRE(who.ok());
    CHECK(who.config->server.user == "antigravityd");
    CHECK(who.config->server.group == "agd-group.2");
    CHECK(only_error("[server]\nuser = root; rm\n") ==
          at(2, "server.user: expected a user or group name, got \"root; rm\""));
    CHECK(only_error("[server]\ngroup = -wheel\n") == at(2, "server.group: expected a user or group name, got \"-wheel\""));
    // 0 turns streamed uploads off.
    LoadResult off = load("[server]\nupload_buffer_size = 0\n");
    REQUIRE(off.ok());
    CHECK(off.config->server.upload_buffer_size == 0);
    CHECK(only_error("[server]\nupload_buffer_size = big\n") ==
          at(2, "server.upload_buffer_size: expected a size like 100M (suffix K, M or G), got \"big\""));
    CHECK(only_error("[server]\nmax_body_size = 99999999999999999999G\n") ==
          at(2, "server.max_body_size: expected a size like 100M (suffix K, M or G), got \"99999999999999999999G\""));
    CHECK(only_error("[server]\nworkers = 257\n") ==
          at(2, "server.workers: expected a number from 0 (one per CPU) to 256, got \"257\""));
    CHECK(only_error("[server]\nworkers = -1\n") ==
          at(2, "server.workers: expected a number from 0 (one per CPU) to 256, got \"-1\""));
    CHECK(only_error("[server]\nupstream_timeout = soon\n") ==
          at(2, "server.upstream_timeout: expected a duration like 30s (units ms, s, m, h, d), got \"soon\""));
    CHECK(only_error("[server]\nupstream_timeout = 0s\n") == at(2, "server.upstream_timeout: must be greater than 0"));
    CHECK(only_error("[server]\nconnect_timeout = -5s\n") ==
          at(2, "server.connect_timeout: expected a duration like 30s (units ms, s, m, h, d), got \"-5s\""));
    CHECK(only_error("[server]\nconnect_timeout = 0\n") == at(2, "server.connect_timeout: must be greater than 0"));
    CHECK(only_error("[server]\nshutdown_timeout = 1y\n") ==
          at(2, "server.shutdown_timeout: expected a duration like 30s (units ms, s, m, h, d), got \"1y\""));
    CHECK(only_error("[server]\npid_file = run/agd.pid\n") ==
          at(2, "server.pid_file: expected an absolute path, got \"run/agd.pid\""));
    CHECK(only_error("[server]\ncontrol_socket = ctl.sock\n") ==
          at(2, "server.control_socket: expected an absolute path, got \"ctl.sock\""));
    CHECK(only_error("[server]\ncontrol_socket = /" + std::string(120, 's') + "\n") ==
          at(2, "server.control_socket: socket path too long (at most 107 bytes)"));
    CHECK(only_error("[server]\nlog_level = verbose\n") ==
          at(2, "server.log_level: expected error, warning, notice, info or debug, got \"verbose\""));
    for (auto [word, level] : {std::pair{"error", LogLevel::Error}, {"warning", LogLevel::Warning},
                               {"notice", LogLevel::Notice}, {"info", LogLevel::Info}, {"debug", LogLevel::Debug}}) {
        LoadResult r = load(std::string("[server]\nlog_level = ") + word + "\n");
        REQUIRE(r.ok());
        CHECK(r.config->server.log_level == level);
    }
}

TEST_CASE("config loader: listen addresses") {
    const std::string expected = "expected ADDRESS:PORT (like 127.0.0.1:8045 or [::1]:8045) or unix:/PATH, got ";
    CHECK(only_error("[server]\nlisten = 127.0.0.1\n") == at(2, "server.listen: " + expected + "\"127.0.0.1\""));
    CHECK(only_error("[server]\nlisten = 127.0.0.1:\n") == at(2, "server.listen: " + expected + "\"127.0.0.1:\""));
    CHECK(only_error("[server]\nlisten = 127.0.0.1:http\n") ==
          at(2, "server.listen: " + expected + "\"127.0.0.1:http\""));
    CHECK(only_error("[server]\nlisten = [::1]\n") == at(2, "server.listen: " + expected + "\"[::1]\""));
    CHECK(only_error("[server]\nlisten = 127.0.0.1:65536\n") ==
          at(2, "server.listen: port out of range (0-65535), got \"127.0.0.1:65536\""));
    CHECK(only_error("[server]\nlisten = 127.0.0.1:99999999999999999999\n") ==
          at(2, "server.listen: port out of range (0-65535), got \"127.0.0.1:99999999999999999999\""));
    CHECK(only_error("[server]\nlisten = localhost:8045\n") ==
          at(2, "server.listen: expected an IP address (not a host name) before the port, got \"localhost:8045\""));
    CHECK(only_error("[server]\nlisten = ::1:8045\n") ==
          at(2, "server.listen: an IPv6 address needs brackets, like [::1]:8045, got \"::1:8045\""));
    CHECK(only_error("[server]\nlisten = [127.0.0.1]:8045\n") ==
          at(2, "server.listen: brackets are for IPv6 addresses only, got \"[127.0.0.1]:8045\""));
    CHECK(only_error("[server]\nlisten = unix:relative.sock\n") ==
          at(2, "server.listen: expected an absolute socket path after unix:, got \"unix:relative.sock\""));
    CHECK(only_error("[server]\nlisten = unix:\n") ==
          at(2, "server.listen: expected an absolute socket path after unix:, got \"unix:\""));
    CHECK(only_error("[server]\nlisten = unix:/" + std::string(107, 'p') + "\n") ==
          at(2, "server.listen: unix socket path too long (at most 107 bytes)"));
    CHECK(only_error("[server]\nlisten = 127.0.0.1:8045\nlisten = 127.0.0.1:9000\nlisten = 127.0.0.1:8045\n") ==
          at(4, "server.listen: duplicate listen address \"127.0.0.1:8045\" (already on line 2)"));
    CHECK(only_error("[server]\nlisten = [::1]:80\nlisten = [0:0::1]:80\n") ==
          at(3, "server.listen: duplicate listen address \"[0:0::1]:80\" (already on line 2)"));
    CHECK(only_error("[server]\nlisten = unix:/run/a.sock\nlisten = unix:/run/a.sock\n") ==
          at(3, "server.listen: duplicate listen address \"unix:/run/a.sock\" (already on line 2)"));

    SUBCASE("several port-0 listeners are fine (the kernel picks distinct ports)") {
        LoadResult r = load("[server]\nlisten = 127.0.0.1:0\nlisten = 127.0.0.1:0\n");
        REQUIRE(r.ok());
        CHECK(r.config->server.listen.size() == 2);
    }
    SUBCASE("an IPv4-mapped address is normalised") {
        LoadResult r = load("[server]\nlisten = [::ffff:127.0.0.1]:8045\n");
        REQUIRE(r.ok());
        CHECK(r.config->server.listen[0].host == "127.0.0.1");
        CHECK(r.config->server.listen[0].loopback);
    }
    SUBCASE("a bad listen line does not bring back the default listener") {
        LoadResult r = load("[server]\nlisten = nonsense\n");
        CHECK_FALSE(r.ok());
        CHECK(r.partial.server.listen.empty());
    }
}

TEST_CASE("config loader: auth effective mode") {
    auto effective = [](const std::string& text) {
        LoadResult r = load(text);
        INFO(joined(errors_of(r)));
        REQUIRE(r.ok());
        return r.config->auth.effective;
    };
    CHECK(effective("") == AuthMode::Off);
    CHECK(effective("[server]\nlisten = 127.0.0.1:1\nlisten = [::1]:1\nlisten = 127.9.9.9:2\n") == AuthMode::Off);
    CHECK(effective("[server]\nlisten = unix:/run/x.sock\n") == AuthMode::Off);  // unix counts as loopback
    CHECK(effective("[server]\nlisten = 0.0.0.0:1\n[auth]\nkey = client-1234567\n") == AuthMode::AllExceptHealth);
    CHECK(effective("[server]\nlisten = 127.0.0.1:1\nlisten = [::]:1\n[auth]\nkey = client-1234567\n") ==
          AuthMode::AllExceptHealth);
    CHECK(effective("[auth]\nmode = auto\nkey = client-1234567\n") == AuthMode::Off);
    CHECK(effective("[auth]\nmode = strict\nkey = client-1234567\n") == AuthMode::Strict);
    CHECK(effective("[auth]\nmode = all_except_health\nkey = client-1234567\n") == AuthMode::AllExceptHealth);
    CHECK(effective("[server]\nlisten = 0.0.0.0:1\n[auth]\nmode = off\n") == AuthMode::Off);

    LoadResult r = load("[auth]\nmode = auto\n");
    REQUIRE(r.ok());
    CHECK(r.config->auth.mode == AuthMode::Auto);
}

TEST_CASE("config loader: auth errors and warnings") {
    CHECK(only_error("[auth]\n\nmode = strict\n") == at(3, "auth.mode: strict needs at least one key (auth.key or a [client.NAME] key)"));
    CHECK(only_error("[auth]\nmode = all_except_health\n") ==
          at(2, "auth.mode: all_except_health needs at least one key (auth.key or a [client.NAME] key)"));
    CHECK(only_error("[auth]\nmode = sometimes\n") ==
          at(2, "auth.mode: expected off, strict, all_except_health or auto, got \"sometimes\""));
    CHECK(only_error("[server]\nlisten = 127.0.0.1:8045\nlisten = 10.0.0.5:8045\n") ==
          at(3,
             "server.listen: listening on 10.0.0.5:8045 (not loopback) requires auth.key (or a [client.NAME] key), or set "
             "auth.mode = off explicitly"));
    CHECK(only_error("[server]\nlisten = [::]:8045\n[auth]\nmode = auto\n") ==
          at(2,
             "server.listen: listening on [::]:8045 (not loopback) requires auth.key (or a [client.NAME] key), or set "
             "auth.mode = off explicitly"));
    CHECK(only_error("[auth]\nmode = off\nkey = has space\n") ==
          at(3, "auth.key: must not contain whitespace or control characters"));

    LoadResult r = load("[server]\nlisten = 0.0.0.0:8045\n[auth]\nmode = off\n");
    REQUIRE(r.ok());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].str() ==
          at(4,
             "auth.mode: off while listening on 0.0.0.0:8045 (not loopback): anyone who can reach it can use the "
             "provider keys"));
}

TEST_CASE("config loader: access rules") {
    CHECK(only_error("[access]\nallow = 192.168.0.0/33\n") ==
          at(2,
             "access.allow: expected an IP address or CIDR range (like 192.168.0.0/16 or fd00::/8), got "
             "\"192.168.0.0/33\""));
    CHECK(only_error("[access]\ndeny = example.com\n") ==
          at(2, "access.deny: expected an IP address or CIDR range (like 192.168.0.0/16 or fd00::/8), got "
                "\"example.com\""));
    CHECK(only_error("[access]\ntrusted_proxy = 10.0.0.0/\n") ==
          at(2, "access.trusted_proxy: expected an IP address or CIDR range (like 192.168.0.0/16 or fd00::/8), "
                "got \"10.0.0.0/\""));

    LoadResult r = load("[access]\nallow = 10.0.0.0/8\nallow = 2001:db8::/32\ntrusted_proxy = ::ffff:127.0.0.1\n");
    REQUIRE(r.ok());
    const auto& a = r.config->access;
    CHECK(a.allow[0].contains(*agd::parse_ip("::ffff:10.1.2.3")));
    CHECK(a.allow[1].contains(*agd::parse_ip("2001:db8:1::9")));
    CHECK_FALSE(a.allow[1].contains(*agd::parse_ip("10.1.2.3")));
    CHECK(a.trusted_proxies[0].contains(*agd::parse_ip("127.0.0.1")));
}

TEST_CASE("config loader: access.real_ip_header") {
    LoadResult r = load("[access]\ntrusted_proxy = 127.0.0.1\nreal_ip_header = X-Real-IP\n");
    REQUIRE(r.ok());
    CHECK(r.config->access.real_ip_header == RealIpHeader::XRealIp);
    CHECK(r.warnings.empty());
    r = load("[access]\nreal_ip_header = x-forwarded-for\ntrusted_proxy = 10.0.0.0/8\n");
    REQUIRE(r.ok());
    CHECK(r.config->access.real_ip_header == RealIpHeader::XForwardedFor);
    CHECK(r.warnings.empty());

    CHECK(only_error("[access]\nreal_ip_header = forwarded\n") ==
          at(2, "access.real_ip_header: expected x-forwarded-for or x-real-ip, got \"forwarded\""));
    CHECK(only_error("[access]\nreal_ip_header = x-real-ip\nreal_ip_header = x-real-ip\n") ==
          at(3, "access.real_ip_header: already set on line 2 (only lists may repeat a key)"));
    CHECK(only_error("[access]\nreal_ip = x-real-ip\n") ==
          at(2, "access.real_ip: unknown key (expected allow, deny, trusted_proxy or real_ip_header)"));

    // Without a trusted proxy no forwarding header is believed: say so.
    r = load("[access]\nreal_ip_header = x-real-ip\n");
    REQUIRE(r.ok());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].str() ==
          at(2, "access.real_ip_header: has no effect without access.trusted_proxy (forwarding headers are "
                "believed only from those)"));
}

TEST_CASE("config loader: routing values") {
    CHECK(only_error("[routing]\nstrategy = random\n") ==
          at(2, "routing.strategy: expected round-robin, fill-first or weighted, got \"random\""));
    CHECK(only_error("[routing]\nmax_attempts = 0\n") ==
          at(2, "routing.max_attempts: expected a number from 1 to 10, got \"0\""));
    CHECK(only_error("[routing]\nmax_attempts = 11\n") ==
          at(2, "routing.max_attempts: expected a number from 1 to 10, got \"11\""));
    CHECK(only_error("[routing]\ncooldown = 1w\n") ==
          at(2, "routing.cooldown: expected a duration like 30s (units ms, s, m, h, d), got \"1w\""));
    LoadResult r = load("[routing]\nstrategy = round-robin\ncooldown = 0s\nmax_attempts = 1\n");
    REQUIRE(r.ok());
    CHECK(r.config->routing.cooldown == 0ms);
    CHECK(r.config->routing.max_attempts == 1);
}

TEST_CASE("config loader: weights, tiers and sticky sessions") {
    LoadResult r = load("[routing]\nstrategy = weighted\nsticky = session\nsticky_ttl = 20m\n"
                        "[provider.a]\ntype = openai\nweight = 2\npriority = 1\n"
                        "key = sk-live-aaaa1111 weight=5\nkey = sk-live-bbbb2222\nmodels = m\n");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.ok());
    CHECK(r.warnings.empty());
    CHECK(r.config->routing.strategy == Strategy::Weighted);
    CHECK(r.config->routing.sticky);
    CHECK(r.config->routing.sticky_ttl == 20min);
    const auto& p = r.config->providers[0];
    CHECK(p.keys == std::vector<std::string>{"sk-live-aaaa1111", "sk-live-bbbb2222"});
    CHECK(p.key_weights == std::vector<unsigned>{5, 2});
    CHECK(p.priority == 1);

    CHECK(only_error(kProvider + "weight = 0\n") ==
          at(5, "provider.openai.weight: expected a number from 1 to 1000, got \"0\""));
    CHECK(only_error(kProvider + "priority = -1\n") ==
          at(5, "provider.openai.priority: expected a number from 0 to 1000, got \"-1\""));
    // A bad option is reported without echoing what may be part of a key.
    CHECK(only_error(kProvider + "key = sk-live-cccc3333 wieght=2\n") ==
          at(5, "provider.openai.key: unknown option after the key (expected weight=N)"));
    CHECK(only_error(kProvider + "key = sk-live-cccc3333 weight=x\n") ==
          at(5, "provider.openai.key: weight: expected a number from 1 to 1000, got \"x\""));
    CHECK(only_error("[routing]\nsticky = yes\n") == at(2, "routing.sticky: expected off or session, got \"yes\""));
    // Weights with another strategy do nothing: said once.
    LoadResult w = load(kProvider + "weight = 3\n");
    REQUIRE(w.ok());
    REQUIRE(w.warnings.size() == 1);
    CHECK(w.warnings[0].str() == at(5, "provider.openai: weights count only with [routing] strategy = weighted"));
}

TEST_CASE("config loader: [model.NAME] fallback lists") {
    const std::string providers = kProvider + "[provider.claude]\ntype = anthropic\nkey = sk-ant-live-0123456789\n"
                                              "models = claude-*\n";
    LoadResult r = load(providers + "[model.gpt-4o*]\nfallback = claude-a, claude-b\nfirst_token_timeout = 20s\n"
                                    "[model.gpt-4o-mini]\nfallback = claude-c\n");
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.ok());
    REQUIRE(r.config->models.size() == 2);
    CHECK(r.config->models[0].is_glob);
    CHECK(r.config->models[0].fallback == std::vector<std::string>{"claude-a", "claude-b"});
    CHECK(r.config->models[0].first_token_timeout == 20s);
    CHECK(r.config->models[1].first_token_timeout == -1ms);
    // The exact name wins over an earlier glob; no section: nullptr.
    CHECK(model_config(*r.config, "gpt-4o-mini") == &r.config->models[1]);
    CHECK(model_config(*r.config, "gpt-4o") == &r.config->models[0]);
    CHECK(model_config(*r.config, "claude-a") == nullptr);

    CHECK(only_error(providers + "[model.gpt-4o]\nfallback = llama\n") ==
          at(9, "model.gpt-4o.fallback: no provider serves model \"llama\""));
    CHECK(only_error(providers + "[model.gpt-4o]\nfallback = claude-*\n") ==
          at(10, "model.gpt-4o.fallback: a fallback is an exact model name, got \"claude-*\""));
    CHECK(only_error(providers + "[model.gpt-4o]\nfallback = gpt-4o\n") ==
          at(10, "model.gpt-4o.fallback: a model cannot fall back to itself"));
    CHECK(only_error(providers + "[model.gpt-4o]\nretry = 2\n") ==
          at(10, "model.gpt-4o.retry: unknown key (expected fallback or first_token_timeout)"));
    CHECK(only_error(providers + "[model.a]\n[model.a]\n") ==
          at(10, "model.a: duplicate model section (first defined on line 9)"));
    CHECK(only_error(providers + "[model]\n") ==
          at(9, "model: missing model name: write [model.NAME] (NAME may be a glob such as claude-*)"));
}

TEST_CASE("config loader: OAuth2 providers, auth headers and extra headers") {
    const std::string oauth = "[provider.sub]\ntype = anthropic\nauth = oauth2\ntoken_url = https://auth.example/token\n"
                              "client_id = my-client\nscope = a b\ntoken_file = /var/lib/antigravityd/oauth/a.json\n"
                              "token_file = /var/lib/antigravityd/oauth/b.json\nauth_header = authorization-bearer\n"
                              "extra_header = anthropic-beta: oauth-2025-04-20\nrefresh_lead = 10m\nmodels = claude-*\n";
    LoadResult r = load(oauth);
    for (const auto& e : r.errors) INFO(e.str());
    REQUIRE(r.ok());
    const auto& p = r.config->providers[0];
    CHECK(p.auth == ProviderAuth::OAuth2);
    CHECK(p.keys.empty());
    CHECK(p.token_files.size() == 2);
    CHECK(p.token_url == "https://auth.example/token");
    CHECK(p.client_id == "my-client");
    CHECK(p.scope == "a b");
    CHECK(p.auth_header == AuthHeader::Bearer);
    CHECK(p.extra_headers == std::vector<std::string>{"anthropic-beta: oauth-2025-04-20"});
    CHECK(p.refresh_lead == 10min);

    auto errors = errors_of(load("[provider.sub]\ntype = openai\nauth = oauth2\nkey = sk-live-0123456789\nmodels = m\n"));
    CHECK(errors == std::vector<std::string>{at(1, "provider.sub: auth = oauth2 takes token_file lines, not keys"),
                                             at(1, "provider.sub: auth = oauth2: no token_file configured (each file is one credential)"),
                                             at(1, "provider.sub: auth = oauth2: no token_url configured"),
                                             at(1, "provider.sub: auth = oauth2: no client_id configured")});
    CHECK(only_error(kProvider + "client_id = x\n") ==
          at(5, "provider.openai: token_url, client_id, client_secret_file, scope and token_file need auth = oauth2"));
    CHECK(only_error(kProvider + "token_file = relative.json\n") == at(5, "provider.openai.token_file: expected an absolute path"));
    CHECK(only_error(kProvider + "extra_header = no colon\n") ==
          at(5, "provider.openai.extra_header: expected Name: value (a header name, then its value on one line)"));
    CHECK(only_error(kProvider + "auth_header = cookie\n") ==
          at(5, "provider.openai.auth_header: expected authorization-bearer, x-api-key or x-goog-api-key, got \"cookie\""));
    CHECK(only_error(kProvider + "extra_header = Content-Length: 5\n") ==
          at(5, "provider.openai.extra_header: header Content-Length is set by the daemon itself"));
    CHECK(only_error(kProvider + "extra_header = authorization: Bearer x\n") ==
          at(5, "provider.openai.extra_header: header authorization is set by the daemon itself"));
    LoadResult clear = load("[provider.sub]\ntype = openai\nauth = oauth2\ntoken_url = http://auth.example/t\n"
                            "client_id = c\ntoken_file = /x.json\nmodels = m\n");
    REQUIRE(clear.ok());
    CHECK(warnings_of(clear) == std::vector<std::string>{
              at(4, "provider.sub.token_url: plain http: refresh and access tokens would cross the network in clear")});
    CHECK(only_error(kProvider + "ca_file = certs/ca.pem\n") ==
          at(5, "provider.openai.ca_file: expected an absolute path without blanks"));
    char dir[] = "/tmp/agd-ca-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    std::string pem = std::string(dir) + "/ca.pem", junk = std::string(dir) + "/junk.pem";
    std::ofstream(pem) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    std::ofstream(junk) << "not a certificate\n";
    LoadResult ca = load(kProvider + "ca_file = " + pem + "\n");
    REQUIRE(ca.ok());
    CHECK(ca.config->providers[0].ca_file == pem);
    CHECK(only_error(kProvider + "ca_file = " + junk + "\n") ==
          at(5, "provider.openai.ca_file: " + junk + " holds no PEM certificate"));
    CHECK(only_error(kProvider + "ca_file = " + std::string(dir) + "/none.pem\n") ==
          at(5, "provider.openai.ca_file: cannot read " + std::string(dir) + "/none.pem: No such file or directory"));
    std::remove(pem.c_str());
    std::remove(junk.c_str());
    ::rmdir(dir);
    // An extra header works with keys too.
    LoadResult k = load(kProvider + "extra_header = OpenAI-Organization: org-1\n");
    REQUIRE(k.ok());
    CHECK(k.config->providers[0].extra_headers == std::vector<std::string>{"OpenAI-Organization: org-1"});
}

TEST_CASE("config loader: provider errors") {
    CHECK(only_error("[provider.x]\nkey = sk-live-0123456789\nmodels = m\n") ==
          at(1, "provider.x: no type configured (expected openai, anthropic or gemini)"));
    CHECK(only_error("\n[provider.x]\ntype = openai\nmodels = m\n") ==
          at(2, "provider.x: no key configured (each key is one credential)"));
    CHECK(only_error("[provider.x]\ntype = openai\nkey = sk-live-0123456789\n") ==
          at(1, "provider.x: no models configured"));
    CHECK(errors_of(load("[provider.empty]\n")) ==
          std::vector<std::string>{at(1, "provider.empty: no type configured (expected openai, anthropic or gemini)"),
                                   at(1, "provider.empty: no key configured (each key is one credential)"),
                                   at(1, "provider.empty: no models configured")});
    CHECK(only_error("[provider.x]\ntype = mistral\nkey = sk-live-0123456789\nmodels = m\n") ==
          at(2, "provider.x.type: expected openai, anthropic or gemini, got \"mistral\""));
    CHECK(only_error("[provider.x]\napi = responses\ntype = anthropic\nkey = sk-live-0123456789\nmodels = m\n") ==
          at(2, "provider.x.api: only valid for type = openai, not anthropic"));
    CHECK(only_error("[provider.x]\ntype = gemini\napi = chat\nkey = sk-live-0123456789\nmodels = m\n") ==
          at(3, "provider.x.api: only valid for type = openai, not gemini"));
    CHECK(only_error(kProvider + "api = completions\n") ==
          at(5, "provider.openai.api: expected chat or responses, got \"completions\""));
    CHECK(only_error(kProvider + "base_url = ftp://example.test\n") ==
          at(5, "provider.openai.base_url: expected an http:// or https:// URL"));
    CHECK(only_error(kProvider + "base_url = https://\n") == at(5, "provider.openai.base_url: URL has no host"));
    CHECK(only_error(kProvider + "base_url = https://x.test/v1?key=1\n") ==
          at(5, "provider.openai.base_url: URL must not contain a query ('?') or fragment ('#')"));
    CHECK(only_error(kProvider + "proxy = ftp://127.0.0.1:21\n") ==
          at(5, "provider.openai.proxy: expected a proxy URL starting with http://, https://, socks5:// or "
                "socks5h://"));
    CHECK(only_error(kProvider + "proxy = socks5://\n") == at(5, "provider.openai.proxy: proxy URL has no host"));
    CHECK(only_error(kProvider + "http_client = native\n") ==
          at(5, "provider.openai.http_client: expected auto, libcurl or libcurl-h2, got \"native\""));
    {
        LoadResult h2 = load(kProvider + "http_client = libcurl-h2\n");
        REQUIRE(h2.ok());
        CHECK(h2.config->providers[0].http_client == HttpClient::LibcurlH2);
    }
    CHECK(only_error(kProvider + "http_client = auto\nhttp_client = libcurl\n") ==
          at(6, "provider.openai.http_client: already set on line 5 (only lists may repeat a key)"));
    CHECK(only_error("[provider.bad name!]\ntype = openai\n") ==
          at(1, "provider.bad name!: bad provider name (use letters, digits, '_', '.' and '-')"));
    CHECK(only_error("[provider.]\n") == at(1, "provider.: bad provider name (use letters, digits, '_', '.' and '-')"));
    CHECK(only_error("[provider]\ntype = openai\n") == at(1, "provider: missing provider name: write [provider.NAME]"));
    CHECK(only_error(kProvider + "\n[provider.openai]\ntype = gemini\n") ==
          at(6, "provider.openai: duplicate provider name (first defined on line 1)"));

    for (const char* scheme : {"http", "https", "socks5", "socks5h"}) {
        LoadResult r = load(kProvider + "proxy = " + scheme + "://user:pw@proxy.test:3128\n");
        REQUIRE(r.ok());
        CHECK(r.config->providers[0].proxy == std::string(scheme) + "://user:pw@proxy.test:3128");
    }
    LoadResult r = load(kProvider + "base_url = http://localhost:11434/v1//\n");
    REQUIRE(r.ok());
    CHECK(r.config->providers[0].base_url == "http://localhost:11434/v1");
}

TEST_CASE("config loader: models lists") {
    CHECK(only_error(kProvider + "models = a,,b\n") == at(5, "provider.openai.models: empty entry in the models list"));
    CHECK(only_error(kProvider + "models = a,\n") == at(5, "provider.openai.models: empty entry in the models list"));
    CHECK(only_error(kProvider + "models = fast*=gpt-4o-mini\n") ==
          at(5, "provider.openai.models: a rename (alias=upstream-name) cannot use glob characters, got "
                "\"fast*=gpt-4o-mini\""));
    CHECK(only_error(kProvider + "models = fast=gpt-4o-?\n") ==
          at(5, "provider.openai.models: a rename (alias=upstream-name) cannot use glob characters, got "
                "\"fast=gpt-4o-?\""));
    CHECK(only_error(kProvider + "models = fast=\n") ==
          at(5, "provider.openai.models: expected alias=upstream-name, got \"fast=\""));
    CHECK(only_error(kProvider + "models = a=b=c\n") ==
          at(5, "provider.openai.models: expected alias=upstream-name, got \"a=b=c\""));
    CHECK(only_error(kProvider + "models = gpt 4o\n") ==
          at(5, "provider.openai.models: model names cannot contain spaces, got \"gpt 4o\""));

    LoadResult r = load(kProvider + "models =  o[13]* ,  big = gpt-4.1 ,exact-name\n");
    REQUIRE(r.ok());
    const auto& m = r.config->providers[0].models;
    REQUIRE(m.size() == 4);
    CHECK(m[1].pattern == "o[13]*");
    CHECK(m[1].is_glob);
    CHECK(m[2].pattern == "big");
    CHECK(m[2].upstream_name == "gpt-4.1");
    CHECK(m[3].pattern == "exact-name");
    CHECK_FALSE(m[3].is_glob);
}

TEST_CASE("config loader: every error is collected, in line order") {
    LoadResult r = load(
        "[server]\n"                  // 1
        "workers = 1000\n"            // 2
        "max_body_size = lots\n"      // 3
        "listen = 0.0.0.0:8045\n"     // 4
        "[bogus]\n"                   // 5
        "x = 1\n"                     // 6 (inside an unknown section: not reported again)
        "[routing]\n"                 // 7
        "strategy = random\n"         // 8
        "[provider.p]\n"              // 9
        "type = gemini\n"             // 10
        "api = chat\n"                // 11
        "[access]\n"                  // 12
        "allow = nope\n");            // 13
    CHECK_FALSE(r.ok());
    std::vector<int> lines;
    for (const auto& d : r.errors) lines.push_back(d.line);
    CHECK(lines == std::vector<int>{2, 3, 4, 5, 8, 9, 9, 11, 13});
    for (const auto& d : r.errors) CHECK(d.file == kFile);
    // The partial config keeps what could be read.
    CHECK(r.partial.server.listen.size() == 1);
    CHECK(r.partial.routing.strategy == Strategy::RoundRobin);
    REQUIRE(r.partial.providers.size() == 1);
    CHECK(r.partial.providers[0].type == ProviderType::Gemini);
}

TEST_CASE("config loader: partial config carries control_socket and pid_file of a broken file") {
    LoadResult r = load("[server]\ncontrol_socket = /tmp/agd-test.sock\npid_file = /tmp/agd-test.pid\nworkers = x\n");
    CHECK_FALSE(r.ok());
    CHECK(r.partial.server.control_socket == "/tmp/agd-test.sock");
    CHECK(r.partial.server.pid_file == "/tmp/agd-test.pid");
    CHECK(r.partial.path == kFile);
}

TEST_CASE("config loader: placeholder keys are warnings") {
    LoadResult r = load(
        "[auth]\nmode = off\nkey = YOUR-CLIENT-KEY\n"
        "[provider.openai]\ntype = openai\nkey = sk-...\nkey = sk-live-0123456789\nkey = sk-live-0123456789\n"
        "models = gpt-4o\n");
    REQUIRE(r.ok());
    CHECK(warnings_of(r) == std::vector<std::string>{
                                at(3, "auth.key: looks like a placeholder, not a real key"),
                                at(6, "provider.openai.key: looks like a placeholder, not a real key"),
                                at(8, "provider.openai.key: the same key is listed twice; the repeat is ignored"),
                            });
    CHECK(r.config->providers[0].keys.size() == 2);
}

TEST_CASE("config loader: diagnostics never contain a secret") {
    LoadResult r = load(
        "[auth]\n"
        "mode = strict\n"
        "key = clientSECRET0002\n"
        "key = clientSECRET0002\n"                         // duplicate warning
        "admin_password = adminSECRET0003\n"
        "admin_password = adminSECRET0003\n"               // already set
        "key = \"clientSECRET0002\"\n"                     // quoted
        "[provider.p]\n"
        "type = anthropic\n"
        "api = chat\n"
        "key = sk-SECRETprovider0001\n"
        "key = sk-SECRETprovider0001\n"
        "key = sk-SECRET...placeholder\n"
        "key = sk-SECRET provider0001\n"                   // whitespace
        "models = m\n"
        "proxy = socks5://user:SECRETpw@proxy\n"
        "proxy = ftp://user:SECRETpw@proxy\n"
        "base_url = ftp://SECRETinurl\n"
        "[provider.q]\n"
        "proxy = gopher://user:SECRETpw@proxy\n"
        "base_url = https://x/?k=SECRETinurl\n"
        "key = " + std::string(300, 'S') + "SECRETprovider0001\n"
        "key = ;\n");
    CHECK_FALSE(r.ok());
    CHECK(r.errors.size() >= 8);
    CHECK_FALSE(r.warnings.empty());
    for (const auto* list : {&r.errors, &r.warnings}) {
        for (const auto& d : *list) {
            std::string s = d.str();
            INFO(s);
            CHECK(s.find("SECRET") == std::string::npos);
        }
    }
}

TEST_CASE("config loader: load_file") {
    SUBCASE("missing file") {
        LoadResult r = load_file("/nonexistent/dir/agd.conf");
        CHECK_FALSE(r.ok());
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].str() == "/nonexistent/dir/agd.conf:0: cannot read: No such file or directory");
        CHECK(r.partial.server.control_socket == "/run/antigravityd/control.sock");
    }
    SUBCASE("a directory") {
        LoadResult r = load_file("/tmp");
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].str() == "/tmp:0: cannot read: Is a directory");
    }
    SUBCASE("a real file, with line numbers") {
        char path[] = "/tmp/agd-config-test-XXXXXX";
        int fd = mkstemp(path);
        REQUIRE(fd >= 0);
        close(fd);
        {
            std::ofstream out(path);
            out << "[routing]\nmax_attempts = 2\n\n[server]\nworkers = nine\n";
        }
        LoadResult r = load_file(path);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].str() ==
              std::string(path) + ":5: server.workers: expected a number from 0 (one per CPU) to 256, got \"nine\"");
        CHECK(r.partial.routing.max_attempts == 2);
        {
            std::ofstream out(path, std::ios::trunc);
            out << "[routing]\nmax_attempts = 2\n";
        }
        LoadResult ok = load_file(path);
        REQUIRE(ok.ok());
        CHECK(ok.config->path == path);
        unlink(path);
    }
}

TEST_CASE("config loader: safe to call from several threads") {
    const std::string text = kProvider + "[server]\nworkers = 3\nlisten = 127.0.0.1:0\n";
    std::vector<std::thread> threads;
    std::vector<int> ok(8, 0);
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            int good = 0;
            for (int i = 0; i < 50; ++i) {
                LoadResult r = load_string(text, "t.conf");
                if (r.ok() && r.config->server.workers == 3 && r.config->providers.size() == 1) ++good;
            }
            ok[static_cast<std::size_t>(t)] = good;
        });
    }
    for (auto& th : threads) th.join();
    for (int v : ok) CHECK(v == 50);
}
