#include "daemon/daemon.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "admin/server.h"
#include "clients/status.h"
#include "clients/usage_charge.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mailbox.h"
#include "common/redact.h"
#include "config/dump.h"
#include "config/loader.h"
#include "daemon/control.h"
#include "daemon/credentials_control.h"
#include "daemon/detach.h"
#include "daemon/notify.h"
#include "daemon/pidfile.h"
#include "daemon/privileges.h"
#include "daemon/route_control.h"
#include "daemon/token_keeper.h"
#include "daemon/upgrade.h"
#include "daemon/watchdog.h"
#include "clients/status.h"
#include "credentials/status.h"
#include "daemon/accounting.h"
#include "daemon/ledger_keeper.h"
#include "metrics/collector.h"
#include "metrics/consumer.h"
#include "metrics/gauges.h"
#include "metrics/server.h"
#include "server/listener_tls.h"
#include "server/runtime.h"
#include "server/server.h"
#include "server/worker.h"

namespace agd::daemon {
namespace {

// How long a successor may take to say it serves before it is killed and
// the upgrade given up.
constexpr std::chrono::milliseconds kUpgradeDeadline{60'000};
// A drain closes connections still without a request head after this.
constexpr int64_t kDrainHeadGraceMs = 1000;

std::string iso8601(int64_t unix_secs) {
    time_t t = static_cast<time_t>(unix_secs);
    tm tmv{};
    gmtime_r(&t, &tmv);
    char buf[32];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    return buf;
}

log::Level to_log_level(config::LogLevel l) { return static_cast<log::Level>(static_cast<int>(l)); }

std::string join(const std::vector<std::string>& v, const char* sep) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) out += sep;
        out += v[i];
    }
    return out;
}

std::string listen_text(const std::vector<config::ListenAddr>& addrs) {
    std::vector<std::string> v;
    for (const auto& l : addrs) v.push_back(l.text);
    return join(v, ",");
}

// The daemon's main thread: owns the event loop that handles signals, the
// control socket, reloads and the shutdown drain.
class Daemon final : public ControlServer::Handler {
public:
    Daemon(const CliOptions& opts, std::shared_ptr<const config::Config> cfg, std::shared_ptr<const ListenerTls> tls)
        : opts_(opts), initial_(std::move(cfg)), initial_tls_(std::move(tls)) {}
    ~Daemon() override {
        // The metrics listener and collector use the workers' mailboxes; the
        // workers post to the main mailbox and count into the consumer until
        // they stop.
        watchdog_.reset();  // its timer lives on base_; its pings hold their own state
        if (admin_) admin_->stop();  // its thread posts to the main mailbox
        metrics_server_.reset();
        collector_.reset();
        control_.reset();
        server_.reset();
        admin_.reset();  // a consumer of the workers' records: after them
        metrics_.reset();
        tokens_.reset();  // its transfers and timers live on base_
        mailbox_.reset();
        successor_.reset();  // its event lives on base_
        ledger_keeper_.drop_timer();  // its event lives on base_, freed below (before the members)
        for (event* e : events_) event_free(e);
        if (base_) event_base_free(base_);
    }

    int run(std::optional<Detach>& detach);

    // ControlServer::Handler
    void reload(ControlServer::Reply reply) override { reply(do_reload()); }
    std::string status() override;
    void upgrade(ControlServer::Reply reply) override;
    void stop(ControlServer::Reply reply) override {
        reply("{\"ok\":true,\"message\":\"stopping\",\"pid\":" + std::to_string(getpid()) + "}");
        begin_shutdown("stop requested on the control socket");
    }
    std::string command(std::string_view verb, std::string_view args) override;

private:
    std::string do_reload();
    void forget_unconfigured_credentials();
    void start_metrics();  // the collector (the listener is bound before root is dropped)
    void begin_shutdown(const char* why);
    void upgrade_done(Result<pid_t> result);
    static void on_signal(evutil_socket_t sig, short, void* arg);
    static void on_drain_tick(evutil_socket_t, short, void* arg);
    static void on_pool_tick(evutil_socket_t, short, void* arg);

