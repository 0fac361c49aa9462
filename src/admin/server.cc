#include "admin/server.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <evhtp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "admin/config_mask.h"
#include "admin/console_assets.h"
#include "admin/events.h"
#include "admin/guard.h"
#include "admin/stats_json.h"
#include "auth/password.h"
#include "common/cidr.h"
#include "common/fingerprint.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "credentials/ledger.h"
#include "pipeline/classify.h"
#include "config/loader.h"
#include "daemon/cli_store.h"
#include "daemon/state_file.h"
#include "server/listener_tls.h"
#include "store/reader.h"
#include "store/since.h"
#include "store/stats.h"
#include "server/listen_socket.h"
#include "translate/json_util.h"

namespace agd::admin {

namespace {

constexpr const char* kCookie = "agd_admin";
constexpr uint64_t kMaxBody = 1 << 20;  // a configuration file to check
constexpr size_t kMaxLoginBody = 4096;
constexpr int kTimeoutSeconds = 30;

// The request's body, copied out (a configuration file, a login).
std::string body_of(evhtp_request_t* req) {
    size_t len = evbuffer_get_length(req->buffer_in);
    std::string text(len, '\0');
    if (len) evbuffer_copyout(req->buffer_in, text.data(), len);
    return text;
}

// A JSON array of diagnostics ("FILE:LINE: section.key: message").
std::string diagnostics_json(const std::vector<config::Diagnostic>& list) {
    std::string out = "[";
    for (size_t i = 0; i < list.size(); ++i) out += (i ? "," : "") + json_string(list[i].str());
    return out + "]";
}

std::string error_json(std::string_view code, std::string_view message) {
    return "{\"error\":{\"code\":" + json_string(code) + ",\"message\":" + json_string(message) + "}}";
}

// A failed daemon answer (the control socket's {"ok":false, "error"?,
// "message", "errors"?}) in the admin API's error shape, its "errors" list
// kept.
std::string api_failure(const std::string& answer, std::string_view default_code) {
    rapidjson::Document doc;
    std::string code(default_code), message = "failed";
    std::string errors;
    if (translate::parse_json(answer, doc) && doc.IsObject()) {
        if (doc.HasMember("error") && doc["error"].IsString()) code = doc["error"].GetString();
        if (doc.HasMember("message") && doc["message"].IsString()) message = doc["message"].GetString();
        if (doc.HasMember("errors") && doc["errors"].IsArray())
            for (const auto& e : doc["errors"].GetArray())
                if (e.IsString()) errors += (errors.empty() ? "" : ",") + json_string(e.GetString());
    }
    std::string body = error_json(code, message);
    body.pop_back();  // reopen the object for the list
    return body + ",\"errors\":[" + errors + "]}";
}

std::string_view header(evhtp_request_t* req, const char* name) {
    const char* v = evhtp_header_find(req->headers_in, name);
    return v ? std::string_view(v) : std::string_view();
}

void add_header(evhtp_request_t* req, const char* key, const std::string& value) {
    evhtp_headers_add_header(req->headers_out, evhtp_header_new(key, value.c_str(), 1, 1));
}

// Every answer: JSON, never cached, never framed, no CORS.
void send(evhtp_request_t* req, int status, const std::string& body) {
    add_header(req, "Content-Type", "application/json");
    add_header(req, "Cache-Control", "no-store");
    add_header(req, "X-Content-Type-Options", "nosniff");
    add_header(req, "X-Frame-Options", "DENY");
    add_header(req, "Referrer-Policy", "no-referrer");
    add_header(req, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    evbuffer_add(req->buffer_out, body.data(), body.size());
    evhtp_send_reply(req, static_cast<evhtp_res>(status));
}

void console(evhtp_request_t* req, const ConsoleAsset& asset) {
    ConsoleReply reply = console_reply(asset, header(req, "if-none-match"), header(req, "accept-encoding"));
    for (const auto& [key, value] : reply.headers) add_header(req, key, value);
    evbuffer_add(req->buffer_out, reply.body.data(), reply.body.size());
    evhtp_send_reply(req, static_cast<evhtp_res>(reply.status));
}

// "; Secure" on an `ssl` listener: the browser then never sends the
// session cookie over plain HTTP.
std::string secure_flag(evhtp_request_t* req) {
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    return c && c->ssl ? "; Secure" : "";
}

std::string peer_of(evhtp_request_t* req) {
    evhtp_connection_t* c = evhtp_request_get_connection(req);
    if (c && c->saddr)
        if (auto ip = ip_from_sockaddr(c->saddr)) return ip->str();
    return "unknown";
}

// What a configuration file's text is, for "has it changed since it was
// read" (GET /api/config?source=file's base, PUT's ?base=): its SHA-256.
std::string content_hash(std::string_view text) { return sha256_hex(text); }

// Why the daemon cannot replace its configuration file ("" when it can):
// it writes FILE.bak and a new file beside it, renamed over it.
std::string not_writable_why(const std::string& path) {
    size_t slash = path.find_last_of('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (::access(path.c_str(), W_OK) != 0 || ::access(dir.c_str(), W_OK) != 0)
        return "the daemon may not write " + dir + " (" + std::strerror(errno) +
               "): edit the file on the server, then reload; docs/ADMIN-API.md says how to allow editing here";
    return "";
}

bool changes(htp_method m) { return m != htp_method_GET && m != htp_method_HEAD && m != htp_method_OPTIONS; }

// A query parameter, percent-decoded ('+' is a space); nullopt when absent.
std::optional<std::string> param(evhtp_request_t* req, const char* name) {
    if (!req->uri || !req->uri->query_raw) return std::nullopt;
    std::string value;
    if (!query_param(reinterpret_cast<const char*>(req->uri->query_raw), name, &value)) return std::nullopt;
    return value;
}

// ?since and ?until (30m, 24h, 7d, today, month or a date) into the bounds
// given, in milliseconds (left as they are when absent); false once a 400
// has been sent.
bool window(evhtp_request_t* req, int64_t now_s, int64_t& since_ms, int64_t& until_ms) {
    for (auto [name, into] : {std::pair<const char*, int64_t*>{"since", &since_ms}, {"until", &until_ms}}) {
        auto v = param(req, name);
        if (!v) continue;
        auto at = store::parse_since(*v, now_s);
        if (!at) {
            send(req, 400, error_json("bad_request", std::string(name) + ": 30m, 24h, 7d, today, month or a date"));
            return false;
        }
        *into = *at * 1000;
    }
    return true;
}

}  // namespace

struct Listener {
    int fd = -1;
    bool tls = false;   // `ssl`: browsers speak TLS ([tls]'s certificate)
    std::string name;   // handover_name
    std::string bound;  // "127.0.0.1:8046"
    uint16_t port = 0;
};

struct AdminServer::Impl {
    std::vector<Listener> listeners;
    std::vector<std::string> bound;
    std::vector<uint16_t> ports;
    config::AdminConfig cfg;  // the admin thread's once started
    std::string database;     // [log] database: the request store ("" = none)
    std::string config_path;  // the configuration file

    std::thread thread;
    event_base* base = nullptr;
    evhtp_t* htp = nullptr;
    // The `ssl` listeners' libevhtp instance (it wraps each connection in
    // an OpenSSL bufferevent), and the context it serves: the daemon's,
    // replaced by a reload that renews the certificate.
    evhtp_t* htps = nullptr;
    std::shared_ptr<const ListenerTls> tls;
    std::vector<evconnlistener*> accepting;
    std::unique_ptr<Mailbox> mailbox;
    Mailbox* main = nullptr;
    Backend backend;

    Sessions sessions;
    LoginGuard guard;
    struct Pending {
        evhtp_request_t* req;
        bool gone = false;
    };
    std::map<uint64_t, Pending> pending;
    uint64_t next_id = 1;
    // Open connections, freed when the thread stops.
    std::set<evhtp_connection_t*> connections;
    // GET /api/events: the streams open, the feed filling them, a heartbeat.
    // Each with what let it in: a session's cookie, or the bearer token.
    struct Subscriber {
        std::string session, bearer;
    };
    std::map<evhtp_request_t*, Subscriber> subscribers;
    std::unique_ptr<EventFeed> feed;
    event* heartbeat = nullptr;
    static constexpr size_t kMaxSubscribers = 16;
    static constexpr size_t kMaxConnections = 128;
    static constexpr size_t kMaxBacklog = 1 << 20;  // bytes a slow subscriber may have waiting

    std::mutex mu;
    std::condition_variable cv;
    bool running = false;
    std::string start_error;  // set by the thread before `running`

    // --- on the admin thread
    static void on_request(evhtp_request_t* req, void* arg);
    static evhtp_res on_accept(evhtp_connection_t* conn, void* arg);
    static evhtp_res on_tls_accept(evhtp_connection_t* conn, void* arg);
    evhtp_t* make_htp(bool ssl);
    static evhtp_res on_connection_fini(evhtp_connection_t* conn, void* arg);
    static void on_request_error(evhtp_request_t* req, evhtp_error_flags, void* arg);
    void handle(evhtp_request_t* req);
    void login(evhtp_request_t* req, const std::string& peer);
    void credential_action(evhtp_request_t* req, const std::string& path, htp_method method, Role role,
                           const std::string& peer);
    void requests(evhtp_request_t* req, const std::string& path, Role role);
    void usage(evhtp_request_t* req);
    void stats(evhtp_request_t* req);
    std::optional<store::Reader> open_store(evhtp_request_t* req);
    void check_config(evhtp_request_t* req);
    void config_file(evhtp_request_t* req);
    void put_config(evhtp_request_t* req);
    void reload_later(evhtp_request_t* req);
    // The posted file (into `text`) checked; `live`: the live file when the
    // caller has read it already.
    config::LoadResult check_posted(evhtp_request_t* req, std::string& text, const std::string* live = nullptr);
    void subscribe(evhtp_request_t* req, Subscriber who);
    void drop_subscriber(evhtp_request_t* req);
    void end_unauthorized_streams();
    void broadcast(const std::string& chunk);
    static evhtp_res on_subscriber_fini(evhtp_request_t* req, void* arg);
    static void on_heartbeat(evutil_socket_t, short, void* arg);
    void later(evhtp_request_t* req, std::function<void(std::function<void(int, std::string)>)> work);
    void finish(uint64_t id, int status, const std::string& body);
    bool host_ok(std::string_view host) const {
        for (uint16_t port : ports)
            if (host_allowed(host, bound, port, cfg.hosts)) return true;
        return false;
    }
};

Result<std::unique_ptr<AdminServer>> AdminServer::bind(const config::Config& config,
                                                       std::vector<InheritedSocket>* inherited) {
    using R = Result<std::unique_ptr<AdminServer>>;
    const config::AdminConfig& cfg = config.admin;
    auto impl = std::make_unique<Impl>();
    impl->cfg = cfg;
    impl->database = config.log.database;
    // Workers hand each record over through the admin mailbox; made in
    // start(), gone only with this server (after the workers).
    Impl* raw = impl.get();
    impl->feed = std::make_unique<EventFeed>([raw](std::string json) {
        Mailbox* m = raw->mailbox.get();
        return m && m->post([raw, json = std::move(json)] { raw->broadcast("event: request\ndata: " + json + "\n\n"); });
    });
    impl->config_path = config.path;
    std::unique_ptr<AdminServer> server(new AdminServer(std::move(impl)));
    Impl& s = *server->impl_;
    for (const auto& a : cfg.listen) {
        Listener l;
        l.name = handover_name('a', a.text);
        l.tls = a.tls;
        if (InheritedSocket* given = inherited ? handed_over(*inherited, 'a', a.text) : nullptr) {
            given->used = true;
            l.fd = given->fd;
            l.bound = given->name;
        } else {
            auto sock = open_listen_socket(a, 64);
            if (!sock) return R::fail(sock.error().code, "admin: " + sock.error().message);
            l.fd = sock->fd;
            l.bound = sock->name;
        }
        auto colon = l.bound.rfind(':');
        l.port = static_cast<uint16_t>(std::strtoul(l.bound.c_str() + colon + 1, nullptr, 10));
        s.bound.push_back(l.bound);
        s.ports.push_back(l.port);
        s.listeners.push_back(std::move(l));
    }
    return server;
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() {
    stop();
    for (auto& l : impl_->listeners)
        if (l.fd >= 0) ::close(l.fd);
    impl_->mailbox.reset();
    if (impl_->base) event_base_free(impl_->base);
}

const std::vector<std::string>& AdminServer::bound() const { return impl_->bound; }

record::Consumer* AdminServer::consumer() const { return impl_->feed.get(); }

std::vector<std::pair<int, std::string>> AdminServer::handover() const {
    std::vector<std::pair<int, std::string>> out;
    for (const auto& l : impl_->listeners)
        if (l.fd >= 0) out.emplace_back(l.fd, l.name);
    return out;
}

Status AdminServer::start(Mailbox& main, Backend backend, std::shared_ptr<const ListenerTls> tls) {
    Impl& s = *impl_;
    s.main = &main;
    s.backend = std::move(backend);
    s.tls = std::move(tls);
    // The loop and its mailbox are made here, before the thread: workers
    // may post to the mailbox from then on, and it stays until this server
    // is destroyed.
    s.base = event_base_new();
    if (s.base) s.mailbox = std::make_unique<Mailbox>(s.base);
    s.thread = std::thread([&s] {
        std::string error;
        if (s.base) s.htp = s.make_htp(false);
        if (s.htp) {
            s.heartbeat = event_new(s.base, -1, EV_PERSIST, &Impl::on_heartbeat, &s);
            timeval every{15, 0};
            if (s.heartbeat) event_add(s.heartbeat, &every);
        }
        if (!s.base || !s.htp || !s.mailbox->ok() || !s.heartbeat) {
            error = "admin: cannot make its event loop";
        } else {
            for (auto& l : s.listeners) {
                if (l.tls && !s.htps) s.htps = s.make_htp(true);
                evhtp_t* htp = l.tls ? s.htps : s.htp;
                int mine = htp ? fcntl(l.fd, F_DUPFD_CLOEXEC, 0) : -1;
                if (mine < 0 || evhtp_accept_socket(htp, mine, 64) != 0) {
                    if (mine >= 0) ::close(mine);
                    error = std::string("admin: cannot accept: ") + std::strerror(errno);
                    break;
                }
                s.accepting.push_back(htp->server);
                htp->server = nullptr;
            }
        }
        {
            std::lock_guard<std::mutex> lock(s.mu);
            s.start_error = error;
            s.running = true;
        }
        s.cv.notify_all();
        if (error.empty()) event_base_loop(s.base, EVLOOP_NO_EXIT_ON_EMPTY);
        for (evconnlistener* l : s.accepting) evconnlistener_free(l);
        s.accepting.clear();
        // What is still open closes here, on this thread (a paused request
        // waiting for the main loop included).
        std::set<evhtp_connection_t*> open;
        open.swap(s.connections);
        for (evhtp_connection_t* c : open) evhtp_connection_free(c);
        s.pending.clear();
        s.feed->subscribed(-static_cast<int>(s.subscribers.size()));
        s.subscribers.clear();
        if (s.heartbeat) event_free(s.heartbeat);
        s.heartbeat = nullptr;
        if (s.htp) evhtp_free(s.htp);
        s.htp = nullptr;
        if (s.htps) {
            s.htps->ssl_ctx = nullptr;  // held by s.tls, not libevhtp's to free
            evhtp_free(s.htps);
        }
        s.htps = nullptr;
    });
    std::unique_lock<std::mutex> lock(s.mu);
    s.cv.wait(lock, [&] { return s.running; });
    if (!s.start_error.empty()) {
        std::string error = s.start_error;
        lock.unlock();
        stop();
        return Status::fail(71, error);
    }
    return {};
}

void AdminServer::reconfigure(const config::Config& config, std::shared_ptr<const ListenerTls> tls) {
    Impl& s = *impl_;
    if (!s.mailbox) return;
    s.mailbox->post([&s, cfg = config.admin, database = config.log.database, tls = std::move(tls)] {
        s.database = database;
        if (tls) s.tls = tls;  // the next handshake serves the renewed certificate
        bool new_passwords = cfg.password_hash != s.cfg.password_hash ||
                             cfg.viewer_password_hash != s.cfg.viewer_password_hash;
        auto listen = std::move(s.cfg.listen);
        s.cfg = cfg;
        s.cfg.listen = std::move(listen);  // the listeners stay until a restart
        if (new_passwords) {
            s.sessions = Sessions{};  // a changed password ends every login
            log::notice("admin: the password hashes changed: every session is closed");
        }
        s.end_unauthorized_streams();
    });
}

void AdminServer::hand_over() {
    Impl& s = *impl_;
    if (s.mailbox) {
        std::mutex mu;
        std::condition_variable cv;
        bool done = false;
        bool posted = s.mailbox->post([&] {
            for (evconnlistener* l : s.accepting) evconnlistener_free(l);
            s.accepting.clear();
            std::lock_guard<std::mutex> lock(mu);
            done = true;
            cv.notify_all();
        });
        std::unique_lock<std::mutex> lock(mu);
        if (posted) cv.wait(lock, [&] { return done; });
    }
    for (auto& l : s.listeners) {
        if (l.fd >= 0) ::close(l.fd);
        l.fd = -1;
    }
}

void AdminServer::stop() {
    Impl& s = *impl_;
    if (!s.thread.joinable()) return;
    if (s.base) event_base_loopexit(s.base, nullptr);
    s.thread.join();
}

// --- requests

void AdminServer::Impl::on_request(evhtp_request_t* req, void* arg) { static_cast<Impl*>(arg)->handle(req); }

evhtp_res AdminServer::Impl::on_accept(evhtp_connection_t* conn, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    // The process's descriptors are shared with the client listeners: the
    // admin port may not take them all.
    if (self->connections.size() >= kMaxConnections) return EVHTP_RES_ERROR;
    self->connections.insert(conn);
    evhtp_connection_set_hook(conn, evhtp_hook_on_connection_fini,
                              reinterpret_cast<evhtp_hook>(reinterpret_cast<void (*)()>(&Impl::on_connection_fini)),
                              self);
    return EVHTP_RES_OK;
}

evhtp_t* AdminServer::Impl::make_htp(bool ssl) {
    evhtp_t* htp = evhtp_new(base, nullptr);
    if (!htp) return nullptr;
    evhtp_set_gencb(htp, &Impl::on_request, this);
    evhtp_set_post_accept_cb(htp, &Impl::on_accept, this);
    if (ssl) evhtp_set_pre_accept_cb(htp, &Impl::on_tls_accept, this);
    evhtp_set_max_body_size(htp, kMaxBody);
    timeval t{kTimeoutSeconds, 0};
    evhtp_set_timeouts(htp, &t, &t);
    return htp;
}

// An `ssl` listener's connection is about to get its OpenSSL object: from
// the context live now; never a plain connection on an `ssl` listener.
evhtp_res AdminServer::Impl::on_tls_accept(evhtp_connection_t*, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->htps->ssl_ctx = self->tls ? self->tls->ctx() : nullptr;
    return self->htps->ssl_ctx ? EVHTP_RES_OK : EVHTP_RES_ERROR;
}

evhtp_res AdminServer::Impl::on_connection_fini(evhtp_connection_t* conn, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->connections.erase(conn);
    // A request of this connection still waiting for the main loop: its
    // answer finds nothing to write to.
    for (auto it = self->pending.begin(); it != self->pending.end();)
        it = evhtp_request_get_connection(it->second.req) == conn ? self->pending.erase(it) : std::next(it);
    return EVHTP_RES_OK;
}

void AdminServer::Impl::on_request_error(evhtp_request_t* req, evhtp_error_flags, void* arg) {
    // The client left while its answer was being made: nothing is written;
    // libevhtp frees the request after the resume.
    auto* self = static_cast<Impl*>(arg);
    for (auto& [id, p] : self->pending)
        if (p.req == req) p.gone = true;
}

void AdminServer::Impl::handle(evhtp_request_t* req) {
    std::string peer = peer_of(req);
    std::string_view host = header(req, "host");
    if (!host_ok(host))
        return send(req, 403, error_json("bad_host", "this address is not the admin listener's (Host refused)"));
    std::string path = req->uri && req->uri->path && req->uri->path->full ? req->uri->path->full : "/";
    htp_method method = evhtp_request_get_method(req);
    // The console's files: public (the login page is one of them), and
    // nothing in them is a secret.
    if (path.rfind("/api/", 0) != 0) {
        if (const ConsoleAsset* asset = find_console_asset(path)) {
            if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
            return console(req, *asset);
        }
        return send(req, 404, error_json("not_found", "no such page: " + path));
    }
    if (path == "/api/login") {
        if (method != htp_method_POST) return send(req, 405, error_json("method_not_allowed", "POST expected"));
        return login(req, peer);
    }

    // Who is asking: a bearer token, else a session cookie.
    std::optional<Role> role;
    const Sessions::Session* session = nullptr;
    std::string_view authz = header(req, "authorization");
    std::string_view cookie = cookie_value(header(req, "cookie"), kCookie);
    if (authz.size() > 7 && strncasecmp(authz.data(), "Bearer ", 7) == 0) {
        std::string_view given = authz.substr(7);
        if (!cfg.token.empty() && given.size() == cfg.token.size() &&
            CRYPTO_memcmp(given.data(), cfg.token.data(), given.size()) == 0)
            role = Role::Admin;
        else
            return send(req, 401, error_json("unauthorized", "wrong token"));
    } else if (!cookie.empty()) {
        session = sessions.find(cookie, credentials::steady_ms());
        if (session) role = session->role;
    }
    // Who is logged in is no secret: the console asks before it shows the
    // login form, and a 401 there would be an error in the browser's console.
    if (!role && path == "/api/whoami" && method == htp_method_GET) return send(req, 200, "{\"role\":null}");
    if (!role) return send(req, 401, error_json("unauthorized", "log in first (POST /api/login)"));
    // A change made with the browser's cookie must come from the console's
    // own page (cross-site request forgery).
    if (session && changes(method) && !origin_allowed(header(req, "origin"), host)) {
        std::string_view csrf = header(req, "x-csrf-token");
        if (!header(req, "origin").empty() || csrf.size() != session->csrf.size() ||
            CRYPTO_memcmp(csrf.data(), session->csrf.data(), csrf.size()) != 0)
            return send(req, 403, error_json("bad_origin", "a change must come from the admin console's own page"));
    }

    if (path == "/api/logout") {
        if (method != htp_method_POST) return send(req, 405, error_json("method_not_allowed", "POST expected"));
        if (session) sessions.close(cookie);
        end_unauthorized_streams();
        add_header(req, "Set-Cookie",
               std::string(kCookie) + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0" + secure_flag(req));
        return send(req, 200, "{\"ok\":true}");
    }
    if (path == "/api/whoami") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        std::string body = std::string("{\"role\":\"") + to_string(*role) + "\"";
        if (session) body += ",\"csrf\":" + json_string(session->csrf);
        return send(req, 200, body + "}");
    }
    if (path == "/api/status") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        return later(req, [this](std::function<void(int, std::string)> done) { done(200, backend.status()); });
    }
    if (path == "/api/reload") {
        if (method != htp_method_POST) return send(req, 405, error_json("method_not_allowed", "POST expected"));
        if (*role != Role::Admin) return send(req, 403, error_json("forbidden", "the viewer role changes nothing"));
        log::notice("admin: {} from {}: reload", to_string(*role), peer);
        return reload_later(req);
    }
    if (path == "/api/credentials") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        return later(req, [this](std::function<void(int, std::string)> done) {
            done(200, backend.command("credentials", ""));
        });
    }
    if (path.rfind("/api/credentials/", 0) == 0) return credential_action(req, path, method, *role, peer);
    if (path == "/api/events") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        Subscriber who;
        if (session)
            who.session = std::string(cookie);
        else
            who.bearer = std::string(authz.substr(7));
        return subscribe(req, std::move(who));
    }
    if (path == "/api/clients") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        return later(req, [this](std::function<void(int, std::string)> done) {
            done(200, "{\"clients\":" + backend.clients() + "}");
        });
    }
    if (path == "/api/config" && method == htp_method_PUT) {
        if (*role != Role::Admin) return send(req, 403, error_json("forbidden", "the viewer role changes nothing"));
        log::notice("admin: {} from {}: write the configuration file and reload", to_string(*role), peer);
        return put_config(req);
    }
    if (path == "/api/config") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET or PUT expected"));
        if (param(req, "source") == std::optional<std::string>("file")) return config_file(req);
        return later(req, [this](std::function<void(int, std::string)> done) {
            auto [text, file] = backend.config();
            done(200, "{\"path\":" + json_string(file) + ",\"text\":" + json_string(text) + "}");
        });
    }
    if (path == "/api/config/check") {
        if (method != htp_method_POST) return send(req, 405, error_json("method_not_allowed", "POST expected"));
        if (*role != Role::Admin) return send(req, 403, error_json("forbidden", "checking a file is for the admin role"));
        return check_config(req);
    }
    if (path == "/api/requests" || path.rfind("/api/requests/", 0) == 0) {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        return requests(req, path, *role);
    }
    if (path == "/api/usage") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        return usage(req);
    }
    if (path == "/api/stats") {
        if (method != htp_method_GET) return send(req, 405, error_json("method_not_allowed", "GET expected"));
        return stats(req);
    }
    send(req, 404, error_json("not_found", "no such endpoint: " + path));
}

