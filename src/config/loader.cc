// Loading antigravityd.conf.
//
// inih splits "key = value" lines, but Debian's build of it has a 200-byte
// line buffer, only ';' as inline comment prefix, a 50-byte section buffer,
// Python-style continuation lines and no line numbers in the handler; its
// options are process-wide globals we must not touch. So every line goes
// through our own reader first (ini_parse_stream), which:
//   - counts lines, so the handler knows where it is;
//   - strips the BOM, leading whitespace (no continuation lines), and inline
//     comments (';' or '#' at the start or after whitespace);
//   - tracks [section] headers itself (no length limit, every header seen,
//     even one without keys) and hands inih an empty line instead;
//   - rejects malformed lines with a diagnostic of its own, so inih never
//     sees one;
//   - hands over a line longer than inih's buffer as "name=\x01" and keeps
//     the full value aside for the handler.
#include "config/loader.h"
#include "auth/password.h"
#include "config/key_file.h"
#include "config/rules.h"

#include <fcntl.h>
#include <ini.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <system_error>
#include <utility>

#include "common/glob.h"
#include "common/read_all.h"
#include "common/units.h"

namespace agd::config {

std::string Diagnostic::str() const {
    std::string s = file;
    s += ':';
    s += std::to_string(line);
    s += ": ";
    if (!key.empty()) {
        s += key;
        s += ": ";
    }
    s += message;
    return s;
}

namespace {

constexpr std::size_t kMaxFileSize = 16u << 20;
constexpr std::size_t kMaxUnixPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr unsigned kMaxWorkers = 256;
constexpr unsigned kMaxConnectionsPerIp = 1'000'000;
constexpr unsigned kMaxAttempts = 10;
constexpr unsigned kMaxWeight = 1000;  // a key's or provider's weight, a provider's priority
constexpr size_t kMaxFallbacks = 8;     // models in one fallback chain
constexpr size_t kMaxRuleModels = 64;   // globs in one rule
constexpr size_t kMaxRuleEdits = 64;    // edits (and headers) in one rule
constexpr size_t kMaxCaFile = 16u << 20;  // a ca_file read at load
constexpr char kLongValueMarker[] = "\x01";

constexpr const char* kDefaultListen = "127.0.0.1:8045";
constexpr uint16_t kDefaultPort = 8045;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = ascii_lower(c);
    return out;
}

// A small file read whole (false, errno set, when it cannot be, or is
// larger than `max`: EFBIG).
bool read_text_file(const std::string& path, std::string& out, size_t max) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || out.size() + static_cast<size_t>(n) > max) {
            int err = n < 0 ? errno : n > 0 ? EFBIG : 0;
            ::close(fd);
            errno = err;
            return n == 0;
        }
        out.append(buf, static_cast<size_t>(n));
    }
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
    return true;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
        if (ascii_lower(s[i]) != ascii_lower(prefix[i])) return false;
    return true;
}

// One address (port 0 never is: the kernel picks a different one each time).
bool same_address(const ListenAddr& a, const ListenAddr& b) {
    if (a.kind != b.kind) return false;
    if (a.kind == ListenAddr::Kind::Unix) return a.path == b.path;
    return a.host == b.host && a.port == b.port && a.port != 0;
}

bool has_space_or_ctl(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7f;
    });
}

bool has_ctl(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && u != '\t') || u == 0x7f;
    });
}

// A non-secret value quoted for a message: control bytes escaped, long
// values shortened.
std::string quote(std::string_view v) {
    constexpr std::size_t kMax = 80;
    std::string out = "\"";
    std::size_t n = 0;
    for (char c : v) {
        if (++n > kMax) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xf];
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

bool valid_provider_name(std::string_view name) {
    if (name.empty()) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
               c == '-';
    });
}

// A secret that is obviously an example rather than a real key.
bool looks_like_placeholder(std::string_view secret) {
    std::string l = lower(secret);
    for (const char* p : {"...", "<", ">", "your", "placeholder", "changeme", "change-me", "replace", "xxxx", "example"})
        if (l.find(p) != std::string::npos) return true;
    return false;
}

// Reads unsigned decimal; nullopt on anything else or > max.
std::optional<unsigned long long> parse_uint(std::string_view s, unsigned long long max) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    unsigned long long v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned long long>(c - '0');
    }
    if (v > max) return std::nullopt;
    return v;
}

enum class SectionKind { None, Server, Auth, Access, Routing, Provider, Client, Model, Rule, Log, Metrics, Tls, Admin, Skip };

struct ProviderState {
    ProviderConfig cfg;
    std::string label;           // "provider.NAME"
    bool type_set = false;
    int api_line = 0;
    bool base_url_set = false;
    bool duplicate = false;      // a second [provider.NAME]: reported, then ignored
    std::map<std::string, int> seen;  // key -> first line (non-repeatable keys)
    std::vector<unsigned> key_weights;  // per key: 0 = the provider's weight
    int weight_line = 0;
    int oauth_line = 0;          // the first OAuth2 key (token_url, client_id, token_file, ...)
};

struct ClientState {
    ClientConfig cfg;
    std::string label;           // "client.NAME"
    bool duplicate = false;
    std::vector<int> key_lines;  // line of each of cfg.keys
    std::map<std::string, int> seen;
};

struct ListenError {
    std::string message;
};

class Parser {
public:
    Parser(std::string_view text, std::string name) : text_(text), file_(std::move(name)) {
        cfg_.path = file_;
    }

    LoadResult run();

private:
    // ---- inih trampolines ------------------------------------------------
    static char* reader_cb(char* buf, int num, void* self) {
        return static_cast<Parser*>(self)->next_line(buf, num);
    }
    static int handler_cb(void* self, const char* /*section*/, const char* name, const char* value) {
        auto* p = static_cast<Parser*>(self);
        // No exception may unwind through inih's C frames.
        try {
            p->on_key(name ? name : "", value ? value : "");
        } catch (const std::bad_alloc&) {
            p->fatal_ = "out of memory";
        } catch (...) {
            p->fatal_ = "internal error while reading the file";
        }
        return 1;
    }

    char* next_line(char* buf, int num);
    char* hand(char* buf, int num, std::string_view line);
    void open_section(std::string_view name);
    template <class State>
    bool open_named(std::string_view name, const char* what, std::vector<State>& into, std::size_t& index);
    void on_key(std::string_view name, std::string_view value);
    void finish();

    // ---- diagnostics -----------------------------------------------------
    void error(int line, std::string key, std::string message) {
        errors_.push_back({file_, line, std::move(key), std::move(message)});
    }
    void warning(int line, std::string key, std::string message) {
        warnings_.push_back({file_, line, std::move(key), std::move(message)});
    }

    // Checks a non-repeatable key; false (with an error) when already set.
    bool once(std::map<std::string, int>& seen, const std::string& label, std::string_view key) {
        auto [it, inserted] = seen.emplace(std::string(key), line_);
        if (!inserted) {
            error(line_, label, "already set on line " + std::to_string(it->second) + " (only lists may repeat a key)");
            return false;
        }
        return true;
    }

    // ---- per-section keys --------------------------------------------------
    void server_key(const std::string& label, std::string_view key, std::string_view value);
    void auth_key(const std::string& label, std::string_view key, std::string_view value);
    void access_key(const std::string& label, std::string_view key, std::string_view value);
    void routing_key(const std::string& label, std::string_view key, std::string_view value);
    void provider_key(ProviderState& p, const std::string& label, std::string_view key, std::string_view value);
    void provider_key_value(ProviderState& p, const std::string& label, std::string_view value);
    void open_model(std::string_view name);
    void model_key(const std::string& label, std::string_view key, std::string_view value);
    void finish_models();
    void open_rule(std::string_view name);
    void rule_key(const std::string& label, std::string_view key, std::string_view value);
    void finish_rules();
    void client_key(ClientState& c, const std::string& label, std::string_view key, std::string_view value);
    void log_key(const std::string& label, std::string_view key, std::string_view value);
    void metrics_key(const std::string& label, std::string_view key, std::string_view value);
    void tls_key(const std::string& label, std::string_view key, std::string_view value);
    void admin_key(const std::string& label, std::string_view key, std::string_view value);
    void finish_admin();
    void finish_tls();
    void finish_clients();

    // ---- value parsers (report their own errors) ------------------------
    std::optional<uint64_t> size_value(const std::string& label, std::string_view v, bool allow_zero = false);
    std::optional<Millis> duration_value(const std::string& label, std::string_view v, bool allow_zero);
    std::optional<std::string> path_value(const std::string& label, std::string_view v);
    // One listen address; `ssl` after it only where allow_ssl (server.listen).
    void listen_value(const std::string& label, std::string_view v, std::vector<ListenAddr>& into, bool allow_ssl);
    std::optional<uint64_t> count_value(const std::string& label, std::string_view v);
    std::optional<int> date_value(const std::string& label, std::string_view v);
    void cidr_value(const std::string& label, std::string_view v, std::vector<Cidr>& into);
    void models_value(ProviderState& p, const std::string& label, std::string_view v);
    template <class F>
    void each_model(const std::string& label, std::string_view v, F&& f);
    void secret_value(const std::string& label, std::string_view v, std::vector<std::string>& into);
    // key_file = PATH (config/key_file.h): add(key) for each key the file holds.
    template <class F>
    void key_file_value(const std::string& label, std::string_view v, F&& add);