    const CliOptions& opts_;
    std::shared_ptr<const config::Config> initial_;
    // The `ssl` listeners' context the daemon started with (null: none).
    std::shared_ptr<const ListenerTls> initial_tls_;
    std::optional<PidFile> pidfile_;
    std::string pid_path_;
    // Sockets passed at start (socket activation, or the daemon this one replaces).
    std::vector<InheritedSocket> inherited_;
    // Binary upgrade: this executable's path (read at start), the successor
    // being started and who waits for the outcome; handed_over_ once it serves.
    std::string exe_;
    std::unique_ptr<Successor> successor_;
    std::vector<ControlServer::Reply> upgrade_waiters_;
    bool handed_over_ = false;
    int ready_fd_ = -1;  // started by an upgrade: tells the old daemon we serve
    event_base* base_ = nullptr;
    Runtime runtime_;
    std::unique_ptr<Server> server_;
    std::unique_ptr<ControlServer> control_;
    // Consumers of finished requests (Runtime::hook), registered before the workers start.
    Accounting accounting_{runtime_};
    LedgerKeeper ledger_keeper_{runtime_};
    // OAuth2 credentials' access tokens, refreshed on this loop.
    std::unique_ptr<TokenKeeper> tokens_;
    // Messages posted to the main loop from other threads.
    std::unique_ptr<Mailbox> mailbox_;
    // [metrics]: per-worker counters (a completion-hook consumer), the
    // scrape's collection, the listener. Only when metrics.listen is set.
    std::unique_ptr<metrics::Consumer> metrics_;
    std::unique_ptr<metrics::Collector> collector_;
    std::unique_ptr<metrics::MetricsServer> metrics_server_;
    // [admin]: the admin API, on a thread of its own.
    std::unique_ptr<admin::AdminServer> admin_;
    // WatchdogSec=: WATCHDOG=1 while every worker loop answers.
    std::unique_ptr<Watchdog> watchdog_;
    std::vector<event*> events_;
    event* drain_timer_ = nullptr;
    uint64_t generation_ = 0;
    int64_t started_at_ = 0;
    int64_t drain_deadline_ms_ = 0;
    int64_t drain_heads_ms_ = 0;  // when connections without a whole head are closed (0: done)
    bool stopping_ = false;
    std::string pool_status_;  // the last STATUS= sent for the pool
};

