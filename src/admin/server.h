// AdminServer: the admin API on [admin] listen, on a thread of its own
// (password checks are slow on purpose, and later the request store is
// read here: never on a request worker, never on the main loop).
//
// Who gets in: a browser logs in (POST /api/login) and gets a session
// cookie (HttpOnly, SameSite=Strict), a script sends the token of
// token_file as "Authorization: Bearer". Every request's Host must name
// the listener or an [admin] host (DNS rebinding); a change made with the
// cookie must come with the console's own Origin (or its CSRF token); no
// CORS header is ever sent. Five failed logins lock an address out for
// fifteen minutes. The viewer role reads, the admin role also changes;
// every change is logged with role and address (admin/guard.h).
//
// Endpoints so far: POST /api/login, POST /api/logout, GET /api/whoami,
// GET /api/status, POST /api/reload, GET /api/credentials,
// POST /api/credentials/PROVIDER/FINGERPRINT/reset|disable|enable,
// GET /api/requests, GET /api/requests/ID, GET /api/usage, GET /api/stats
// (read from the request store here, on the admin thread), GET /api/config,
// POST /api/config/check, GET /api/clients, GET /api/events (Server-Sent
// Events: each finished request, live) (docs/ADMIN-API.md).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "record/hook.h"
#include "server/socket_activation.h"

namespace agd {
class ListenerTls;
class Mailbox;
}

namespace agd::admin {

class AdminServer {
public:
    // What the main loop does for the admin plane (called there).
    struct Backend {
        std::function<std::string()> status;                                 // status --json's object
        std::function<void(std::function<void(std::string)> reply)> reload;  // the control socket's answer
        // A control-socket command ("credentials", "reset openai/1a2b3c4d"): its JSON answer.
        std::function<std::string(std::string verb, std::string args)> command;
        // The live configuration as `config --dump` prints it (keys as fingerprints), and its file.
        std::function<std::pair<std::string, std::string>()> config;
        // The named clients: limits and usage (status's "clients" array).
        std::function<std::string()> clients;
    };

    // Binds every [admin] listen address (or takes the socket a binary
    // upgrade handed over for it); nothing is served before start().
    static Result<std::unique_ptr<AdminServer>> bind(const config::Config& cfg,
                                                     std::vector<InheritedSocket>* inherited);
    ~AdminServer();  // stops the thread
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    // Starts the thread; `main` is the main loop's mailbox, where the
    // backend's functions run; `tls`, the context of [tls] (for `ssl`
    // listeners; null when none is).
    Status start(Mailbox& main, Backend backend, std::shared_ptr<const ListenerTls> tls);
    // A reload: new hashes, token, names and session length (the listeners
    // stay; sessions stay unless the password hashes changed).
    // (And [log] database: where the request log is read.)
    // `tls`: the reload's context for `ssl` listeners (null: keep the one in use).
    void reconfigure(const config::Config& cfg, std::shared_ptr<const ListenerTls> tls);
    // The thread ends; connections close.
    void stop();

    const std::vector<std::string>& bound() const;
    // The live feed's consumer of finished requests (GET /api/events), to
    // register in Runtime::hook() before the workers start; it lives as
    // long as this server, which must outlive the workers.
    record::Consumer* consumer() const;
    // The listening sockets and their names for a successor (binary upgrade).
    std::vector<std::pair<int, std::string>> handover() const;
    // Stops accepting: the successor serves the addresses now.
    void hand_over();

    struct Impl;

private:
    explicit AdminServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace agd::admin