    template <class E>
    std::optional<E> enum_value(const std::string& label, std::string_view v,
                                std::initializer_list<std::pair<const char*, E>> words) {
        std::string expected;
        std::size_t i = 0;
        for (const auto& [word, e] : words) {
            if (v == word) return e;
            if (i > 0) expected += (i + 1 == words.size()) ? " or " : ", ";
            expected += word;
            ++i;
        }
        error(line_, label, "expected " + expected + ", got " + quote(v));
        return std::nullopt;
    }

    // ---- state -------------------------------------------------------------
    std::string_view text_;
    std::string file_;
    std::size_t pos_ = 0;
    int line_ = 0;
    std::optional<std::string> long_value_;  // full value of an over-long line
    std::string fatal_;

    SectionKind kind_ = SectionKind::None;
    std::string section_;          // as written, for labels
    std::size_t provider_ = 0;     // index into providers_ when kind_ == Provider
    std::size_t client_ = 0;       // index into clients_ when kind_ == Client

    Config cfg_;
    std::vector<ProviderState> providers_;
    std::vector<ClientState> clients_;
    std::vector<std::map<std::string, int>> model_seen_;  // per cfg_.models entry: key -> line
    std::vector<std::map<std::string, int>> rule_seen_;   // per cfg_.rules entry: key -> line
    std::vector<int> auth_key_lines_;
    std::map<std::string, int> server_seen_, auth_seen_, access_seen_, routing_seen_, log_seen_;
    std::map<std::string, int> listen_seen_;  // normalised address -> line
    std::map<std::string, int> tls_seen_;
    std::map<std::string, int> admin_seen_;
    int mode_line_ = 0;
    int real_ip_line_ = 0;
    bool listen_written_ = false;  // any server.listen line, valid or not

    std::vector<Diagnostic> errors_;
    std::vector<Diagnostic> warnings_;
};

// ---------------------------------------------------------------------------
// Reader

char* Parser::hand(char* buf, int num, std::string_view line) {
    // Callers guarantee line.size() + 2 <= num.
    std::size_t n = std::min(line.size(), static_cast<std::size_t>(num > 2 ? num - 2 : 0));
    std::memcpy(buf, line.data(), n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    return buf;
}

char* Parser::next_line(char* buf, int num) {
    long_value_.reset();
    if (pos_ >= text_.size() || !fatal_.empty()) return nullptr;
    if (num < 8) {  // cannot even hand over "k=\x01": stop rather than drop lines silently
        fatal_ = "inih line buffer too small";
        return nullptr;
    }

    std::size_t nl = text_.find('\n', pos_);
    std::size_t end = nl == std::string_view::npos ? text_.size() : nl;
    std::string_view raw = text_.substr(pos_, end - pos_);
    pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
    ++line_;

    if (line_ == 1 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
    if (raw.find('\0') != std::string_view::npos) {
        error(line_, "", "line contains a NUL byte");
        return hand(buf, num, "");
    }

    // Inline comment: ';' or '#' at the start or after whitespace.
    std::string_view s = raw;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((s[i] == ';' || s[i] == '#') && (i == 0 || is_space(s[i - 1]))) {
            s = s.substr(0, i);
            break;
        }
    }
    s = trim(s);
    if (s.empty()) return hand(buf, num, "");

    if (s.front() == '[') {
        std::size_t close = s.find(']');
        if (close == std::string_view::npos) {
            error(line_, "", "section header without closing ']'");
            kind_ = SectionKind::Skip;  // keys below it belong to no known section
            return hand(buf, num, "");
        }
        if (close + 1 != s.size()) error(line_, std::string(trim(s.substr(1, close - 1))), "unexpected text after ']'");
        open_section(trim(s.substr(1, close - 1)));
        return hand(buf, num, "");
    }

    std::size_t sep = s.find_first_of("=:");
    std::string label = kind_ == SectionKind::None || kind_ == SectionKind::Skip ? std::string() : section_;
    if (sep == std::string_view::npos) {
        error(line_, label, "expected \"key = value\", found a line without '='");
        return hand(buf, num, "");
    }
    std::string_view name = trim(s.substr(0, sep));
    if (name.empty()) {
        error(line_, label, "missing key name before '='");
        return hand(buf, num, "");
    }
    if (s.size() + 2 <= static_cast<std::size_t>(num)) return hand(buf, num, s);

    // Longer than inih's buffer: hand over "name=<marker>", keep the value.
    if (name.size() + 4 > static_cast<std::size_t>(num)) {
        error(line_, label, "key name too long");
        return hand(buf, num, "");
    }
    long_value_ = std::string(trim(s.substr(sep + 1)));
    std::string shortened(name);
    shortened += '=';
    shortened += kLongValueMarker;
    return hand(buf, num, shortened);
}

// [provider.NAME] / [client.NAME]: a new entry of `into` (a repeated name
// is reported, and its keys are then read but ignored). False when the
// name is not valid (the section is skipped).
template <class State>
bool Parser::open_named(std::string_view name, const char* what, std::vector<State>& into, std::size_t& index) {
    if (!valid_provider_name(name)) {
        error(line_, section_, std::string("bad ") + what + " name (use letters, digits, '_', '.' and '-')");
        kind_ = SectionKind::Skip;
        return false;
    }
    State st;
    st.cfg.name = std::string(name);
    st.cfg.line = line_;
    st.label = section_;
    for (const auto& other : into) {
        if (!other.duplicate && other.cfg.name == st.cfg.name) {
            error(line_, section_,
                  std::string("duplicate ") + what + " name (first defined on line " + std::to_string(other.cfg.line) +
                      ")");
            st.duplicate = true;
            break;
        }
    }
    into.push_back(std::move(st));
    index = into.size() - 1;
    return true;
}

void Parser::open_section(std::string_view name) {
    section_ = std::string(name);
    if (name == "server") {
        kind_ = SectionKind::Server;
    } else if (name == "auth") {
        kind_ = SectionKind::Auth;
    } else if (name == "access") {
        kind_ = SectionKind::Access;
    } else if (name == "routing") {
        kind_ = SectionKind::Routing;
    } else if (name.substr(0, 9) == "provider.") {
        if (open_named(name.substr(9), "provider", providers_, provider_)) kind_ = SectionKind::Provider;
    } else if (name == "provider") {
        error(line_, section_, "missing provider name: write [provider.NAME]");
        kind_ = SectionKind::Skip;
    } else if (name.substr(0, 7) == "client.") {
        if (open_named(name.substr(7), "client", clients_, client_)) kind_ = SectionKind::Client;
    } else if (name == "client") {
        error(line_, section_, "missing client name: write [client.NAME]");
        kind_ = SectionKind::Skip;
    } else if (name.substr(0, 6) == "model.") {
        open_model(name.substr(6));
    } else if (name == "model") {
        error(line_, section_, "missing model name: write [model.NAME] (NAME may be a glob such as claude-*)");
        kind_ = SectionKind::Skip;
    } else if (name.substr(0, 5) == "rule.") {
        open_rule(name.substr(5));
    } else if (name == "rule") {
        error(line_, section_, "missing rule name: write [rule.NAME]");
        kind_ = SectionKind::Skip;
    } else if (name == "log") {
        kind_ = SectionKind::Log;
    } else if (name == "metrics") {
        kind_ = SectionKind::Metrics;
    } else if (name == "admin") {
        kind_ = SectionKind::Admin;
        if (cfg_.admin.line == 0) cfg_.admin.line = line_;
    } else if (name == "tls") {
        kind_ = SectionKind::Tls;
        if (cfg_.tls.line == 0) cfg_.tls.line = line_;
    } else {
        error(line_, section_,
              "unknown section (expected server, auth, access, routing, log, metrics, tls, admin, provider.NAME, "
              "client.NAME, model.NAME or rule.NAME)");
        kind_ = SectionKind::Skip;
    }
}

// ---------------------------------------------------------------------------
// Keys

void Parser::on_key(std::string_view name, std::string_view value) {
    std::string full_value;
    if (value == kLongValueMarker && long_value_) {
        full_value = *long_value_;
        value = full_value;
    }
    if (kind_ == SectionKind::Skip) return;  // the section itself was reported
    if (kind_ == SectionKind::None) {
        error(line_, std::string(name), "key outside of any section");
        return;
    }
    std::string label = section_ + "." + std::string(name);
    // An empty [log] database or [metrics] listen turns the feature off.
    bool empty_means_off = (kind_ == SectionKind::Log && name == "database") ||
                           (kind_ == SectionKind::Metrics && name == "listen") ||
                           (kind_ == SectionKind::Admin && name == "listen");
    if (value.empty() && !empty_means_off) {
        error(line_, label, "empty value");
        return;
    }
    if (value.size() >= 2 && ((value.front() == '"' && value.back() == '"') ||
                              (value.front() == '\'' && value.back() == '\''))) {
        error(line_, label, "values are taken literally: remove the quotes");
        return;
    }
    switch (kind_) {
        case SectionKind::Server: server_key(label, name, value); break;
        case SectionKind::Auth: auth_key(label, name, value); break;
        case SectionKind::Access: access_key(label, name, value); break;
        case SectionKind::Routing: routing_key(label, name, value); break;
        case SectionKind::Provider: provider_key(providers_[provider_], label, name, value); break;
        case SectionKind::Client: client_key(clients_[client_], label, name, value); break;
        case SectionKind::Model: model_key(label, name, value); break;
        case SectionKind::Rule: rule_key(label, name, value); break;
        case SectionKind::Log: log_key(label, name, value); break;
        case SectionKind::Metrics: metrics_key(label, name, value); break;
        case SectionKind::Tls: tls_key(label, name, value); break;
        case SectionKind::Admin: admin_key(label, name, value); break;
        case SectionKind::None:
        case SectionKind::Skip: break;
    }
}

void Parser::server_key(const std::string& label, std::string_view key, std::string_view v) {
    ServerConfig& s = cfg_.server;
    if (key == "listen") {
        listen_written_ = true;
        listen_value(label, v, cfg_.server.listen, true);
        return;
    }
    static constexpr const char* kSingle[] = {"workers",
                                              "max_body_size",
                                              "upload_buffer_size",
                                              "max_json_depth",
                                              "upstream_timeout",
                                              "connect_timeout",
                                              "shutdown_timeout",
                                              "client_header_timeout",
                                              "client_body_timeout",
                                              "max_connections_per_ip",
                                              "pid_file",
                                              "control_socket",
                                              "state_dir",
                                              "user",
                                              "group",
                                              "log_level"};
    if (std::find(std::begin(kSingle), std::end(kSingle), key) == std::end(kSingle)) {
        error(line_, label,
              "unknown key (expected listen, workers, max_body_size, upload_buffer_size, max_json_depth, upstream_timeout, "
              "connect_timeout, shutdown_timeout, client_header_timeout, client_body_timeout, "
              "max_connections_per_ip, pid_file, control_socket, state_dir, user, group or log_level)");
        return;
    }
    if (!once(server_seen_, label, key)) return;
    if (key == "workers") {
        if (auto n = parse_uint(v, kMaxWorkers)) {
            s.workers = static_cast<unsigned>(*n);
        } else {
            error(line_, label, "expected a number from 0 (one per CPU) to 256, got " + quote(v));
        }
    } else if (key == "max_body_size") {
        if (auto n = size_value(label, v)) s.max_body_size = *n;
    } else if (key == "upload_buffer_size") {
        if (auto n = size_value(label, v, true)) s.upload_buffer_size = *n;
    } else if (key == "max_json_depth") {
        auto n = parse_uint(v, kMaxMaxJsonDepth);
        if (n && *n >= kMinMaxJsonDepth)
            s.max_json_depth = static_cast<unsigned>(*n);
        else
            error(line_, label,
                  "expected a number of nesting levels from " + std::to_string(kMinMaxJsonDepth) + " to " +
                      std::to_string(kMaxMaxJsonDepth) + ", got " + quote(v));
    } else if (key == "upstream_timeout") {
        if (auto d = duration_value(label, v, false)) s.upstream_timeout = *d;
    } else if (key == "connect_timeout") {
        if (auto d = duration_value(label, v, false)) s.connect_timeout = *d;
    } else if (key == "shutdown_timeout") {
        if (auto d = duration_value(label, v, true)) s.shutdown_timeout = *d;
    } else if (key == "client_header_timeout") {
        if (auto d = duration_value(label, v, false)) s.client_header_timeout = *d;
    } else if (key == "client_body_timeout") {
        if (auto d = duration_value(label, v, false)) s.client_body_timeout = *d;
    } else if (key == "max_connections_per_ip") {
        if (auto n = parse_uint(v, kMaxConnectionsPerIp)) {
            s.max_connections_per_ip = static_cast<unsigned>(*n);
        } else {
            error(line_, label, "expected a number from 0 (no limit) to 1000000, got " + quote(v));
        }
    } else if (key == "state_dir") {
        if (v.empty())
            s.state_dir.clear();
        else if (auto p = path_value(label, v))
            s.state_dir = *p;
    } else if (key == "user" || key == "group") {
        // A name as useradd(8) allows one (a number is a uid or gid).
        bool ok = !v.empty() && v.size() <= 32 && v.front() != '-';
        for (char ch : v)
            ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                        ch == '-' || ch == '.');
        if (!ok) {
            error(line_, label, "expected a user or group name, got " + quote(v));
            return;
        }
        (key == "user" ? s.user : s.group) = std::string(v);
    } else if (key == "pid_file") {
        if (auto p = path_value(label, v)) s.pid_file = *p;
    } else if (key == "control_socket") {
        if (auto p = path_value(label, v)) {
            if (p->size() > kMaxUnixPath)
                error(line_, label, "socket path too long (at most 107 bytes)");
            else
                s.control_socket = *p;
        }
    } else if (key == "log_level") {
        if (auto l = enum_value<LogLevel>(label, v,
                                          {{"error", LogLevel::Error},
                                           {"warning", LogLevel::Warning},
                                           {"notice", LogLevel::Notice},
                                           {"info", LogLevel::Info},
                                           {"debug", LogLevel::Debug}}))
            s.log_level = *l;
    }
}

