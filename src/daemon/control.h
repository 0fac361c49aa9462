// The control socket: a unix stream socket through which `antigravityd
// reload|status|stop` talk to the running daemon.
//
// Protocol: the client sends one command line ("reload\n", "status\n" or
// "stop\n", at most kMaxCommandLine bytes before the newline); the server
// answers one JSON object on one line ("{...}\n") and closes the connection.
// For "stop" the server answers at once but keeps the connection open: the
// client then waits for EOF, which comes when the daemon process exits.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"

struct event_base;
struct event;

namespace agd::daemon {

class ControlServer {
public:
    static constexpr std::size_t kMaxCommandLine = 256;     // bytes before '\n'
    static constexpr std::size_t kMaxConnections = 128;     // beyond: refused with a JSON error
    static constexpr int kCommandTimeoutSeconds = 10;       // to send the command line

    // Answers one command with a JSON object (one line; a trailing '\n' is
    // added). Call it once, on the main thread (the thread running the
    // event_base), now or later; later calls are ignored, and so is a call
    // after the client went away or the server was destroyed.
    using Reply = std::function<void(std::string json)>;

    // Called on the main thread, from inside the event loop.
    struct Handler {
        virtual ~Handler() = default;
        virtual void reload(Reply reply) = 0;
        virtual std::string status() = 0;    // a JSON object
        virtual void stop(Reply reply) = 0;  // the connection stays open until the process exits
    };

    // Creates the socket at `path` with mode 0600 (creating a missing parent
    // directory 0755). A leftover socket nobody answers on is replaced; one
    // that answers is "in use by a running antigravityd" (EX_UNAVAILABLE).
    // Other errors: EX_CANTCREAT, EX_USAGE for an unusable path. Changes the
    // process umask for the duration of bind(2): call it at start-up.
    // `handler` must outlive the server.
    static Result<std::unique_ptr<ControlServer>> listen(struct event_base* base, const std::string& path,
                                                         Handler& handler);

    // Closes the listener and every connection except those that sent
    // "stop": their reply is flushed and their socket is left open, to be
    // closed by the kernel when the process exits. Unlinks the path (if it
    // is still this server's socket).
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    const std::string& path() const { return path_; }
    std::size_t connection_count() const { return conns_.size(); }

private:
    struct Connection;

    ControlServer(struct event_base* base, std::string path, Handler& handler, int fd, dev_t dev, ino_t ino);
    static void on_accept(int fd, short what, void* arg);
    static void on_accept_retry(int fd, short what, void* arg);
    void accept_all();
    void dispatch(const std::shared_ptr<Connection>& conn, std::string_view command);
    void remove(Connection* conn);

    struct event_base* base_;
    std::string path_;
    Handler& handler_;
    int listen_fd_;
    dev_t dev_;
    ino_t ino_;
    struct event* listen_ev_ = nullptr;
    struct event* retry_ev_ = nullptr;  // re-enables accepting after EMFILE
    std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;
};

// Client side (blocking; for the CLI). Error codes are sysexits values the
// CLI can exit with: EX_UNAVAILABLE (cannot connect), EX_NOPERM (permission
// denied), EX_TEMPFAIL (timed out), EX_PROTOCOL (no or malformed answer),
// EX_IOERR (other I/O errors). `config_path`, when given, is named in the
// hint of a connection error ("check server.control_socket in <config>").
class ControlClient {
public:
    static Result<ControlClient> connect(const std::string& path, std::chrono::milliseconds timeout,
                                         std::string_view config_path = {});
    ControlClient(ControlClient&& other) noexcept;
    ControlClient& operator=(ControlClient&& other) noexcept;
    ControlClient(const ControlClient&) = delete;
    ControlClient& operator=(const ControlClient&) = delete;
    ~ControlClient();

    // Sends "<command>\n" and returns the answer line without its '\n'.
    Result<std::string> request(std::string_view command, std::chrono::milliseconds timeout);
    // After "stop": waits until the server closes the connection (the daemon
    // exited). EX_TEMPFAIL if it is still open after `timeout`.
    Status wait_closed(std::chrono::milliseconds timeout);

private:
    ControlClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

    int fd_ = -1;
    std::string path_;
    std::string buffered_;  // bytes read past the answer line
};

// connect + request + close.
Result<std::string> control_call(const std::string& path, std::string_view command,
                                 std::chrono::milliseconds timeout, std::string_view config_path = {});

}  // namespace agd::daemon