std::optional<store::Reader> AdminServer::Impl::open_store(evhtp_request_t* req) {
    if (database.empty()) {
        send(req, 404, error_json("no_store", "the request store is off ([log] database is empty)"));
        return std::nullopt;
    }
    auto reader = store::Reader::open(database);
    if (!reader) {
        send(req, 503, error_json("store", reader.error().message));
        return std::nullopt;
    }
    return std::move(reader.value());
}

// GET /api/requests?since&client&model&provider&status&limit: the request
// log, newest first; GET /api/requests/ID: one request in full (its bodies,
// when kept, for the admin role only). Read here, on the admin thread.
void AdminServer::Impl::requests(evhtp_request_t* req, const std::string& path, Role role) {
    int64_t now_s = static_cast<int64_t>(time(nullptr));
    if (path.size() > std::strlen("/api/requests/")) {
        auto id = daemon::parse_request_id(path.substr(std::strlen("/api/requests/")));
        if (!id) return send(req, 404, error_json("not_found", "not a request id (16 hex digits)"));
        auto reader = open_store(req);
        if (!reader) return;
        auto found = reader->entries(*id);
        if (!found) return send(req, 503, error_json("store", found.error().message));
        if (found->empty()) return send(req, 404, error_json("not_found", "no such request in the store"));
        // Ids start again with every run of the daemon: ?row=N (the row
        // number the log gave) names one of them.
        const store::LogEntry* pick = &found->front();
        if (auto v = param(req, "row")) {
            pick = nullptr;
            for (const auto& f : *found)
                if (std::to_string(f.row.row) == *v) pick = &f;
            if (!pick) return send(req, 404, error_json("not_found", "no such request in the store"));
        }
        store::LogEntry e = *pick;
        if (role != Role::Admin) e.has_bodies = false, e.request_body.clear(), e.response_body.clear();
        return send(req, 200, daemon::render_entry_json(e));
    }
    store::LogQuery q;
    if (!window(req, now_s, q.since_ms, q.until_ms)) return;
    // cursor = "TS-ROW" of the last row of the previous page (next_cursor).
    if (auto v = param(req, "cursor")) {
        long long ts = 0, row = 0;
        char tail = 0;
        if (std::sscanf(v->c_str(), "%lld-%lld%c", &ts, &row, &tail) != 2 || ts < 0 || row < 0)
            return send(req, 400, error_json("bad_request", "cursor: the next_cursor of the previous page"));
        q.before = std::make_pair(static_cast<int64_t>(ts), static_cast<int64_t>(row));
    }
    if (auto v = param(req, "status")) {
        auto f = store::parse_status_filter(*v);
        if (!f) return send(req, 400, error_json("bad_request", "status: 429, 4xx, 5xx or error"));
        q.status = *f;
    }
    q.client = param(req, "client");
    q.model = param(req, "model");
    q.provider = param(req, "provider");
    if (auto v = param(req, "limit")) {
        char* end = nullptr;
        unsigned long n = std::strtoul(v->c_str(), &end, 10);
        if (v->empty() || *end != '\0' || n == 0 || n > 1000)
            return send(req, 400, error_json("bad_request", "limit: 1 to 1000"));
        q.limit = n;
    }
    auto reader = open_store(req);
    if (!reader) return;
    auto rows = reader->log(q);
    if (!rows) return send(req, 503, error_json("store", rows.error().message));
    std::string body = "{\"requests\":" + daemon::render_log_json(*rows);
    // A full page may have more behind it.
    if (!rows->empty() && rows->size() == q.limit)
        body += ",\"next_cursor\":\"" + std::to_string(rows->back().ts_ms) + "-" + std::to_string(rows->back().row) + "\"";
    else
        body += ",\"next_cursor\":null";
    send(req, 200, body + "}");
}