int Daemon::run(std::optional<Detach>& detach) {
    auto fail = [&](int code, const std::string& message) {
        log::error("{}", message);
        if (detach) detach->fail(code, message);
        return code;
    };
    const config::Config& cfg = *initial_;
    started_at_ = static_cast<int64_t>(time(nullptr));

    exe_ = own_executable();
    ready_fd_ = take_ready_fd();
    pid_path_ = opts_.pid_file.empty() ? cfg.server.pid_file : opts_.pid_file;
    if (!pid_path_.empty()) {
        auto pf = PidFile::acquire(pid_path_);
        // Another instance holding the lock may go away (75, retried);
        // a PID file that cannot be created will not (73).
        if (!pf) return fail(pf.error().code == EX_CANTCREAT ? EX_CANTCREAT : EX_TEMPFAIL, pf.error().message);
        pidfile_.emplace(std::move(pf.value()));
    }
    // Socket activation: what systemd (or the daemon this one replaces) bound.
    auto inherited = inherited_sockets();
    if (!inherited) return fail(inherited.error().code, inherited.error().message);
    inherited_ = std::move(inherited.value());

    // The listeners first: they may need root (a port below 1024), which
    // is dropped right after, before any file is written.
    for (const auto& m : cfg.metrics.listen)
        for (const auto& l : cfg.server.listen)
            if (metrics::same_listen_address(m, l))
                return fail(EX_CONFIG, "metrics.listen " + m.text + " is also a server.listen address");
    server_ = std::make_unique<Server>(runtime_);
    // A port the daemon may not bind (below 1024 without the capability)
    // stays refused (77); one in use may be freed (69).
    if (Status s = server_->bind(cfg.server.listen, inherited_); !s)
        return fail(s.error().code == EX_NOPERM || s.error().code == EX_CONFIG ? s.error().code : EX_UNAVAILABLE,
                    s.error().message);
    base_ = event_base_new();
    if (!base_) return fail(EX_OSERR, "cannot create the main event loop");
    // The metrics listener too (its scrapes reach the collector, made once
    // the workers run, from the loop, which runs after both).
    if (!cfg.metrics.listen.empty()) {
        auto ms = metrics::MetricsServer::listen(
            base_, cfg.metrics.listen, [this](metrics::MetricsServer::Respond r) { collector_->collect(std::move(r)); },
            &inherited_);
        if (!ms) return fail(ms.error().code == EX_NOPERM ? EX_NOPERM : EX_UNAVAILABLE, ms.error().message);
        metrics_server_ = std::move(ms.value());
    }
    if (!cfg.admin.listen.empty()) {
        auto as = admin::AdminServer::bind(cfg, &inherited_);
        if (!as) return fail(as.error().code == EX_NOPERM ? EX_NOPERM : EX_UNAVAILABLE, as.error().message);
        admin_ = std::move(as.value());
        runtime_.hook().add(admin_->consumer());  // GET /api/events; before the workers start
    }
    if (geteuid() == 0 && !cfg.server.user.empty()) {
        auto who = look_up(cfg.server.user, cfg.server.group);
        if (!who) return fail(who.error().code, who.error().message);
        if (Status s = become(who.value()); !s) return fail(s.error().code, s.error().message);
        log::notice("running as {}:{} (root dropped once the listeners were bound)", who->user, who->group);
    } else if (geteuid() == 0) {
        log::warning("running as root: set [server] user (or run it under its systemd unit) to drop it");
    }

    mailbox_ = std::make_unique<Mailbox>(base_);
    if (!mailbox_->ok()) return fail(EX_OSERR, "cannot create the main loop's mailbox");
    generation_ = 1;
    ledger_keeper_.load(cfg);  // before the first snapshot takes its credentials' states
    runtime_.publish(build_snapshot(initial_, generation_, runtime_.ledger(), runtime_.clients(), initial_tls_));
    if (initial_tls_) log::notice("TLS certificate: {}", initial_tls_->summary());
    forget_unconfigured_credentials();  // the state file may name keys no longer configured
    ledger_keeper_.start(base_);
    tokens_ = std::make_unique<TokenKeeper>(runtime_);
    tokens_->start(base_, mailbox_.get());
    tokens_->configure(cfg);  // before the workers can ask for a token


    unsigned workers = cfg.server.workers;
    if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency());
    accounting_.start(cfg, workers);
    if (!cfg.metrics.listen.empty()) {
        // Counts from the first request on: registered before the workers start.
        metrics_ = std::make_unique<metrics::Consumer>(workers);
        runtime_.hook().add(metrics_.get());
    }
    if (Status s = server_->start_workers(workers); !s) return fail(EX_OSERR, s.error().message);
    if (metrics_) start_metrics();

    int passed_control = -1;
    for (auto& s : inherited_)
        if (!s.used && s.label == "control") {
            s.used = true;
            passed_control = s.fd;
        }
    // What was handed over and nothing here serves (a line removed meanwhile).
    for (const auto& s : inherited_)
        if (!s.used) {
            log::warning("closing {}, handed over but no longer configured", s.name);
            close(s.fd);
        }
    auto ctl = ControlServer::listen(base_, cfg.server.control_socket, *this, passed_control);
    if (!ctl) return fail(EX_UNAVAILABLE, ctl.error().message);
    control_ = std::move(ctl.value());
    if (admin_) {
        admin::AdminServer::Backend backend;
        backend.status = [this] { return status(); };
        backend.reload = [this](std::function<void(std::string)> reply) { reply(do_reload()); };
        backend.command = [this](std::string verb, std::string args) { return command(verb, args); };
        backend.clients = [this] {
            auto snap = runtime_.snapshot();
            return clients::status_json(*snap->config, snap->clients, static_cast<int64_t>(time(nullptr)));
        };
        backend.config = [this] {
            auto snap = runtime_.snapshot();
            return std::make_pair(config::dump(*snap->config), snap->config->path);
        };
        if (Status s = admin_->start(*mailbox_, std::move(backend), runtime_.snapshot()->tls); !s)
            return fail(EX_OSERR, s.error().message);
    }

    // libevent's signal events: the handler only wakes this loop. Before
    // they are added (and after they are freed) SIGHUP, SIGUSR1 and SIGUSR2
    // are ignored (ignore_stray_signals), so none of those can kill the
    // daemon; SIGTERM and SIGINT keep their default until then (stop means
    // stop, even during start-up).
    for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) {
        event* e = evsignal_new(base_, sig, &Daemon::on_signal, this);
        if (e == nullptr || event_add(e, nullptr) != 0) {
            if (e) event_free(e);
            return fail(EX_OSERR, std::string("cannot watch signal ") + strsignal(sig));
        }
        events_.push_back(e);
    }

    std::string where = join(server_->bound(), ", ");
    log::notice("antigravityd {} ready: generation 1 from {}, listening on {}, {} worker(s), auth {}", AGD_VERSION,
                cfg.path, where, workers, config::to_string(cfg.auth.effective));
    if (metrics_server_) log::notice("metrics on {}", join(metrics_server_->bound(), ", "));
    if (admin_) log::notice("admin API on {}", join(admin_->bound(), ", "));
    // Started by an upgrade: the old daemon, still the service's main
    // process, names this one MAINPID once told (the service is ready
    // already; a notification from here would be refused until then).
    if (ready_fd_ < 0) notify_ready("serving configuration generation 1 on " + where);
    if (detach) detach->ready();
    report_ready(ready_fd_);
    ready_fd_ = -1;
    if (auto every = Watchdog::interval(); every.count() > 0) {
        std::vector<Mailbox*> workers;
        for (unsigned i = 0; i < server_->workers(); ++i) {
            Worker* w = server_->worker(i);
            workers.push_back(w ? &w->mailbox() : nullptr);
        }
        watchdog_ = std::make_unique<Watchdog>(base_, std::move(workers), every);
        if (!watchdog_->start()) return fail(EX_OSERR, "cannot start the watchdog timer");
    }
    // The pool's summary in the service manager's STATUS=, kept current.
    if (event* e = event_new(base_, -1, EV_PERSIST, &Daemon::on_pool_tick, this)) {
        events_.push_back(e);
        timeval every{2, 0};
        event_add(e, &every);
    }

    event_base_dispatch(base_);

    log::notice("antigravityd stopping: {} request(s) still in flight",
                runtime_.counters().in_flight.load(std::memory_order_relaxed));
    if (admin_) admin_->stop();  // its thread; the server itself (a hook consumer) outlives the workers
    metrics_server_.reset();
    collector_.reset();
    control_.reset();
    server_->stop_workers();
    server_.reset();
    admin_.reset();
    tokens_->stop();
    accounting_.stop();
    ledger_keeper_.stop();  // (after a hand-over: the successor's file, not written)
    log::notice("antigravityd stopped");
    return EX_OK;
}

