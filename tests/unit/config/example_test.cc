// The example configuration installed to /etc/antigravityd/ must load as it
// is, and again with every "#key = value" line and "#[section]" header
// uncommented (so each key it shows is spelled and valued correctly).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>
#include <string>

#include "config/loader.h"

using namespace agd::config;
namespace fs = std::filesystem;

namespace {

// The source tree is the working directory (tests run from the top) or one
// of its ancestors (meson test runs in the build directory inside it).
fs::path find_example() {
    std::error_code ec;
    std::vector<fs::path> starts = {fs::current_path(ec), fs::path(__FILE__).parent_path()};
    for (fs::path dir : starts) {
        if (dir.empty()) continue;
        dir = fs::absolute(dir, ec);
        for (int i = 0; i < 8 && !dir.empty(); ++i) {
            fs::path candidate = dir / "etc" / "antigravityd.conf";
            if (fs::exists(dir / "src" / "config" / "loader.h", ec) && fs::exists(candidate, ec)) return candidate;
            if (dir == dir.parent_path()) break;
            dir = dir.parent_path();
        }
    }
    return {};
}

std::string read_all(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// "#key = value" -> "key = value", "#[section]" -> "[section]"; prose
// comments ("# text") stay.
std::string uncomment(const std::string& text) {
    std::string out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line[1] != '#' &&
            (line[1] == '[' || line.find(" = ") != std::string::npos))
            line.erase(0, 1);
        out += line + "\n";
    }
    return out;
}

std::string joined(const std::vector<Diagnostic>& ds) {
    std::string s;
    for (const auto& d : ds) s += d.str() + "\n";
    return s;
}

}  // namespace