// PUT /api/config: the posted file checked as check-config checks one; if
// it passes, the live file is kept as FILE.bak and replaced (atomically:
// a new file renamed over it, with the old one's mode and group), and the
// daemon reloads it. On any error nothing changes and the errors come back.
// The daemon must be allowed to write the file's directory (it is not,
// under the shipped unit: docs/ADMIN-API.md says how).
void AdminServer::Impl::put_config(evhtp_request_t* req) {
    struct stat st {};
    if (::stat(config_path.c_str(), &st) != 0)
        return send(req, 409, error_json("not_writable", config_path + ": " + std::strerror(errno)));
    std::string old;  // the live file: kept as .bak, and where "kept:" secrets come from
    if (!daemon::read_small_file(config_path, old, 16u << 20))
        return send(req, 409, error_json("not_writable", "cannot read " + config_path + " to keep it as .bak"));
    // The editor's copy was read from a file that has changed since (edited
    // on the server, or from another page): writing would undo that.
    if (auto base = param(req, "base"); base && *base != content_hash(old))
        return send(req, 409, error_json("conflict", config_path + " changed since it was read: nothing was "
                                                     "written; read it again and redo the change"));
    std::string text;
    config::LoadResult r = check_posted(req, text, &old);
    if (!r.ok()) {
        std::string body = error_json("invalid_config", "the configuration has errors: nothing was written");
        body.pop_back();
        return send(req, 422, body + ",\"errors\":" + diagnostics_json(r.errors) + "}");
    }
    mode_t mode = st.st_mode & 0777;
    if (Status s = daemon::write_file_atomic(config_path + ".bak", old, mode); !s)
        return send(req, 409, error_json("not_writable", "cannot write " + config_path + ".bak: " + s.error().message +
                                                             " (the daemon may not write its configuration's "
                                                             "directory; see docs/ADMIN-API.md)"));
    if (Status s = daemon::write_file_atomic(config_path, text, mode); !s)
        return send(req, 409, error_json("not_writable", "cannot write " + config_path + ": " + s.error().message));
    // The group that may read it (the service's) stays the old file's.
    if (::chown(config_path.c_str(), static_cast<uid_t>(-1), st.st_gid) != 0)
        log::warning("admin: {}: cannot give the new file group {}: {}", config_path, st.st_gid, std::strerror(errno));
    reload_later(req);
}