void Daemon::forget_unconfigured_credentials() {
    std::vector<std::string> ids;
    for (const auto& p : runtime_.snapshot()->router->providers())
        for (const auto& c : p.creds) ids.push_back(credentials::Ledger::id(p.cfg->name, c.fingerprint));
    runtime_.ledger().retain_only(ids);
}

void Daemon::start_metrics() {
    std::vector<Mailbox*> workers;
    for (unsigned i = 0; i < server_->workers(); ++i) {
        Worker* w = server_->worker(i);
        workers.push_back(w ? &w->mailbox() : nullptr);
    }
    collector_ = std::make_unique<metrics::Collector>(base_, *mailbox_, *metrics_, std::move(workers),
                                                      [this](metrics::Gauges& g) {
                                                          metrics::read_runtime_gauges(runtime_, g);
                                                          g.log_dropped = accounting_.dropped();
                                                      });
}

std::string Daemon::do_reload() {
    const std::string& path = opts_.config_path;
    notify_reloading("reloading " + path);
    log::notice("reloading configuration from {}", path);
    config::LoadResult lr = config::load_file(path);
    auto live = runtime_.snapshot();
    // The `ssl` listeners (bound at start) get the new certificate; one
    // that cannot be used fails the reload like any other error.
    std::shared_ptr<const ListenerTls> tls = live->tls;
    if (live->tls && lr.ok()) {
        if (config::has_tls_listener(*lr.config))
            tls = load_listener_tls(lr);
        else
            lr.warnings.push_back({path, 0, "server.listen",
                                   "no address is ssl any more: the running ssl listeners keep their certificate "
                                   "until the next restart"});
    }
    for (const auto& w : lr.warnings) log::warning("{}", w.str());
    if (!lr.ok()) {
        std::string errors = "[";
        for (size_t i = 0; i < lr.errors.size(); ++i) {
            log::error("{}", lr.errors[i].str());
            if (i) errors += ',';
            errors += json_string(lr.errors[i].str());
        }
        errors += ']';
        std::string msg = "reload failed with " + std::to_string(lr.errors.size()) +
                          " error(s); still running the previous configuration (generation " +
                          std::to_string(live->generation) + ")";
        log::error("{}", msg);
        notify_ready(msg);
        pool_status_.clear();  // the next tick says the pool's state again
        return "{\"ok\":false,\"generation\":" + std::to_string(live->generation) + ",\"errors\":" + errors +
               ",\"message\":" + json_string(msg) + "}";
    }
    const config::ServerConfig& old_s = live->config->server;
    const config::ServerConfig& new_s = lr.config->server;
    if (listen_text(old_s.listen) != listen_text(new_s.listen))
        log::warning("server.listen changed: the new addresses take effect at the next restart");
    if (listen_text(live->config->metrics.listen) != listen_text(lr.config->metrics.listen))
        log::warning("metrics.listen changed: takes effect at the next restart");
    if (listen_text(live->config->admin.listen) != listen_text(lr.config->admin.listen))
        log::warning("admin.listen changed: takes effect at the next restart");
    if (old_s.workers != new_s.workers) log::warning("server.workers changed: takes effect at the next restart");
    if (old_s.control_socket != new_s.control_socket || old_s.pid_file != new_s.pid_file)
        log::warning("server.control_socket / server.pid_file changed: take effect at the next restart");

    std::vector<std::string> new_clients;
    for (const auto& c : lr.config->clients)
        if (!runtime_.clients().contains(c.name)) new_clients.push_back(c.name);
    uint64_t gen = ++generation_;
    tokens_->configure(*lr.config);  // before the snapshot: its new credentials can ask for tokens at once
    runtime_.publish(build_snapshot(lr.config, gen, runtime_.ledger(), runtime_.clients(), tls));
    if (tls && tls != live->tls) log::notice("TLS certificate: {}", tls->summary());
    accounting_.reload(*live->config, *lr.config, new_clients);
    forget_unconfigured_credentials();
    runtime_.ledger().reloaded();
    ledger_keeper_.reconfigure(*lr.config);
    if (admin_) admin_->reconfigure(*lr.config, tls);
    log::set_level(to_log_level(new_s.log_level));
    std::string msg = "configuration generation " + std::to_string(gen) + " is live";
    log::notice("{} ({} provider(s))", msg, lr.config->providers.size());
    notify_ready("serving configuration generation " + std::to_string(gen));
    pool_status_.clear();
    return "{\"ok\":true,\"generation\":" + std::to_string(gen) + ",\"message\":" + json_string(msg) + "}";
}