void Parser::auth_key(const std::string& label, std::string_view key, std::string_view v) {
    AuthConfig& a = cfg_.auth;
    if (key == "key" || key == "key_file") {
        auto add = [&](std::string_view k) {
            size_t before = a.keys.size();
            secret_value(label, k, a.keys);
            if (a.keys.size() > before) auth_key_lines_.push_back(line_);
        };
        if (key == "key") add(v);
        else key_file_value(label, v, add);
    } else if (key == "mode") {
        if (!once(auth_seen_, label, key)) return;
        mode_line_ = line_;
        if (auto m = enum_value<AuthMode>(label, v,
                                          {{"off", AuthMode::Off},
                                           {"strict", AuthMode::Strict},
                                           {"all_except_health", AuthMode::AllExceptHealth},
                                           {"auto", AuthMode::Auto}}))
            a.mode = *m;
    } else if (key == "admin_password") {
        // A password in the clear, never used: the admin plane takes a hash.
        error(line_, label,
              "replaced by [admin] password_hash, a crypt(3) hash of the password (antigravityd passwd prints "
              "one) with [admin] listen; remove this line");
    } else {
        error(line_, label, "unknown key (expected mode, key or key_file)");
    }
}

void Parser::access_key(const std::string& label, std::string_view key, std::string_view v) {
    AccessConfig& a = cfg_.access;
    if (key == "allow") {
        cidr_value(label, v, a.allow);
    } else if (key == "deny") {
        cidr_value(label, v, a.deny);
    } else if (key == "trusted_proxy") {
        cidr_value(label, v, a.trusted_proxies);
    } else if (key == "real_ip_header") {
        if (!once(access_seen_, label, key)) return;
        real_ip_line_ = line_;
        // Header names are case-insensitive: so is this value.
        if (auto h = enum_value<RealIpHeader>(label, lower(v),
                                              {{"x-forwarded-for", RealIpHeader::XForwardedFor},
                                               {"x-real-ip", RealIpHeader::XRealIp}}))
            a.real_ip_header = *h;
    } else {
        error(line_, label, "unknown key (expected allow, deny, trusted_proxy or real_ip_header)");
    }
}