// The daemon reloads its file on the main loop; 200 with its answer, or
// 422 reload_failed with its errors.
void AdminServer::Impl::reload_later(evhtp_request_t* req) {
    later(req, [this](std::function<void(int, std::string)> done) {
        backend.reload([done](std::string answer) {
            bool ok = answer.find("\"ok\":true") != std::string::npos;
            done(ok ? 200 : 422, ok ? std::move(answer) : api_failure(answer, "reload_failed"));
        });
    });
}

// GET /api/events: a Server-Sent Events stream, one `request` event per
// finished request (admin/events.h), a comment every 15 s to keep it open.
// At most kMaxSubscribers at once; one that falls kMaxBacklog behind is
// dropped rather than held in memory.
void AdminServer::Impl::subscribe(evhtp_request_t* req, Subscriber who) {
    if (subscribers.size() >= kMaxSubscribers)
        return send(req, 503, error_json("busy", "too many event streams open"));
    evhtp_connection_t* conn = evhtp_request_get_connection(req);
    if (conn && conn->bev) bufferevent_set_timeouts(conn->bev, nullptr, nullptr);  // a stream, not an idle client
    evhtp_request_set_hook(req, evhtp_hook_on_request_fini,
                           reinterpret_cast<evhtp_hook>(reinterpret_cast<void (*)()>(&Impl::on_subscriber_fini)), this);
    add_header(req, "Content-Type", "text/event-stream");
    add_header(req, "Cache-Control", "no-store");
    add_header(req, "X-Content-Type-Options", "nosniff");
    evhtp_send_reply_chunk_start(req, EVHTP_RES_OK);
    evbuffer* first = evbuffer_new();
    evbuffer_add_printf(first, ": connected\n\n");
    evhtp_send_reply_chunk(req, first);
    evbuffer_free(first);
    subscribers.emplace(req, std::move(who));
    feed->subscribed(1);
}