TEST_CASE("config example: etc/antigravityd.conf loads as shipped and fully uncommented") {
    fs::path path = find_example();
    REQUIRE_MESSAGE(!path.empty(), "etc/antigravityd.conf not found from the working directory");

    LoadResult shipped = load_file(path.string());
    INFO(joined(shipped.errors));
    REQUIRE(shipped.ok());
    CHECK(shipped.warnings.empty());
    CHECK(shipped.config->providers.empty());
    CHECK(shipped.config->auth.effective == AuthMode::Off);

    // Every shown default equals the built-in default.
    std::string text = read_all(path);
    std::string all = uncomment(text);
    CHECK(all != text);
    // The files the example names (a CA, an OAuth2 client secret and
    // refresh token) are made here, where the loader can read them.
    fs::path files = fs::temp_directory_path() / ("agd-example-" + std::to_string(::getpid()));
    fs::create_directories(files);
    struct Cleanup {
        fs::path p;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } cleanup{files};
    for (auto [shown, content] : {std::pair<std::string, std::string>{"/etc/antigravityd/upstream-ca.pem", ""},
                                  {"/etc/antigravityd/oauth-client-secret", "client-secret-example\n"},
                                  {"/etc/antigravityd/admin.token", std::string(64, 'a') + "\n"},
                                  {"key_file = openai-keys", "sk-proj-from-a-key-file-0001\n"},
                                  {"/var/lib/antigravityd/oauth-account-1.json",
                                   "{\"refresh_token\": \"rt-example-0000\"}\n"}}) {
        REQUIRE_MESSAGE(all.find(shown) != std::string::npos, shown);
        bool key_file = shown.starts_with("key_file = ");
        fs::path made = files / (key_file ? fs::path("openai-keys") : fs::path(shown).filename());
        if (content.empty()) {
            fs::copy_file("/etc/ssl/certs/ca-certificates.crt", made);  // some PEM certificates
        } else {
            std::ofstream(made) << content;
        }
        fs::permissions(made, fs::perms::owner_read | fs::perms::owner_write);
        std::string now = key_file ? "key_file = " + made.string() : made.string();
        for (size_t at; (at = all.find(shown)) != std::string::npos;) all.replace(at, shown.size(), now);
    }
    LoadResult full = load_string(all, "uncommented");
    INFO(joined(full.errors));
    REQUIRE(full.ok());
    const Config& c = *full.config;
    const Config defaults;
    CHECK(c.server.listen.size() == 2);
    CHECK(c.server.listen[0].text == "127.0.0.1:8045");
    CHECK(c.server.workers == defaults.server.workers);
    CHECK(c.server.max_body_size == defaults.server.max_body_size);
    CHECK(c.server.upload_buffer_size == defaults.server.upload_buffer_size);
    CHECK(c.server.upstream_timeout == defaults.server.upstream_timeout);
    CHECK(c.server.connect_timeout == defaults.server.connect_timeout);
    CHECK(c.server.shutdown_timeout == defaults.server.shutdown_timeout);
    CHECK(c.server.pid_file == defaults.server.pid_file);
    CHECK(c.server.state_dir == defaults.server.state_dir);
    CHECK(c.server.control_socket == defaults.server.control_socket);
    CHECK(c.server.log_level == defaults.server.log_level);
    CHECK(c.auth.mode == AuthMode::Auto);
    CHECK(c.auth.keys.size() == 1);
    REQUIRE(c.admin.listen.size() == 1);
    CHECK(c.admin.listen[0].text == "127.0.0.1:8046");
    CHECK(c.admin.password_hash.rfind("$y$", 0) == 0);
    CHECK_FALSE(c.admin.viewer_password_hash.empty());
    CHECK(c.admin.token.size() == 64);
    CHECK(c.admin.hosts == std::vector<std::string>{"gw.example.lan"});
    CHECK(c.admin.session_timeout == defaults.admin.session_timeout);
    CHECK(c.access.allow.size() == 2);
    CHECK(c.access.deny.size() == 1);
    CHECK(c.access.trusted_proxies.size() == 1);
    CHECK(c.access.real_ip_header == defaults.access.real_ip_header);
    CHECK(c.routing.strategy == defaults.routing.strategy);
    CHECK(c.routing.cooldown == defaults.routing.cooldown);
    CHECK(c.routing.max_attempts == defaults.routing.max_attempts);
    CHECK(c.routing.max_cooldown == defaults.routing.max_cooldown);
    CHECK(c.routing.probe_interval == defaults.routing.probe_interval);
    CHECK(c.routing.breaker_failures == defaults.routing.breaker_failures);
    CHECK(c.routing.breaker_cooldown == defaults.routing.breaker_cooldown);

    // One provider of each type, with the default base_url written out,
    // and one with OAuth2 tokens.
    REQUIRE(c.providers.size() == 4);
    CHECK(c.providers[0].type == ProviderType::OpenAI);
    CHECK(c.providers[0].base_url == "https://api.openai.com/v1");
    CHECK(c.providers[1].type == ProviderType::Anthropic);
    CHECK(c.providers[1].base_url == "https://api.anthropic.com");
    CHECK(c.providers[2].type == ProviderType::Gemini);
    CHECK(c.providers[2].base_url == "https://generativelanguage.googleapis.com");
    CHECK_FALSE(c.providers[2].proxy.empty());
    CHECK(c.providers[0].http_client == HttpClient::Auto);
    CHECK(c.providers[3].name == "oauth");
    CHECK(c.providers[3].auth == ProviderAuth::OAuth2);
    CHECK(c.providers[3].token_files.size() == 1);

    // The log and metrics sections show the defaults; one client with every limit.
    CHECK(c.log.database == defaults.log.database);
    CHECK(c.log.retention == defaults.log.retention);
    CHECK(c.log.rollup_retention == defaults.log.rollup_retention);
    CHECK(c.log.max_size == defaults.log.max_size);
    CHECK(c.log.bodies == defaults.log.bodies);
    CHECK(c.log.body_retention == defaults.log.body_retention);
    CHECK(c.log.body_max == defaults.log.body_max);
    CHECK(c.log.access_log == defaults.log.access_log);
    REQUIRE(c.metrics.listen.size() == 1);
    CHECK(c.metrics.listen[0].text == "127.0.0.1:9464");
    CHECK(c.server.listen[1].tls);
    CHECK(c.tls.certificate == "/etc/antigravityd/tls/fullchain.pem");
    CHECK(c.tls.key == "/etc/antigravityd/tls/privkey.pem");
    CHECK_FALSE(c.tls.client_ca.empty());
    CHECK(c.tls.min_version == defaults.tls.min_version);
    REQUIRE(c.clients.size() == 2);  // "default" from [auth] key, and team-a
    CHECK(c.clients[0].name == "default");
    const ClientConfig& team = c.clients[1];
    CHECK(team.name == "team-a");
    CHECK(team.rpm > 0);
    CHECK(team.tpm > 0);
    CHECK(team.daily_tokens > 0);
    CHECK(team.monthly_tokens > 0);
    CHECK(team.max_concurrent > 0);
    CHECK(team.expires > 0);
    CHECK(team.models.size() == 2);

    // Every placeholder key is flagged, and nothing else is.
    CHECK(full.warnings.size() == 6);  // 2 client keys, 4 provider keys
    for (const auto& w : full.warnings) CHECK(w.message.find("placeholder") != std::string::npos);
}