void Parser::routing_key(const std::string& label, std::string_view key, std::string_view v) {
    RoutingConfig& r = cfg_.routing;
    if (key != "strategy" && key != "cooldown" && key != "max_attempts" && key != "max_cooldown" &&
        key != "probe_interval" && key != "breaker_failures" && key != "breaker_cooldown" && key != "sticky" &&
        key != "sticky_ttl" && key != "first_token_timeout") {
        error(line_, label,
              "unknown key (expected strategy, cooldown, max_attempts, max_cooldown, probe_interval, "
              "breaker_failures, breaker_cooldown, sticky, sticky_ttl or first_token_timeout)");
        return;
    }
    if (!once(routing_seen_, label, key)) return;
    if (key == "strategy") {
        if (auto s = enum_value<Strategy>(label, v,
                                          {{"round-robin", Strategy::RoundRobin},
                                           {"fill-first", Strategy::FillFirst},
                                           {"weighted", Strategy::Weighted}}))
            r.strategy = *s;
    } else if (key == "sticky") {
        if (auto s = enum_value<bool>(label, v, {{"off", false}, {"session", true}})) r.sticky = *s;
    } else if (key == "sticky_ttl") {
        if (auto d = duration_value(label, v, false)) r.sticky_ttl = *d;
    } else if (key == "first_token_timeout") {
        if (auto d = duration_value(label, v, true)) r.first_token_timeout = *d;
    } else if (key == "cooldown") {
        if (auto d = duration_value(label, v, true)) r.cooldown = *d;
    } else if (key == "max_cooldown") {
        if (auto d = duration_value(label, v, false)) r.max_cooldown = *d;
    } else if (key == "probe_interval") {
        if (auto d = duration_value(label, v, false)) r.probe_interval = *d;
    } else if (key == "breaker_cooldown") {
        if (auto d = duration_value(label, v, false)) r.breaker_cooldown = *d;
    } else if (key == "breaker_failures") {
        auto n = parse_uint(v, 1000);
        if (n && *n >= 1)
            r.breaker_failures = static_cast<unsigned>(*n);
        else
            error(line_, label, "expected a number from 1 to 1000, got " + quote(v));
    } else {
        auto n = parse_uint(v, kMaxAttempts);
        if (n && *n >= 1)
            r.max_attempts = static_cast<unsigned>(*n);
        else
            error(line_, label, "expected a number from 1 to 10, got " + quote(v));
    }
}

void Parser::provider_key(ProviderState& p, const std::string& label, std::string_view key, std::string_view v) {
    ProviderConfig& c = p.cfg;
    if (key == "key") {
        provider_key_value(p, label, v);
        return;
    }
    if (key == "key_file") {  // its lines as `key =` values (weight=N included)
        key_file_value(label, v, [&](std::string_view k) { provider_key_value(p, label, k); });
        return;
    }
    if (key == "models") {
        models_value(p, label, v);
        return;
    }
    if (key == "token_file") {
        if (!v.starts_with("/")) {
            error(line_, label, "expected an absolute path");
            return;
        }
        if (std::find(c.token_files.begin(), c.token_files.end(), v) != c.token_files.end()) {
            warning(line_, label, "the same token file is listed twice; the repeat is ignored");
            return;
        }
        c.token_files.emplace_back(v);
        p.oauth_line = p.oauth_line ? p.oauth_line : line_;
        return;
    }
    if (key == "extra_header") {
        auto colon = v.find(':');
        std::string_view name = colon == std::string_view::npos ? std::string_view() : trim(v.substr(0, colon));
        std::string_view value = colon == std::string_view::npos ? std::string_view() : trim(v.substr(colon + 1));
        bool token = !name.empty() && name.find_first_not_of("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                                                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string_view::npos;
        if (!token || has_ctl(value)) {
            error(line_, label, "expected Name: value (a header name, then its value on one line)");
            return;
        }
        // Framing, hop-by-hop and credential headers are the daemon's own.
        static const char* const kReserved[] = {"host", "content-length", "transfer-encoding", "connection",
                                                "keep-alive", "te", "trailer", "upgrade", "proxy-authorization",
                                                "proxy-connection", "authorization", "x-api-key", "x-goog-api-key",
                                                "content-type", "accept", "expect"};
        for (const char* r : kReserved)
            if (iequals(name, r)) {
                error(line_, label, "header " + std::string(name) + " is set by the daemon itself");
                return;
            }
        c.extra_headers.push_back(std::string(name) + ": " + std::string(value));
        return;
    }
    if (key != "type" && key != "api" && key != "base_url" && key != "proxy" && key != "http_client" &&
        key != "weight" && key != "priority" && key != "auth" && key != "token_url" && key != "client_id" &&
        key != "client_secret_file" && key != "scope" && key != "auth_header" && key != "refresh_lead" &&
        key != "ca_file") {
        error(line_, label,
              "unknown key (expected type, api, base_url, key, key_file, models, proxy, http_client, weight, priority, auth, "
              "token_url, client_id, client_secret_file, scope, token_file, auth_header, extra_header, "
              "refresh_lead or ca_file)");
        return;
    }
    if (!once(p.seen, label, key)) return;
    if (key == "auth") {
        if (auto a = enum_value<ProviderAuth>(label, v, {{"api_key", ProviderAuth::ApiKey}, {"oauth2", ProviderAuth::OAuth2}}))
            c.auth = *a;
        return;
    }
    if (key == "auth_header") {
        if (auto h = enum_value<AuthHeader>(label, v,
                                            {{"authorization-bearer", AuthHeader::Bearer},
                                             {"x-api-key", AuthHeader::XApiKey},
                                             {"x-goog-api-key", AuthHeader::XGoogApiKey}}))
            c.auth_header = *h;
        return;
    }
    if (key == "refresh_lead") {
        if (auto d = duration_value(label, v, true)) c.refresh_lead = *d;
        return;
    }
    if (key == "ca_file") {
        if (!v.starts_with("/") || has_space_or_ctl(v)) {
            error(line_, label, "expected an absolute path without blanks");
            return;
        }
        // Read now, so check-config and a reload say what is wrong with it.
        std::string pem;
        if (!read_text_file(std::string(v), pem, kMaxCaFile)) {
            error(line_, label, "cannot read " + std::string(v) + ": " + std::strerror(errno));
            return;
        }
        if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
            error(line_, label, std::string(v) + " holds no PEM certificate");
            return;
        }
        c.ca_file = std::string(v);
        return;
    }
    if (key == "token_url" || key == "client_id" || key == "client_secret_file" || key == "scope") {
        p.oauth_line = p.oauth_line ? p.oauth_line : line_;
        if (key == "token_url" && !starts_with_nocase(v, "https://") && !starts_with_nocase(v, "http://")) {
            error(line_, label, "expected an http:// or https:// URL");
            return;
        }
        if (key == "client_secret_file" && !v.starts_with("/")) {
            error(line_, label, "expected an absolute path");
            return;
        }
        if (has_ctl(v) || (key != "scope" && has_space_or_ctl(v))) {
            error(line_, label, "must not contain whitespace or control characters");
            return;
        }
        (key == "token_url" ? c.token_url : key == "client_id" ? c.client_id : key == "scope" ? c.scope
                                                                                              : c.client_secret_file) =
            std::string(v);
        return;
    }
    if (key == "weight" || key == "priority") {
        auto n = parse_uint(v, kMaxWeight);
        if (!n || (key == "weight" && *n == 0)) {
            error(line_, label, std::string("expected a number from ") + (key == "weight" ? "1" : "0") + " to " +
                                    std::to_string(kMaxWeight) + ", got " + quote(v));
            return;
        }
        (key == "weight" ? c.weight : c.priority) = static_cast<unsigned>(*n);
        p.weight_line = key == "weight" ? line_ : p.weight_line;
    } else if (key == "type") {
        if (auto t = enum_value<ProviderType>(
                label, v,
                {{"openai", ProviderType::OpenAI}, {"anthropic", ProviderType::Anthropic}, {"gemini", ProviderType::Gemini}})) {
            c.type = *t;
            p.type_set = true;
        }
    } else if (key == "api") {
        p.api_line = line_;
        if (auto a = enum_value<OpenAIApi>(label, v, {{"chat", OpenAIApi::Chat}, {"responses", OpenAIApi::Responses}}))
            c.api = *a;
    } else if (key == "http_client") {
        if (auto h = enum_value<HttpClient>(label, v, {{"auto", HttpClient::Auto},
                                                        {"libcurl", HttpClient::Libcurl},
                                                        {"libcurl-h2", HttpClient::LibcurlH2}}))
            c.http_client = *h;
    } else if (key == "base_url") {
        // The value is not echoed: a URL can carry credentials.
        std::string_view rest;
        if (starts_with_nocase(v, "https://"))
            rest = v.substr(8);
        else if (starts_with_nocase(v, "http://"))
            rest = v.substr(7);
        else {
            error(line_, label, "expected an http:// or https:// URL");
            return;
        }
        if (rest.empty() || rest.front() == '/') {
            error(line_, label, "URL has no host");
            return;
        }
        if (has_space_or_ctl(v)) {
            error(line_, label, "URL must not contain whitespace or control characters");
            return;
        }
        if (v.find_first_of("?#") != std::string_view::npos) {
            error(line_, label, "URL must not contain a query ('?') or fragment ('#')");
            return;
        }
        while (v.size() > 1 && v.back() == '/') v.remove_suffix(1);
        c.base_url = std::string(v);
        p.base_url_set = true;
    } else {  // proxy
        std::string_view rest;
        bool ok = false;
        for (std::string_view scheme : {"http://", "https://", "socks5://", "socks5h://"}) {
            if (starts_with_nocase(v, scheme)) {
                rest = v.substr(scheme.size());
                ok = true;
                break;
            }
        }
        if (!ok) {
            error(line_, label, "expected a proxy URL starting with http://, https://, socks5:// or socks5h://");
            return;
        }
        if (rest.empty() || rest.front() == '/' || rest.front() == ':') {
            error(line_, label, "proxy URL has no host");
            return;
        }
        if (has_space_or_ctl(v)) {
            error(line_, label, "proxy URL must not contain whitespace or control characters");
            return;
        }
        c.proxy = std::string(v);
    }
}