evhtp_res AdminServer::Impl::on_subscriber_fini(evhtp_request_t* req, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    if (self->subscribers.erase(req)) self->feed->subscribed(-1);
    return EVHTP_RES_OK;
}

void AdminServer::Impl::broadcast(const std::string& chunk) {
    std::vector<evhtp_request_t*> slow;
    for (const auto& [req, who] : subscribers) {
        evhtp_connection_t* conn = evhtp_request_get_connection(req);
        if (!conn || !conn->bev) continue;
        if (evbuffer_get_length(bufferevent_get_output(conn->bev)) > kMaxBacklog) {
            slow.push_back(req);
            continue;
        }
        evbuffer* b = evbuffer_new();
        evbuffer_add(b, chunk.data(), chunk.size());
        evhtp_send_reply_chunk(req, b);
        evbuffer_free(b);
    }
    for (evhtp_request_t* req : slow) {
        log::notice("admin: an event stream fell {} bytes behind: closed", kMaxBacklog);
        drop_subscriber(req);
    }
}

// Closes a stream's connection (its answer cannot end cleanly: it may be
// behind, or its reader no longer allowed to read).
void AdminServer::Impl::drop_subscriber(evhtp_request_t* req) {
    evhtp_connection_t* conn = evhtp_request_get_connection(req);
    subscribers.erase(req);
    feed->subscribed(-1);
    evhtp_request_unset_hook(req, evhtp_hook_on_request_fini);
    if (conn) evhtp_connection_free(conn);
}

