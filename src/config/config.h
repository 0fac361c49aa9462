// Config: one immutable snapshot of antigravityd.conf. Built by the loader
// (loader.h) on the main thread, then shared read-only by every request as
// std::shared_ptr<const Config>.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/cidr.h"
#include "common/json.h"

namespace agd::config {

using Millis = std::chrono::milliseconds;

enum class LogLevel { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };
enum class AuthMode { Off, Strict, AllExceptHealth, Auto };
enum class Strategy { RoundRobin, FillFirst, Weighted };
enum class ProviderType { OpenAI, Anthropic, Gemini };
enum class OpenAIApi { Chat, Responses };
enum class RealIpHeader { XForwardedFor, XRealIp };

struct ListenAddr {
    enum class Kind { Tcp, Unix } kind = Kind::Tcp;
    std::string host;      // Tcp: "127.0.0.1", "::1", "0.0.0.0", "::" (no brackets)
    uint16_t port = 0;     // Tcp: 0 = kernel picks (tests)
    std::string path;      // Unix: socket path
    std::string text;      // as written in the file, for logs and status
    bool loopback = false; // Tcp on 127.0.0.0/8 or ::1, or any unix socket
    bool tls = false;      // "ADDRESS:PORT ssl": clients speak TLS ([tls]'s certificate)
    int line = 0;
};

// One entry of a provider's `models` list: a glob ("gpt-4o*") or an exact
// name, optionally renamed upstream ("fast=gpt-4o-mini": clients ask for
// "fast", the upstream is sent "gpt-4o-mini").
struct ModelPattern {
    std::string pattern;        // what the client asks for (glob or exact)
    std::string upstream_name;  // non-empty only for a rename
    bool is_glob = false;       // pattern contains * ? or [
};

enum class ProviderAuth { ApiKey, OAuth2 };
// How a credential goes upstream. Default: the wire's own (OpenAI
// Authorization: Bearer, Anthropic x-api-key, Gemini x-goog-api-key) for
// keys; Authorization: Bearer for OAuth2 access tokens.
enum class AuthHeader { Default, Bearer, XApiKey, XGoogApiKey };

// Which HTTP client carries a provider's requests: auto = the daemon's own
// HTTP/1.1 engine (plain and TLS) unless a proxy is set; libcurl = libcurl
// with HTTP/1.1; libcurl-h2 = libcurl, HTTP/2 over TLS where the upstream
// offers it (ALPN), HTTP/1.1 otherwise.
enum class HttpClient { Auto, Libcurl, LibcurlH2 };

struct ProviderConfig {
    std::string name;                 // [provider.NAME]
    ProviderType type = ProviderType::OpenAI;
    OpenAIApi api = OpenAIApi::Chat;  // openai only
    std::string base_url;             // no trailing slash
    std::vector<std::string> keys;    // each key is one credential
    std::vector<unsigned> key_weights;  // one per key: `key = K weight=N`, else the provider's weight
    unsigned weight = 1;              // strategy = weighted: the share of each key without its own
    unsigned priority = 0;            // tier: lower first; a higher number only when the lower tiers are out
    AuthHeader auth_header = AuthHeader::Default;
    std::vector<std::string> extra_headers;  // "Name: value", sent with every request
    // auth = oauth2: one credential per token file (keys is empty).
    ProviderAuth auth = ProviderAuth::ApiKey;
    std::vector<std::string> token_files;
    std::string token_url;
    std::string client_id;
    std::string client_secret_file;   // "" = a public client
    std::string scope;                // "" = not sent
    Millis refresh_lead{300'000};     // an access token is refreshed this long before it expires
    std::vector<ModelPattern> models;
    std::string proxy;                // "" = none; http://, https://, socks5://, socks5h://
    std::string ca_file;              // PEM certificates trusted for https besides the system store
    HttpClient http_client = HttpClient::Auto;
    int line = 0;                     // line of the section header
};

struct ServerConfig {
    std::vector<ListenAddr> listen;
    unsigned workers = 0;             // 0 = one per CPU (resolved by the daemon)
    uint64_t max_body_size = 100ull << 20;
    // An audio upload (multipart) longer than this goes upstream as it
    // arrives, with at most about this much of it held; 0: every body is
    // read whole first.
    uint64_t upload_buffer_size = 1ull << 20;
    unsigned max_json_depth = kDefaultMaxJsonDepth;  // nesting of any JSON a peer sends (16..4096)
    Millis upstream_timeout{300'000};  // max wait for upstream bytes (first byte or between chunks)
    Millis connect_timeout{10'000};
    Millis shutdown_timeout{30'000};
    Millis client_header_timeout{60'000};  // whole request head, from its first byte (or the accept)
    Millis client_body_timeout{60'000};    // between two reads of a request body
    unsigned max_connections_per_ip = 0;   // 0: no limit (trusted proxies and unix clients never count)
    std::string pid_file = "/run/antigravityd/antigravityd.pid";
    std::string control_socket = "/run/antigravityd/control.sock";
    std::string state_dir = "/var/lib/antigravityd";  // the credential ledger's file; "" = none
    // Started as root (outside systemd): once the listeners are bound the
    // daemon becomes this user (and group: its own by default). "" = stay.
    std::string user;
    std::string group;
    LogLevel log_level = LogLevel::Info;
};

struct AuthConfig {
    AuthMode mode = AuthMode::Auto;       // as written
    AuthMode effective = AuthMode::Off;   // Auto resolved against the listeners
    std::vector<std::string> keys;
};

struct AccessConfig {
    std::vector<Cidr> allow;
    std::vector<Cidr> deny;
    std::vector<Cidr> trusted_proxies;
    // The one header a trusted proxy's word is taken from; the other is ignored.
    RealIpHeader real_ip_header = RealIpHeader::XForwardedFor;
};

struct RoutingConfig {
    Strategy strategy = Strategy::RoundRobin;
    Millis cooldown{60'000};          // a cooling failure the upstream gave no time for
    unsigned max_attempts = 3;
    Millis max_cooldown{3'600'000};   // no upstream hint cools a credential longer
    Millis probe_interval{300'000};   // a credential cooled by a longer hint is tested this often
    unsigned breaker_failures = 5;    // transport failures in a row that open a credential's breaker
    Millis breaker_cooldown{30'000};  // how long the breaker stays open before one request tests it
    Millis first_token_timeout{0};    // 0: off; a stream's first content must come within this
    bool sticky = false;              // sticky = session: a conversation stays on its credential
    Millis sticky_ttl{3'600'000};     // a session's credential is forgotten after this long unused
};

// [client.NAME]: a person, team or application, its keys and limits.
// [auth] key entries belong to the client named "default". 0 = no limit.
struct ClientConfig {
    std::string name;
    std::vector<std::string> keys;
    std::vector<std::string> models;  // globs of models it may use; empty = any
    uint64_t rpm = 0;                 // requests per minute
    uint64_t tpm = 0;                 // tokens (input + output) per minute
    uint64_t daily_tokens = 0;        // per calendar day, server local time
    uint64_t monthly_tokens = 0;      // per calendar month
    unsigned max_concurrent = 0;      // requests in flight
    int expires = 0;                  // YYYYMMDD: keys refused after that day (local time); 0 = never
    int line = 0;                     // of the section header (0: made from [auth] key)
};

enum class LogBodies { Off, Errors, All };

// [log]: the access log and the request store.
struct LogConfig {
    std::string database = "/var/lib/antigravityd/antigravityd.db";  // "" = no store
    Millis retention{30LL * 86'400'000};         // request rows
    Millis rollup_retention{400LL * 86'400'000};  // hourly rollups
    uint64_t max_size = 1ull << 30;              // database + WAL
    LogBodies bodies = LogBodies::Off;
    Millis body_retention{86'400'000};
    uint64_t body_max = 256u << 10;              // per body kept
    std::string access_log = "stderr";           // "stderr", "off" or a file path
};

// [metrics]: the Prometheus listener (none by default).
struct MetricsConfig {
    std::vector<ListenAddr> listen;
};

// [admin]: the admin API (and web console) listener. Locked by default: a
// listener needs password_hash, a crypt(3) hash (`antigravityd passwd`).
struct AdminConfig {
    std::vector<ListenAddr> listen;     // none = no admin listener
    std::string password_hash;          // the admin role
    std::string viewer_password_hash;   // optional: the read-only role
    std::string token;                  // from token_file: Authorization: Bearer, the admin role
    std::string token_file;             // as resolved
    std::vector<std::string> hosts;     // Host names accepted besides the listener's own address
    Millis session_timeout{12LL * 3'600'000};
    int line = 0;                       // of the [admin] header; 0 = no section
};

// [tls]: what the `ssl` listeners serve. Paths as written resolved like
// key_file (config/key_file.h): relative ones under $CREDENTIALS_DIRECTORY
// when systemd set it, else next to the configuration file.
enum class TlsVersion { V1_2, V1_3 };

struct TlsConfig {
    std::string certificate;  // PEM: the server's certificate, then its chain
    std::string key;          // PEM: its private key (a file others may not read)
    std::string client_ca;    // PEM: CAs; set = every client presents a certificate one of them signed
    TlsVersion min_version = TlsVersion::V1_2;
    int line = 0;             // of the [tls] header; 0 = no section
};

// [model.NAME]: what is done for the models NAME matches (an exact name or
// a glob without classes).
struct ModelConfig {
    std::string pattern;
    bool is_glob = false;
    std::vector<std::string> fallback;  // exact model names, tried in order when every credential failed
    Millis first_token_timeout{-1};     // -1: [routing]'s
    int line = 0;
};

// [rule.NAME]: edits of the upstream body (after translation) and extra
// upstream headers, for the requests it matches (docs/RULES.md).
enum class RuleWire { Any, OpenAI, Chat, Responses, Anthropic, Gemini };

struct RuleEdit {
    enum class Kind { Default, Set, Remove };
    Kind kind = Kind::Set;
    std::vector<std::string> path;  // member names from the body's root object
    std::string value;              // compact JSON (Default, Set)
    std::string text;               // as written, for messages and `route`
};

struct RuleConfig {
    std::string name;
    std::vector<std::string> models;  // globs of the upstream model name; empty = every model
    RuleWire wire = RuleWire::Any;
    std::string client;               // a [client.NAME]; "" = any client
    std::vector<RuleEdit> edits;      // in the order written
    std::vector<std::string> headers; // "Name: value"
    int line = 0;
};

struct Config {
    std::string path;      // file it was loaded from
    ServerConfig server;
    AuthConfig auth;
    AccessConfig access;
    RoutingConfig routing;
    std::vector<ProviderConfig> providers;
    std::vector<ClientConfig> clients;  // "default" (from [auth] key) first when there is one
    std::vector<ModelConfig> models;    // in file order
    std::vector<RuleConfig> rules;      // in file order
    LogConfig log;
    MetricsConfig metrics;
    TlsConfig tls;
    AdminConfig admin;
};

// True when a server.listen or admin.listen address is `ssl`.
bool has_tls_listener(const Config& cfg);

// The [model.NAME] section for `model`: an exact name first, else the first
// glob that matches; nullptr when none.
const ModelConfig* model_config(const Config& cfg, std::string_view model);

const char* to_string(ProviderType);
const char* to_string(OpenAIApi);
const char* to_string(AuthMode);
const char* to_string(Strategy);
const char* to_string(ProviderAuth);
const char* to_string(AuthHeader);
const char* to_string(HttpClient);
const char* to_string(LogLevel);
const char* to_string(RealIpHeader);
const char* to_string(LogBodies);
const char* to_string(RuleWire);
const char* to_string(TlsVersion);

}  // namespace agd::config