// ---------------------------------------------------------------------------
// Values

std::optional<uint64_t> Parser::size_value(const std::string& label, std::string_view v, bool allow_zero) {
    auto n = parse_size(v);
    if (!n) {
        error(line_, label, "expected a size like 100M (suffix K, M or G), got " + quote(v));
        return std::nullopt;
    }
    if (*n == 0 && !allow_zero) {
        error(line_, label, "must be greater than 0");
        return std::nullopt;
    }
    return n;
}

std::optional<Millis> Parser::duration_value(const std::string& label, std::string_view v, bool allow_zero) {
    auto d = parse_duration(v);
    if (!d) {
        error(line_, label, "expected a duration like 30s (units ms, s, m, h, d), got " + quote(v));
        return std::nullopt;
    }
    if (!allow_zero && d->count() == 0) {
        error(line_, label, "must be greater than 0");
        return std::nullopt;
    }
    return d;
}

std::optional<std::string> Parser::path_value(const std::string& label, std::string_view v) {
    if (v.front() != '/') {
        error(line_, label, "expected an absolute path, got " + quote(v));
        return std::nullopt;
    }
    if (std::any_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
        error(line_, label, "path must not contain control characters");
        return std::nullopt;
    }
    return std::string(v);
}

void Parser::listen_value(const std::string& label, std::string_view v, std::vector<ListenAddr>& into,
                          bool allow_ssl) {
    static constexpr const char* kExpected =
        "expected ADDRESS:PORT (like 127.0.0.1:8045 or [::1]:8045) or unix:/PATH, got ";
    ListenAddr a;
    a.text = std::string(v);
    a.line = line_;
    // "ADDRESS:PORT ssl": the address, then its options.
    if (std::size_t sp = v.find_first_of(" \t"); sp != std::string_view::npos) {
        std::string_view option = trim(v.substr(sp));
        v = v.substr(0, sp);
        if (option != "ssl") {
            error(line_, label, "unknown listen option " + quote(option) + (allow_ssl ? " (expected ssl)" : ""));
            return;
        }
        if (!allow_ssl) {
            error(line_, label, "ssl is only for server.listen and admin.listen");
            return;
        }
        a.tls = true;
    }
    std::string dedup_key;
    if (v.substr(0, 5) == "unix:") {
        std::string_view path = v.substr(5);
        if (path.empty() || path.front() != '/') {
            error(line_, label, "expected an absolute socket path after unix:, got " + quote(v));
            return;
        }
        if (path.size() > kMaxUnixPath) {
            error(line_, label, "unix socket path too long (at most 107 bytes)");
            return;
        }
        if (has_space_or_ctl(path)) {
            error(line_, label, "unix socket path must not contain whitespace or control characters");
            return;
        }
        if (a.tls) {
            error(line_, label, "ssl is for TCP addresses, not unix sockets");
            return;
        }
        a.kind = ListenAddr::Kind::Unix;
        a.path = std::string(path);
        a.loopback = true;
        dedup_key = "unix:" + a.path;
    } else {
        std::string_view host, port;
        if (!v.empty() && v.front() == '[') {
            std::size_t close = v.find(']');
            if (close == std::string_view::npos || close + 1 >= v.size() || v[close + 1] != ':') {
                error(line_, label, kExpected + quote(v));
                return;
            }
            host = v.substr(1, close - 1);
            port = v.substr(close + 2);
            if (host.find(':') == std::string_view::npos) {
                error(line_, label, "brackets are for IPv6 addresses only, got " + quote(v));
                return;
            }
        } else {
            std::size_t colon = v.rfind(':');
            if (colon == std::string_view::npos) {
                error(line_, label, kExpected + quote(v));
                return;
            }
            host = v.substr(0, colon);
            port = v.substr(colon + 1);
            if (host.find(':') != std::string_view::npos) {
                error(line_, label, "an IPv6 address needs brackets, like [::1]:8045, got " + quote(v));
                return;
            }
        }
        auto ip = parse_ip(host);
        if (!ip) {
            error(line_, label, "expected an IP address (not a host name) before the port, got " + quote(v));
            return;
        }
        if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            error(line_, label, kExpected + quote(v));
            return;
        }
        auto n = parse_uint(port, 65535);
        if (!n) {
            error(line_, label, "port out of range (0-65535), got " + quote(v));
            return;
        }
        a.kind = ListenAddr::Kind::Tcp;
        a.host = ip->str();
        a.port = static_cast<uint16_t>(*n);
        a.loopback = is_loopback(*ip);
        // Several port-0 listeners get distinct kernel-chosen ports: no clash.
        if (a.port != 0) dedup_key = (ip->is_v4() ? a.host : "[" + a.host + "]") + ":" + std::to_string(a.port);
    }
    if (!dedup_key.empty()) {
        auto [it, inserted] = listen_seen_.emplace(dedup_key, line_);
        if (!inserted) {
            error(line_, label, "duplicate listen address " + quote(v) + " (already on line " +
                                    std::to_string(it->second) + ")");
            return;
        }
    }
    into.push_back(std::move(a));
}

void Parser::cidr_value(const std::string& label, std::string_view v, std::vector<Cidr>& into) {
    auto c = parse_cidr(v);
    if (!c) {
        error(line_, label,
              "expected an IP address or CIDR range (like 192.168.0.0/16 or fd00::/8), got " + quote(v));
        return;
    }
    into.push_back(std::move(*c));
}

// `key = K` or `key = K weight=N`: the key, then options after blanks.
void Parser::provider_key_value(ProviderState& p, const std::string& label, std::string_view v) {
    std::string_view key = v, rest;
    if (auto blank = v.find_first_of(" \t"); blank != std::string_view::npos) {
        key = v.substr(0, blank);
        rest = trim(v.substr(blank));
    }
    unsigned weight = 0;  // 0: the provider's
    while (!rest.empty()) {
        auto blank = rest.find_first_of(" \t");
        std::string_view opt = rest.substr(0, blank);
        rest = blank == std::string_view::npos ? std::string_view() : trim(rest.substr(blank));
        auto n = opt.starts_with("weight=") ? parse_uint(opt.substr(7), kMaxWeight) : std::nullopt;
        if (!opt.starts_with("weight=")) {
            // The option is not echoed either: a key pasted with a blank in it would be.
            error(line_, label, "unknown option after the key (expected weight=N)");
            return;
        }
        if (!n || *n == 0) {
            error(line_, label, "weight: expected a number from 1 to " + std::to_string(kMaxWeight) + ", got " +
                                    quote(opt.substr(7)));
            return;
        }
        weight = static_cast<unsigned>(*n);
    }
    size_t before = p.cfg.keys.size();
    secret_value(label, key, p.cfg.keys);
    if (p.cfg.keys.size() > before) p.key_weights.push_back(weight);
    if (weight != 0 && p.weight_line == 0) p.weight_line = line_;
}

template <class F>
void Parser::key_file_value(const std::string& label, std::string_view v, F&& add) {
    if (v.empty() || has_ctl(v)) {
        error(line_, label, "expected the path of a file of keys, one per line");
        return;
    }
    std::string path = key_file_path(v, file_);
    auto keys = read_key_file(path);
    if (!keys) {
        error(line_, label, keys.error().message);
        return;
    }
    if (keys->empty()) {
        error(line_, label, path + " holds no key");
        return;
    }
    for (const std::string& k : *keys) add(std::string_view(k));
}

void Parser::secret_value(const std::string& label, std::string_view v, std::vector<std::string>& into) {
    // Never echo the value.
    if (has_space_or_ctl(v)) {
        error(line_, label, "must not contain whitespace or control characters");
        return;
    }
    if (std::find(into.begin(), into.end(), v) != into.end()) {
        warning(line_, label, "the same key is listed twice; the repeat is ignored");
        return;
    }
    if (looks_like_placeholder(v)) warning(line_, label, "looks like a placeholder, not a real key");
    into.emplace_back(v);
}

// Each entry of a comma list of models (empty ones are reported).
template <class F>
void Parser::each_model(const std::string& label, std::string_view v, F&& f) {
    std::size_t start = 0;
    while (start <= v.size()) {
        std::size_t comma = v.find(',', start);
        if (comma == std::string_view::npos) comma = v.size();
        std::string_view entry = trim(v.substr(start, comma - start));
        start = comma + 1;
        if (entry.empty()) {
            error(line_, label, "empty entry in the models list");
            continue;
        }
        f(entry);
    }
}