// A stream lasts as long as what let it in: a logout, an expired session,
// new password hashes or a new token end it (checked at each of those and
// with every heartbeat).
void AdminServer::Impl::end_unauthorized_streams() {
    int64_t now = credentials::steady_ms();
    std::vector<evhtp_request_t*> gone;
    for (const auto& [req, who] : subscribers) {
        bool ok = who.bearer.empty() ? sessions.find(who.session, now) != nullptr
                                     : !cfg.token.empty() && who.bearer == cfg.token;
        if (!ok) gone.push_back(req);
    }
    for (evhtp_request_t* req : gone) drop_subscriber(req);
    if (!gone.empty()) log::notice("admin: {} event stream(s) closed: their login ended", gone.size());
}

void AdminServer::Impl::on_heartbeat(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->end_unauthorized_streams();
    if (!self->subscribers.empty()) self->broadcast(": ping\n\n");
}

// GET /api/config?source=file: the file as written, its secrets as
// "kept:FINGERPRINT" (admin/config_mask.h), for the console's editor.
void AdminServer::Impl::config_file(evhtp_request_t* req) {
    std::string file;
    if (!daemon::read_small_file(config_path, file, 16u << 20))
        return send(req, 503, error_json("unreadable", "cannot read " + config_path));
    MaskedConfig m = mask_config(file);
    std::string why = not_writable_why(config_path);
    send(req, 200, "{\"path\":" + json_string(config_path) + ",\"text\":" + json_string(m.text) +
                       ",\"base\":\"" + content_hash(file) + "\",\"editable\":" + (why.empty() ? "true" : "false") +
                       (why.empty() ? "" : ",\"why\":" + json_string(why)) +
                       ",\"secrets\":" + std::to_string(m.secrets) + "}");
}