std::string Daemon::command(std::string_view verb, std::string_view args) {
    auto snap = runtime_.snapshot();
    if (verb == "credentials")
        return credentials_command(*snap->router, args, credentials::steady_ms(), credentials::wall_ms());
    if (verb == "route")
        return route_command(*snap->config, *snap->router, args, credentials::steady_ms(), credentials::wall_ms());
    return {};
}

void Daemon::on_pool_tick(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    if (self->stopping_) return;
    auto snap = self->runtime_.snapshot();
    std::string line = "generation " + std::to_string(snap->generation) + ": " +
                       pool_summary(*snap->router, credentials::steady_ms());
    if (line == self->pool_status_) return;
    self->pool_status_ = std::move(line);
    notify_status(self->pool_status_);
}

std::string Daemon::status() {
    auto snap = runtime_.snapshot();
    const config::Config& cfg = *snap->config;
    int64_t now = static_cast<int64_t>(time(nullptr));
    int64_t now_ms = credentials::steady_ms();
    int64_t wall_ms = credentials::wall_ms();
    std::string b = "{\"version\":\"" AGD_VERSION "\",\"pid\":" + std::to_string(getpid());
    b += ",\"started_at\":" + json_string(iso8601(started_at_));
    b += ",\"uptime_s\":" + std::to_string(now - started_at_);
    b += ",\"now\":" + std::to_string(wall_ms);
    b += ",\"generation\":" + std::to_string(snap->generation);
    b += ",\"config_path\":" + json_string(opts_.config_path);
    b += ",\"config_loaded_at\":" + json_string(iso8601(snap->loaded_at_unix));
    b += ",\"workers\":" + std::to_string(server_ ? server_->workers() : 0);
    b += ",\"listeners\":[";
    if (server_) {
        const auto& bound = server_->bound();
        for (size_t i = 0; i < bound.size(); ++i) {
            if (i) b += ',';
            b += json_string(bound[i]);
        }
    }
    b += "],\"auth_mode\":" + json_string(config::to_string(cfg.auth.effective));
    b += ",\"stopping\":";
    b += stopping_ ? "true" : "false";
    b += ",\"requests_served\":" + std::to_string(runtime_.counters().requests_served.load());
    b += ",\"in_flight\":" + std::to_string(runtime_.counters().unanswered.load());
    b += ",\"credentials\":" + json_string(pool_summary(*snap->router, now_ms));
    b += ",\"providers\":[";
    const auto& providers = snap->router->providers();
    for (size_t i = 0; i < providers.size(); ++i) {
        const auto& p = providers[i];
        if (i) b += ',';
        b += "{\"name\":" + json_string(p.cfg->name);
        b += ",\"type\":" + json_string(config::to_string(p.cfg->type));
        if (p.cfg->type == config::ProviderType::OpenAI) b += ",\"api\":" + json_string(config::to_string(p.cfg->api));
        // A URL may carry credentials (http://user:password@host): never shown.
        b += ",\"base_url\":" + json_string(redact_url(p.cfg->base_url));
        if (!p.cfg->proxy.empty()) b += ",\"proxy\":" + json_string(redact_url(p.cfg->proxy));
        b += ",\"models\":[";
        for (size_t m = 0; m < p.cfg->models.size(); ++m) {
            if (m) b += ',';
            const auto& mp = p.cfg->models[m];
            b += json_string(mp.upstream_name.empty() ? mp.pattern : mp.pattern + "=" + mp.upstream_name);
        }
        b += "],\"credentials\":[";
        for (size_t c = 0; c < p.creds.size(); ++c) {
            const auto& cr = p.creds[c];
            const auto& h = *cr.state;
            if (c) b += ',';
            b += "{\"fingerprint\":" + json_string(cr.fingerprint);
            b += credentials::state_json(h, now_ms, wall_ms);
            b += "}";
        }
        b += "]}";
    }
    b += "],\"clients\":" + clients::status_json(cfg, snap->clients, now);
    b += ",\"store\":" + accounting_.status_json();
    b += "}";
    return b;
}