void Parser::models_value(ProviderState& p, const std::string& label, std::string_view v) {
    each_model(label, v, [&](std::string_view entry) {
        ModelPattern m;
        std::size_t eq = entry.find('=');
        if (eq != std::string_view::npos) {
            std::string_view alias = trim(entry.substr(0, eq));
            std::string_view upstream = trim(entry.substr(eq + 1));
            if (alias.empty() || upstream.empty() || upstream.find('=') != std::string_view::npos) {
                error(line_, label, "expected alias=upstream-name, got " + quote(entry));
                return;
            }
            if (has_glob_chars(alias) || has_glob_chars(upstream)) {
                error(line_, label, "a rename (alias=upstream-name) cannot use glob characters, got " + quote(entry));
                return;
            }
            if (has_space_or_ctl(alias) || has_space_or_ctl(upstream)) {
                error(line_, label, "model names cannot contain spaces, got " + quote(entry));
                return;
            }
            m.pattern = std::string(alias);
            m.upstream_name = std::string(upstream);
        } else {
            if (has_space_or_ctl(entry)) {
                error(line_, label, "model names cannot contain spaces, got " + quote(entry));
                return;
            }
            m.pattern = std::string(entry);
            m.is_glob = has_glob_chars(entry);
        }
        p.cfg.models.push_back(std::move(m));
    });
}

// ---------------------------------------------------------------------------
// Whole-file checks

// ---------------------------------------------------------------------------
// Clients, the request log, metrics

std::optional<uint64_t> Parser::count_value(const std::string& label, std::string_view v) {
    auto n = parse_count(v);
    if (!n || *n > (1ull << 53)) {
        error(line_, label, "expected a number like 60, 200k or 5M (k = 1000), got " + quote(v));
        return std::nullopt;
    }
    return n;
}

// "YYYY-MM-DD" -> YYYYMMDD.
std::optional<int> Parser::date_value(const std::string& label, std::string_view v) {
    auto bad = [&]() -> std::optional<int> {
        error(line_, label, "expected a date like 2027-03-31, got " + quote(v));
        return std::nullopt;
    };
    if (v.size() != 10 || v[4] != '-' || v[7] != '-') return bad();
    auto y = parse_uint(v.substr(0, 4), 9999), m = parse_uint(v.substr(5, 2), 12), d = parse_uint(v.substr(8, 2), 31);
    if (!y || !m || !d || *y < 1970 || *m < 1 || *d < 1) return bad();
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0;
    int max_day = kDays[*m - 1] + (*m == 2 && leap ? 1 : 0);
    if (static_cast<int>(*d) > max_day) return bad();
    return static_cast<int>(*y * 10000 + *m * 100 + *d);
}

void Parser::client_key(ClientState& c, const std::string& label, std::string_view key, std::string_view v) {
    ClientConfig& cc = c.cfg;
    if (key == "key" || key == "key_file") {
        auto add = [&](std::string_view k) {
            size_t before = cc.keys.size();
            secret_value(label, k, cc.keys);
            if (cc.keys.size() > before) c.key_lines.push_back(line_);
        };
        if (key == "key") add(v);
        else key_file_value(label, v, add);
        return;
    }
    if (key == "models") {
        each_model(label, v, [&](std::string_view entry) {
            if (has_space_or_ctl(entry))
                error(line_, label, "a model glob must not contain whitespace or control characters");
            else
                cc.models.emplace_back(entry);
        });
        return;
    }
    static constexpr const char* kSingle[] = {"rpm", "tpm", "daily_tokens", "monthly_tokens", "max_concurrent", "expires"};
    if (std::find(std::begin(kSingle), std::end(kSingle), key) == std::end(kSingle)) {
        error(line_, label,
              "unknown key (expected key, key_file, models, rpm, tpm, daily_tokens, monthly_tokens, max_concurrent or "
              "expires)");
        return;
    }
    if (!once(c.seen, label, key)) return;
    if (key == "expires") {
        if (auto d = date_value(label, v)) cc.expires = *d;
        return;
    }
    auto n = count_value(label, v);
    if (!n) return;
    if (*n == 0) {
        error(line_, label, "must be greater than 0 (leave the key out for no limit)");
        return;
    }
    if (key == "rpm") {
        cc.rpm = *n;
    } else if (key == "tpm") {
        cc.tpm = *n;
    } else if (key == "daily_tokens") {
        cc.daily_tokens = *n;
    } else if (key == "monthly_tokens") {
        cc.monthly_tokens = *n;
    } else if (key == "max_concurrent") {
        if (*n > 1'000'000) {
            error(line_, label, "expected at most 1000000, got " + quote(v));
            return;
        }
        cc.max_concurrent = static_cast<unsigned>(*n);
    }
}

void Parser::log_key(const std::string& label, std::string_view key, std::string_view v) {
    LogConfig& l = cfg_.log;
    static constexpr const char* kKeys[] = {"database", "retention", "rollup_retention", "max_size", "bodies",
                                            "body_retention", "body_max", "access_log"};
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        error(line_, label,
              "unknown key (expected database, retention, rollup_retention, max_size, bodies, body_retention, "
              "body_max or access_log)");
        return;
    }
    if (!once(log_seen_, label, key)) return;
    if (key == "database") {
        if (v.empty()) {
            l.database.clear();
        } else if (auto p = path_value(label, v)) {
            l.database = *p;
        }
    } else if (key == "retention") {  // 0: kept until max_size needs the room
        if (auto d = duration_value(label, v, true)) l.retention = *d;
    } else if (key == "rollup_retention") {  // 0: for ever
        if (auto d = duration_value(label, v, true)) l.rollup_retention = *d;
    } else if (key == "body_retention") {  // 0: as long as their row
        if (auto d = duration_value(label, v, true)) l.body_retention = *d;
    } else if (key == "max_size") {  // 0: no bound
        if (v == "0") {
            l.max_size = 0;
        } else if (auto n = size_value(label, v)) {
            if (*n < (1u << 20))
                error(line_, label, "must be at least 1M (or 0: no bound)");
            else
                l.max_size = *n;
        }
    } else if (key == "body_max") {
        if (auto n = size_value(label, v)) {
            if (*n > (64u << 20))
                error(line_, label, "must be at most 64M");
            else
                l.body_max = *n;
        }
    } else if (key == "bodies") {
        if (auto b = enum_value<LogBodies>(label, v,
                                           {{"off", LogBodies::Off}, {"errors", LogBodies::Errors}, {"all", LogBodies::All}}))
            l.bodies = *b;
    } else if (key == "access_log") {
        if (v == "stderr" || v == "off") {
            l.access_log = std::string(v);
        } else if (auto p = path_value(label, v)) {
            l.access_log = *p;
        }
    }
}

void Parser::metrics_key(const std::string& label, std::string_view key, std::string_view v) {
    if (key != "listen") {
        error(line_, label, "unknown key (expected listen)");
        return;
    }
    if (v.empty()) return;  // no metrics listener from this line
    listen_value(label, v, cfg_.metrics.listen, false);
}

void Parser::tls_key(const std::string& label, std::string_view key, std::string_view v) {
    TlsConfig& t = cfg_.tls;
    static constexpr const char* kKeys[] = {"certificate", "key", "client_ca", "min_version"};
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        error(line_, label, "unknown key (expected certificate, key, client_ca or min_version)");
        return;
    }
    if (!once(tls_seen_, label, key)) return;
    if (key == "min_version") {
        if (auto m = enum_value<TlsVersion>(label, v, {{"1.2", TlsVersion::V1_2}, {"1.3", TlsVersion::V1_3}}))
            t.min_version = *m;
        return;
    }
    if (has_space_or_ctl(v)) {
        error(line_, label, "a file name without whitespace or control characters expected");
        return;
    }
    // Like key_file: relative to $CREDENTIALS_DIRECTORY (LoadCredential=)
    // when systemd set it, else to the configuration file's directory.
    std::string path = key_file_path(v, file_);
    if (key == "certificate") t.certificate = std::move(path);
    else if (key == "key") t.key = std::move(path);
    else t.client_ca = std::move(path);
}