// POST /api/config/check: the posted text checked as check-config checks
// a file (the certificate and key of [tls] included), as if it were the
// live file (relative paths resolve the same way); nothing is applied.
void AdminServer::Impl::check_config(evhtp_request_t* req) {
    std::string text;
    config::LoadResult r = check_posted(req, text);
    send(req, 200, std::string("{\"ok\":") + (r.ok() ? "true" : "false") + ",\"errors\":" +
                       diagnostics_json(r.errors) + ",\"warnings\":" + diagnostics_json(r.warnings) + "}");
}

// The posted file (into `text`) checked as check-config checks one, as if
// it were the live file. Here, on the admin thread: it reads the files the
// text names.
config::LoadResult AdminServer::Impl::check_posted(evhtp_request_t* req, std::string& text,
                                                   const std::string* live) {
    text = body_of(req);
    // The console's file (GET /api/config?source=file) names the live
    // file's secrets by fingerprint: they are put back first.
    if (text.find(kKeptPrefix) != std::string::npos) {
        std::string read;
        config::LoadResult bad;
        if (!live && !daemon::read_small_file(config_path, read, 16u << 20)) {
            bad.errors.push_back({config_path, 0, "", "cannot read the live file to put its secrets back"});
            return bad;
        }
        Unmasked u = unmask_config(text, live ? *live : read);
        if (!u.ok()) {
            bad.errors.push_back({config_path, static_cast<int>(u.line), "", u.problem});
            return bad;
        }
        text = std::move(u.text);
    }
    config::LoadResult r = config::load_string(text, config_path);
    load_listener_tls(r);
    return r;
}

// GET /api/stats?since&until&buckets: requests, errors, tokens and latency
// percentiles over a window (default: the last hour), whole and in buckets,
// from the request rows; read here, on the admin thread.
void AdminServer::Impl::stats(evhtp_request_t* req) {
    int64_t now_s = static_cast<int64_t>(time(nullptr));
    store::StatsQuery q;
    q.until_ms = now_s * 1000;  // whole seconds, as since's forms are: "1h" is an hour
    q.since_ms = q.until_ms - 3'600'000;
    if (!window(req, now_s, q.since_ms, q.until_ms)) return;
    if (q.until_ms <= q.since_ms) return send(req, 400, error_json("bad_request", "until must be after since"));
    if (auto v = param(req, "buckets")) {
        char* end = nullptr;
        unsigned long n = std::strtoul(v->c_str(), &end, 10);
        if (v->empty() || *end != '\0' || n == 0 || n > 1440)
            return send(req, 400, error_json("bad_request", "buckets: 1 to 1440"));
        q.buckets = static_cast<int>(n);
    }
    auto reader = open_store(req);
    if (!reader) return;
    auto s = reader->stats(q);
    if (!s) return send(req, 503, error_json("store", s.error().message));
    send(req, 200, render_stats_json(*s));
}

// GET /api/usage?since&by=client|model|provider|credential|hour|day.
void AdminServer::Impl::usage(evhtp_request_t* req) {
    int64_t now_s = static_cast<int64_t>(time(nullptr));
    store::UsageQuery q;
    q.since_s = now_s - 86400;
    if (auto v = param(req, "since")) {
        auto since = store::parse_since(*v, now_s);
        if (!since) return send(req, 400, error_json("bad_request", "since: 30m, 24h, 7d, today, month or a date"));
        q.since_s = *since;
    }
    if (auto v = param(req, "by")) {
        auto by = store::parse_group_by(*v);
        if (!by) return send(req, 400, error_json("bad_request", "by: client, model, provider, credential, hour or day"));
        q.by = *by;
    }
    auto reader = open_store(req);
    if (!reader) return;
    auto rows = reader->usage(q);
    if (!rows) return send(req, 503, error_json("store", rows.error().message));
    send(req, 200, daemon::render_usage_json(*rows, q));
}