void Daemon::begin_shutdown(const char* why) {
    if (stopping_) return;
    stopping_ = true;
    runtime_.draining.store(true);
    const config::Config& cfg = *runtime_.snapshot()->config;
    int64_t in_flight = runtime_.counters().in_flight.load();
    log::notice("{}: no longer accepting; draining {} request(s) for up to {} ms", why, in_flight,
                cfg.server.shutdown_timeout.count());
    // After a hand-over the service goes on in the successor: no STOPPING=1,
    // and the unix sockets' paths are its now.
    if (!handed_over_) notify_stopping("stopping: draining " + std::to_string(in_flight) + " request(s)");
    if (server_) server_->stop_accepting(handed_over_);
    drain_deadline_ms_ = credentials::steady_ms() + cfg.server.shutdown_timeout.count();
    // Kept-alive connections waiting for a next request close now (their
    // clients open a new one, to the successor after an upgrade); a
    // connection accepted just before the listeners closed gets a moment
    // for its request to arrive, then closes if it has not.
    if (server_) server_->close_waiting(false);
    drain_heads_ms_ = credentials::steady_ms() + kDrainHeadGraceMs;
    drain_timer_ = event_new(base_, -1, EV_PERSIST, &Daemon::on_drain_tick, this);
    events_.push_back(drain_timer_);
    timeval tick{0, 20'000};
    event_add(drain_timer_, &tick);
    on_drain_tick(-1, 0, this);
}

// `antigravityd upgrade` and SIGUSR2 (daemon/upgrade.h).
void Daemon::upgrade(ControlServer::Reply reply) {
    auto refuse = [&](const std::string& why) {
        log::error("upgrade refused: {}", why);
        reply("{\"ok\":false,\"message\":" + json_string("upgrade refused: " + why) + "}");
    };
    if (stopping_) return refuse("the daemon is stopping");
    if (successor_ && successor_->pending()) {
        upgrade_waiters_.push_back(std::move(reply));  // one upgrade at a time: this one waits for it
        return;
    }
    if (exe_.empty()) return refuse("the path of the running executable is unknown");
    if (access(exe_.c_str(), X_OK) != 0) return refuse(exe_ + ": " + std::strerror(errno));
    std::vector<PassedSocket> sockets;
    for (const auto& h : server_->handover()) sockets.push_back({h.fd, h.name});
    if (metrics_server_)
        for (const auto& [fd, name] : metrics_server_->handover()) sockets.push_back({fd, name});
    if (admin_)
        for (const auto& [fd, name] : admin_->handover()) sockets.push_back({fd, name});
    sockets.push_back({control_->listen_fd(), "control"});
    std::vector<std::string> args{"run", "-c", opts_.config_path};
    if (!opts_.pid_file.empty()) {
        args.push_back("--pid-file");
        args.push_back(opts_.pid_file);
    }
    ledger_keeper_.flush();  // the successor starts from the credentials' current state
    if (pidfile_) pidfile_->hand_over();  // it takes the lock (the file stays)
    upgrade_waiters_.push_back(std::move(reply));
    successor_ = std::make_unique<Successor>(base_);
    Status st = successor_->start(exe_, args, sockets, kUpgradeDeadline,
                                  [this](Result<pid_t> r) { upgrade_done(std::move(r)); });
    if (!st) return;  // upgrade_done has answered
    log::notice("upgrade: started {} as PID {}; serving until it is ready", exe_, successor_->pid());
}

void Daemon::upgrade_done(Result<pid_t> result) {
    std::string answer;
    if (!result) {
        std::string msg = "upgrade failed: " + exe_ + ": " + result.error().message + "; PID " +
                          std::to_string(getpid()) + " goes on serving";
        log::error("{}", msg);
        if (!pid_path_.empty()) {
            auto pf = PidFile::acquire(pid_path_);
            if (pf) pidfile_.emplace(std::move(pf.value()));
            else log::error("upgrade: cannot take the PID file back: {}", pf.error().message);
        }
        answer = "{\"ok\":false,\"message\":" + json_string(msg) + "}";
    } else {
        pid_t next = result.value();
        std::string msg = "upgraded: PID " + std::to_string(next) + " serves; PID " + std::to_string(getpid()) +
                          " drains its requests and exits";
        log::notice("{}", msg);
        answer = "{\"ok\":true,\"pid\":" + std::to_string(next) + ",\"old_pid\":" + std::to_string(getpid()) +
                 ",\"message\":" + json_string(msg) + "}";
        handed_over_ = true;
        notify_mainpid(next);  // the service manager follows the successor from now on
        notify_quiet();
        pidfile_.reset();  // handed over already: nothing to unlink
        ledger_keeper_.hand_over();
        control_->hand_over();
        if (metrics_server_) metrics_server_->hand_over();
        if (admin_) admin_->hand_over();
    }
    auto waiters = std::move(upgrade_waiters_);
    upgrade_waiters_.clear();
    for (auto& w : waiters) w(answer);
    if (handed_over_) begin_shutdown("upgraded");
}

void Daemon::on_drain_tick(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    int64_t left = self->runtime_.counters().in_flight.load();
    if (left == 0 && self->runtime_.counters().connections.load() == 0) {
        event_base_loopexit(self->base_, nullptr);
        return;
    }
    if (self->drain_heads_ms_ != 0 && credentials::steady_ms() >= self->drain_heads_ms_) {
        self->drain_heads_ms_ = 0;
        if (self->server_) self->server_->close_waiting(true);
    }
    if (credentials::steady_ms() >= self->drain_deadline_ms_) {
        log::warning("shutdown_timeout reached with {} request(s) still in flight; closing them", left);
        event_base_loopexit(self->base_, nullptr);
    }
}

void Daemon::on_signal(evutil_socket_t sig, short, void* arg) {
    auto* self = static_cast<Daemon*>(arg);
    switch (sig) {
        case SIGHUP:
            if (!self->stopping_) self->do_reload();
            return;
        case SIGUSR1:
            // logrotate's habit: reopen the log files (the new file gets this line).
            log::notice("SIGUSR1 received: {}", log::reopen());
            return;
        case SIGUSR2:
            log::notice("SIGUSR2 received: binary upgrade");
            self->upgrade([](std::string) {});  // the outcome is logged
            return;
        default:
            self->begin_shutdown(sig == SIGTERM ? "SIGTERM received" : "SIGINT received");
    }
}

// Signals whose default action would kill the daemon and that it may get
// without meaning it: SIGPIPE (a peer that went away), SIGHUP/SIGUSR1/
// SIGUSR2 (a reload right after a start, logrotate's SIGUSR1; handled once
// the loop runs, ignored before and after: start-up reads the file anyway,
// and there is no log file to reopen yet), SIGALRM (a stray `kill -ALRM`; nothing here
// uses alarm(2), and libcurl runs with CURLOPT_NOSIGNAL), SIGXFSZ (a log
// file at RLIMIT_FSIZE: the write fails with EFBIG instead of a core dump).
// SIGQUIT keeps its default (a core dump on purpose). SIGPROF and SIGVTALRM
// are left to profilers, which install their handlers before main().
void ignore_stray_signals() {
    for (int sig : {SIGPIPE, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGXFSZ}) {
        struct sigaction sa {};
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, nullptr);
    }
}

}  // namespace