void Parser::admin_key(const std::string& label, std::string_view key, std::string_view v) {
    AdminConfig& a = cfg_.admin;
    if (key == "listen") {
        if (!v.empty()) listen_value(label, v, a.listen, true);
        return;
    }
    if (key == "host") {
        if (has_space_or_ctl(v) || v.find_first_of("/@") != std::string_view::npos) {
            error(line_, label, "expected a host name (like gw.example.lan), got " + quote(v));
            return;
        }
        a.hosts.emplace_back(v);
        return;
    }
    static constexpr const char* kKeys[] = {"password_hash", "viewer_password_hash", "token_file", "session_timeout"};
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        error(line_, label,
              "unknown key (expected listen, password_hash, viewer_password_hash, token_file, host or "
              "session_timeout)");
        return;
    }
    if (!once(admin_seen_, label, key)) return;
    if (key == "session_timeout") {
        if (auto d = duration_value(label, v, false)) {
            if (d->count() < 60'000 || d->count() > 30LL * 86'400'000) error(line_, label, "must be from 1m to 30d");
            else a.session_timeout = *d;
        }
    } else if (key == "token_file") {
        std::string path = key_file_path(v, file_);
        auto text = read_secret_file(path, "the admin token");
        if (!text) {
            error(line_, label, text.error().message);
            return;
        }
        std::string_view rest(*text), token;
        while (!rest.empty() && token.empty()) {
            size_t eol = rest.find('\n');
            std::string_view line = trim(rest.substr(0, eol));
            rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
            if (!line.empty() && line.front() != '#') token = line;
        }
        if (token.size() < 32 || has_space_or_ctl(token))
            error(line_, label, path + ": expected a token of at least 32 characters on its first line "
                                       "(e.g. from: openssl rand -hex 32)");
        else
            a.token = std::string(token);
        a.token_file = std::move(path);
    } else {
        std::string hash(v);
        if (std::string why = auth::hash_problem(hash); !why.empty()) {
            error(line_, label, why);
            return;
        }
        (key == "password_hash" ? a.password_hash : a.viewer_password_hash) = std::move(hash);
    }
}

void Parser::finish_admin() {
    const AdminConfig& a = cfg_.admin;
    if (a.listen.empty()) {
        if (!a.password_hash.empty() || !a.token.empty())
            warning(a.line, "admin", "no admin listen address: nothing serves the admin API");
        return;
    }
    if (a.password_hash.empty())
        error(a.listen.front().line, "admin.listen",
              "the admin listener needs admin.password_hash (antigravityd passwd prints one)");
    for (const auto& m : a.listen) {
        for (const auto& l : cfg_.server.listen)
            if (same_address(m, l)) error(m.line, "admin.listen", "must not be a client listener (" + l.text + ")");
        if (m.kind == ListenAddr::Kind::Unix) error(m.line, "admin.listen", "expected ADDRESS:PORT (a browser connects to it)");
    }
}

void Parser::finish_tls() {
    const TlsConfig& t = cfg_.tls;
    auto ssl = [](const ListenAddr& l) { return l.tls; };
    auto first = std::find_if(cfg_.server.listen.begin(), cfg_.server.listen.end(), ssl);
    const char* key = "server.listen";
    if (first == cfg_.server.listen.end()) {
        first = std::find_if(cfg_.admin.listen.begin(), cfg_.admin.listen.end(), ssl);
        key = first == cfg_.admin.listen.end() ? nullptr : "admin.listen";
    }
    if (key) {
        if (t.certificate.empty() || t.key.empty())
            error(first->line, key, first->text + " serves TLS: set [tls] certificate and key (PEM files)");
    } else if (!t.certificate.empty() || !t.key.empty() || !t.client_ca.empty()) {
        warning(t.line, "tls", "no server.listen or admin.listen address is `ssl`: this section is not used");
    }
}

void Parser::open_model(std::string_view name) {
    name = trim(name);
    if (name.empty() || has_space_or_ctl(name) || name.find_first_of("[]") != std::string_view::npos) {
        error(line_, section_, "bad model name (an exact name or a glob with * and ?, without spaces or [ ])");
        kind_ = SectionKind::Skip;
        return;
    }
    for (const auto& m : cfg_.models)
        if (m.pattern == name) {
            error(line_, section_, "duplicate model section (first defined on line " + std::to_string(m.line) + ")");
            kind_ = SectionKind::Skip;
            return;
        }
    ModelConfig m;
    m.pattern = std::string(name);
    m.is_glob = has_glob_chars(name);
    m.line = line_;
    cfg_.models.push_back(std::move(m));
    model_seen_.emplace_back();
    kind_ = SectionKind::Model;
}

void Parser::model_key(const std::string& label, std::string_view key, std::string_view v) {
    ModelConfig& m = cfg_.models.back();
    if (key != "fallback" && key != "first_token_timeout") {
        error(line_, label, "unknown key (expected fallback or first_token_timeout)");
        return;
    }
    if (!once(model_seen_.back(), label, key)) return;
    if (key == "first_token_timeout") {
        if (auto d = duration_value(label, v, true)) m.first_token_timeout = *d;
        return;
    }
    each_model(label, v, [&](std::string_view entry) {
        if (has_glob_chars(entry) || has_space_or_ctl(entry)) {
            error(line_, label, "a fallback is an exact model name, got " + quote(entry));
            return;
        }
        if (std::find(m.fallback.begin(), m.fallback.end(), entry) != m.fallback.end()) {
            warning(line_, label, "model " + quote(entry) + " is listed twice; the repeat is ignored");
            return;
        }
        if (!m.is_glob && entry == m.pattern) {
            error(line_, label, "a model cannot fall back to itself");
            return;
        }
        if (m.fallback.size() >= kMaxFallbacks) {
            error(line_, label, "at most " + std::to_string(kMaxFallbacks) + " fallback models");
            return;
        }
        m.fallback.emplace_back(entry);
    });
}

void Parser::open_rule(std::string_view name) {
    if (name.empty() || has_space_or_ctl(name) || name.find('.') != std::string_view::npos) {
        error(line_, section_, "a rule name is one word without dots or spaces");
        kind_ = SectionKind::Skip;
        return;
    }
    for (const auto& r : cfg_.rules)
        if (r.name == name) {
            error(line_, section_, "duplicate rule section (first defined on line " + std::to_string(r.line) + ")");
            kind_ = SectionKind::Skip;
            return;
        }
    RuleConfig r;
    r.name = std::string(name);
    r.line = line_;
    cfg_.rules.push_back(std::move(r));
    rule_seen_.emplace_back();
    kind_ = SectionKind::Rule;
}

void Parser::rule_key(const std::string& label, std::string_view key, std::string_view v) {
    RuleConfig& r = cfg_.rules.back();
    auto limit = [&](size_t n, const char* what) {
        if (n < kMaxRuleEdits) return true;
        error(line_, label, "at most " + std::to_string(kMaxRuleEdits) + " " + what + " in a rule");
        return false;
    };
    if (key == "models") {
        if (!once(rule_seen_.back(), label, key)) return;
        each_model(label, v, [&](std::string_view m) {
            if (has_space_or_ctl(m)) error(line_, label, "a model glob holds no spaces, got " + quote(m));
            else if (r.models.size() >= kMaxRuleModels)
                error(line_, label, "at most " + std::to_string(kMaxRuleModels) + " models");
            else r.models.emplace_back(m);
        });
    } else if (key == "wire") {
        if (!once(rule_seen_.back(), label, key)) return;
        if (!parse_rule_wire(v, r.wire))
            error(line_, label, "unknown wire " + quote(v) + " (expected openai, chat, responses, anthropic or gemini)");
    } else if (key == "client") {
        if (!once(rule_seen_.back(), label, key)) return;
        r.client = std::string(v);
    } else if (key == "default" || key == "set" || key == "remove") {
        if (!limit(r.edits.size(), "edits")) return;
        RuleEdit e;
        auto kind = key == "default" ? RuleEdit::Kind::Default
                    : key == "set"   ? RuleEdit::Kind::Set
                                     : RuleEdit::Kind::Remove;
        if (std::string err = parse_rule_edit(kind, v, e); !err.empty()) error(line_, label, err);
        else r.edits.push_back(std::move(e));
    } else if (key == "header") {
        if (!limit(r.headers.size(), "headers")) return;
        std::string h;
        if (std::string err = parse_rule_header(v, h); !err.empty()) error(line_, label, err);
        else r.headers.push_back(std::move(h));
    } else {
        error(line_, label, "unknown key (expected models, wire, client, default, set, remove or header)");
    }
}

// A rule that changes nothing, or names a client that does not exist, is a
// mistake worth stopping for.
void Parser::finish_rules() {
    for (const auto& r : cfg_.rules) {
        if (r.edits.empty() && r.headers.empty())
            error(r.line, "rule." + r.name, "the rule changes nothing: give it default, set, remove or header lines");
        if (!r.client.empty() && std::none_of(cfg_.clients.begin(), cfg_.clients.end(),
                                              [&](const ClientConfig& c) { return c.name == r.client; }))
            error(r.line, "rule." + r.name + ".client",
                  "no client " + quote(r.client) + " ([client.NAME], or default for the [auth] keys)");
    }
}

// A fallback no provider serves could never help: an error, named.
void Parser::finish_models() {
    for (const auto& m : cfg_.models) {
        for (const auto& f : m.fallback) {
            bool served = false;
            for (const auto& p : cfg_.providers)
                for (const auto& pat : p.models)
                    served = served || (pat.is_glob ? glob_match(pat.pattern, f) : pat.pattern == f);
            if (!served)
                error(m.line, "model." + m.pattern + ".fallback", "no provider serves model " + quote(f));
        }
    }
}