// POST /api/credentials/PROVIDER/FINGERPRINT/reset|disable|enable: the
// control socket's `credentials ACTION PROVIDER/FINGERPRINT`.
void AdminServer::Impl::credential_action(evhtp_request_t* req, const std::string& path, htp_method method, Role role,
                                          const std::string& peer) {
    std::vector<std::string> parts;
    for (size_t at = std::strlen("/api/credentials/"); at <= path.size();) {
        size_t slash = path.find('/', at);
        parts.push_back(path.substr(at, slash == std::string::npos ? std::string::npos : slash - at));
        if (slash == std::string::npos) break;
        at = slash + 1;
    }
    auto word = [](const std::string& w) {
        return !w.empty() && w.size() <= 128 && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                   "0123456789_.-") == std::string::npos;
    };
    if (parts.size() != 3 || !word(parts[0]) || !word(parts[1]) ||
        (parts[2] != "reset" && parts[2] != "disable" && parts[2] != "enable"))
        return send(req, 404, error_json("not_found", "expected /api/credentials/PROVIDER/FINGERPRINT/"
                                                      "reset|disable|enable"));
    if (method != htp_method_POST) return send(req, 405, error_json("method_not_allowed", "POST expected"));
    if (role != Role::Admin) return send(req, 403, error_json("forbidden", "the viewer role changes nothing"));
    std::string args = parts[2] + " " + parts[0] + "/" + parts[1];
    log::notice("admin: {} from {}: credentials {}", to_string(role), peer, args);
    later(req, [this, args](std::function<void(int, std::string)> done) {
        std::string answer = backend.command("credentials", args);
        int status = 200;
        if (answer.find("\"ok\":true") == std::string::npos) {
            status = answer.find("\"not_found\"") != std::string::npos   ? 404
                     : answer.find("\"ambiguous\"") != std::string::npos ? 409
                                                                         : 400;
        }
        done(status, status == 200 ? std::move(answer) : api_failure(answer, "bad_request"));
    });
}

void AdminServer::Impl::login(evhtp_request_t* req, const std::string& peer) {
    std::string_view host = header(req, "host");
    std::string_view origin = header(req, "origin");
    if (!origin.empty() && !origin_allowed(origin, host))
        return send(req, 403, error_json("bad_origin", "log in from the admin console's own page"));
    int64_t now = credentials::steady_ms();
    if (int64_t wait = guard.locked_for(peer, now); wait > 0) {
        add_header(req, "Retry-After", std::to_string((wait + 999) / 1000));
        return send(req, 429, error_json("locked_out", "too many failed logins from this address; try again later"));
    }
    size_t len = evbuffer_get_length(req->buffer_in);
    if (len == 0 || len > kMaxLoginBody) return send(req, 400, error_json("bad_request", "expected {\"password\": ...}"));
    std::string body = body_of(req);
    rapidjson::Document doc;
    bool parsed = translate::parse_json(body, doc);  // depth-bounded, like every JSON a peer sends
    OPENSSL_cleanse(body.data(), body.size());
    if (!parsed || !doc.IsObject() || !doc.HasMember("password") || !doc["password"].IsString())
        return send(req, 400, error_json("bad_request", "expected {\"password\": ...}"));
    std::string_view password(doc["password"].GetString(), doc["password"].GetStringLength());
    std::optional<Role> role;
    if (!cfg.password_hash.empty() && auth::verify_password(password, cfg.password_hash)) role = Role::Admin;
    else if (!cfg.viewer_password_hash.empty() && auth::verify_password(password, cfg.viewer_password_hash))
        role = Role::Viewer;
    if (!role) {
        bool locked = guard.failed(peer, now);
        if (locked) log::warning("admin: failed logins from {}: locked out for 15 minutes", peer);
        else log::notice("admin: failed login from {}", peer);
        return send(req, 401, error_json("bad_password", "wrong password"));
    }
    guard.succeeded(peer);
    std::string token = sessions.open(*role, now, cfg.session_timeout.count());
    if (token.empty()) return send(req, 500, error_json("internal", "cannot make a session"));
    const Sessions::Session* session = sessions.find(token, now);
    log::notice("admin: {} logged in from {}", to_string(*role), peer);
    add_header(req, "Set-Cookie", std::string(kCookie) + "=" + token + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
                                      std::to_string(cfg.session_timeout.count() / 1000) + secure_flag(req));
    send(req, 200, std::string("{\"role\":\"") + to_string(*role) + "\",\"csrf\":" + json_string(session->csrf) + "}");
}

// The answer is made on the main loop: the request waits, paused, and is
// answered when the main loop posts the result back here.
void AdminServer::Impl::later(evhtp_request_t* req, std::function<void(std::function<void(int, std::string)>)> work) {
    uint64_t id = next_id++;
    pending[id] = Pending{req};
    evhtp_request_set_hook(req, evhtp_hook_on_error, reinterpret_cast<evhtp_hook>(reinterpret_cast<void (*)()>(
                                                         &Impl::on_request_error)),
                           this);
    evhtp_request_pause(req);
    Mailbox* back = mailbox.get();
    bool posted = main->post([this, id, back, work = std::move(work)] {
        work([this, id, back](int status, std::string body) {
            back->post([this, id, status, body = std::move(body)] { finish(id, status, body); });
        });
    });
    if (!posted) finish(id, 503, error_json("busy", "the daemon is busy; try again"));
}

void AdminServer::Impl::finish(uint64_t id, int status, const std::string& body) {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    evhtp_request_t* req = it->second.req;
    bool gone = it->second.gone;
    pending.erase(it);
    evhtp_request_unset_hook(req, evhtp_hook_on_error);
    if (!gone) send(req, status, body);
    evhtp_request_resume(req);
}

}  // namespace agd::admin