int run(const CliOptions& cli) {
    ignore_stray_signals();
    // Reloads re-read the file after --daemon changed directory to /.
    CliOptions opts = cli;
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) {
        for (std::string* p : {&opts.config_path, &opts.pid_file})
            if (!p->empty() && (*p)[0] != '/') *p = std::string(cwd) + "/" + *p;
    }
    config::LoadResult lr = config::load_file(opts.config_path);
    // Read now, as whoever started the daemon (root may be dropped later).
    std::shared_ptr<const ListenerTls> tls = load_listener_tls(lr);
    for (const auto& w : lr.warnings) log::warning("{}", w.str());
    if (!lr.ok()) {
        for (const auto& e : lr.errors) log::error("{}", e.str());
        log::error("{}: configuration has {} error(s); not starting", opts.config_path, lr.errors.size());
        return EX_CONFIG;
    }
    log::set_level(to_log_level(lr.config->server.log_level));

    std::optional<Detach> detach;
    if (opts.daemonize) {
        auto d = Detach::start();
        if (!d) {
            log::error("cannot detach: {}", d.error().message);
            return EX_OSERR;
        }
        detach.emplace(std::move(d.value()));
    }
    log::start();
    evthread_use_pthreads();  // the main thread stops the workers' loops
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int code;
    {
        Daemon daemon(opts, lr.config, std::move(tls));
        code = daemon.run(detach);
    }
    curl_global_cleanup();
    log::stop();
    return code;
}

}  // namespace agd::daemon