// The client named "default" holds the [auth] keys (merged into an explicit
// [client.default]); a key belongs to one client only.
void Parser::finish_clients() {
    std::vector<ClientState> all;
    ClientState* explicit_default = nullptr;
    for (auto& c : clients_)
        if (!c.duplicate && c.cfg.name == "default") explicit_default = &c;
    if (!cfg_.auth.keys.empty() || explicit_default) {
        ClientState d;
        if (explicit_default) d = *explicit_default;
        d.cfg.name = "default";
        d.label = explicit_default ? explicit_default->label : "auth";
        for (size_t i = 0; i < cfg_.auth.keys.size(); ++i) {
            d.cfg.keys.push_back(cfg_.auth.keys[i]);
            d.key_lines.push_back(i < auth_key_lines_.size() ? auth_key_lines_[i] : 0);
        }
        all.push_back(std::move(d));
    }
    for (auto& c : clients_)
        if (!c.duplicate && c.cfg.name != "default") all.push_back(std::move(c));

    std::map<std::string, std::pair<std::string, int>> owner;  // key -> (client, line)
    for (auto& c : all) {
        for (size_t i = 0; i < c.cfg.keys.size(); ++i) {
            int line = i < c.key_lines.size() ? c.key_lines[i] : c.cfg.line;
            auto [it, inserted] = owner.emplace(c.cfg.keys[i], std::make_pair(c.cfg.name, line));
            if (!inserted && it->second.first != c.cfg.name)
                error(line, c.label + ".key",
                      "this key already belongs to client '" + it->second.first + "' (line " +
                          std::to_string(it->second.second) + "); a key may belong to one client only");
        }
        if (c.cfg.keys.empty()) error(c.cfg.line, c.label, "no key configured (a client is known by its keys)");
        cfg_.clients.push_back(std::move(c.cfg));
    }
}

void Parser::finish() {
    // Providers.
    for (auto& p : providers_) {
        if (p.duplicate) continue;
        ProviderConfig& c = p.cfg;
        if (!p.type_set && !p.seen.count("type"))
            error(c.line, p.label, "no type configured (expected openai, anthropic or gemini)");
        if (c.auth == ProviderAuth::OAuth2) {
            if (!c.keys.empty()) error(c.line, p.label, "auth = oauth2 takes token_file lines, not keys");
            if (c.token_files.empty())
                error(c.line, p.label, "auth = oauth2: no token_file configured (each file is one credential)");
            if (c.token_url.empty()) error(c.line, p.label, "auth = oauth2: no token_url configured");
            if (c.client_id.empty()) error(c.line, p.label, "auth = oauth2: no client_id configured");
            std::string_view url = c.token_url;
            if (starts_with_nocase(url, "http://") && !starts_with_nocase(url, "http://127.0.0.1") &&
                !starts_with_nocase(url, "http://localhost") && !starts_with_nocase(url, "http://[::1]"))
                warning(p.oauth_line, p.label + ".token_url",
                        "plain http: refresh and access tokens would cross the network in clear");
        } else {
            if (c.keys.empty()) error(c.line, p.label, "no key configured (each key is one credential)");
            if (p.oauth_line != 0)
                error(p.oauth_line, p.label, "token_url, client_id, client_secret_file, scope and token_file need auth = oauth2");
        }
        c.key_weights.clear();
        for (unsigned w : p.key_weights) c.key_weights.push_back(w != 0 ? w : c.weight);
        if (p.weight_line != 0 && cfg_.routing.strategy != Strategy::Weighted)
            warning(p.weight_line, p.label, "weights count only with [routing] strategy = weighted");
        if (c.models.empty()) error(c.line, p.label, "no models configured");
        if (p.api_line != 0 && p.type_set && c.type != ProviderType::OpenAI)
            error(p.api_line, p.label + ".api", std::string("only valid for type = openai, not ") + to_string(c.type));
        if (!p.base_url_set) {
            switch (c.type) {
                case ProviderType::OpenAI: c.base_url = "https://api.openai.com/v1"; break;
                case ProviderType::Anthropic: c.base_url = "https://api.anthropic.com"; break;
                case ProviderType::Gemini: c.base_url = "https://generativelanguage.googleapis.com"; break;
            }
        }
        cfg_.providers.push_back(c);
    }

    finish_clients();
    finish_models();
    finish_rules();
    finish_tls();

    // Listeners.
    if (!listen_written_) {
        ListenAddr a;
        a.kind = ListenAddr::Kind::Tcp;
        a.host = "127.0.0.1";
        a.port = kDefaultPort;
        a.text = kDefaultListen;
        a.loopback = true;
        cfg_.server.listen.push_back(std::move(a));
    }

    // Two written lines naming one address are refused as duplicates as
    // they are read; these also catch the default client listener.
    for (const auto& m : cfg_.metrics.listen)
        for (const auto& l : cfg_.server.listen)
            if (same_address(m, l))
                error(m.line, "metrics.listen", "must not be a client listener (" + l.text + "): metrics get a port of their own");
    finish_admin();

    // Authentication.
    AuthConfig& auth = cfg_.auth;
    const ListenAddr* exposed = nullptr;
    for (const auto& l : cfg_.server.listen) {
        if (!l.loopback) {
            exposed = &l;
            break;
        }
    }
    switch (auth.mode) {
        case AuthMode::Auto: auth.effective = exposed ? AuthMode::AllExceptHealth : AuthMode::Off; break;
        default: auth.effective = auth.mode; break;
    }
    bool any_key = std::any_of(cfg_.clients.begin(), cfg_.clients.end(), [](const ClientConfig& c) { return !c.keys.empty(); });
    if ((auth.mode == AuthMode::Strict || auth.mode == AuthMode::AllExceptHealth) && !any_key)
        error(mode_line_, "auth.mode",
              std::string(to_string(auth.mode)) + " needs at least one key (auth.key or a [client.NAME] key)");
    if (auth.mode == AuthMode::Auto && exposed && !any_key)
        error(exposed->line, "server.listen",
              "listening on " + exposed->text +
                  " (not loopback) requires auth.key (or a [client.NAME] key), or set auth.mode = off explicitly");
    if (auth.mode == AuthMode::Off && exposed)
        warning(mode_line_, "auth.mode",
                "off while listening on " + exposed->text + " (not loopback): anyone who can reach it can use the "
                "provider keys");

    // Access.
    if (real_ip_line_ != 0 && cfg_.access.trusted_proxies.empty())
        warning(real_ip_line_, "access.real_ip_header",
                "has no effect without access.trusted_proxy (forwarding headers are believed only from those)");

    auto by_line = [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; };
    std::stable_sort(errors_.begin(), errors_.end(), by_line);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_line);
}

LoadResult Parser::run() {
    LoadResult r;
    int rc = ini_parse_stream(&Parser::reader_cb, this, &Parser::handler_cb, this);
    if (!fatal_.empty()) {
        errors_.push_back({file_, line_, "", fatal_});
    } else if (rc != 0) {
        // Our reader hands inih only well-formed lines, so this means inih
        // itself failed (e.g. -2: it could not allocate its line buffer).
        errors_.push_back({file_, rc > 0 ? rc : 0, "", "cannot parse (inih error " + std::to_string(rc) + ")"});
    }
    finish();
    r.errors = std::move(errors_);
    r.warnings = std::move(warnings_);
    if (r.errors.empty()) r.config = std::make_shared<const Config>(cfg_);
    r.partial = std::move(cfg_);
    return r;
}

LoadResult fail(const std::string& file, int line, std::string message) {
    LoadResult r;
    r.partial.path = file;
    r.errors.push_back({file, line, "", std::move(message)});
    return r;
}

}  // namespace

LoadResult load_string(std::string_view text, const std::string& name) {
    try {
        Parser p(text, name);
        return p.run();
    } catch (const std::bad_alloc&) {
        try {
            return fail(name, 0, "out of memory");
        } catch (...) {
            return LoadResult{};
        }
    } catch (...) {
        try {
            return fail(name, 0, "internal error while loading");
        } catch (...) {
            return LoadResult{};
        }
    }
}

LoadResult load_file(const std::string& path) {
    try {
        auto cannot_read = [&](int err) {
            return fail(path, 0, "cannot read: " + std::error_code(err, std::generic_category()).message());
        };
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return cannot_read(errno);
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            int err = errno;
            ::close(fd);
            return cannot_read(err);
        }
        if (S_ISDIR(st.st_mode)) {
            ::close(fd);
            return cannot_read(EISDIR);
        }
        std::string text;
        bool ok = read_all(fd, text, kMaxFileSize);
        int err = errno;
        ::close(fd);
        if (!ok && err == EFBIG) return fail(path, 0, "cannot read: file larger than 16 MiB");
        if (!ok) return cannot_read(err);
        return load_string(text, path);
    } catch (...) {
        try {
            return fail(path, 0, "out of memory");
        } catch (...) {
            return LoadResult{};
        }
    }
}

}  // namespace agd::config
