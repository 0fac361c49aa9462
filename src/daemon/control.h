// The control socket: a unix stream socket through which `antigravityd
// reload|status|stop` talk to the running daemon.
//
// Protocol: the client sends one command line ("reload\n", "status\n",
// "stop\n", or another verb and its arguments, "credentials reset p/1a2b\n",
// handed to Handler::command; at most kMaxCommandLine bytes before the
// newline); the server
// answers one JSON object on one line ("{...}\n") and closes the connection.
// For "stop" the server answers at once but keeps the connection open: the
// client then waits for EOF, which comes when the daemon process exits.
//
// A refusal is {"ok":false,"error":CODE,"message":TEXT}, CODE one of
// "busy" (every connection slot holds a command in progress: try again),
// "permission" (the peer is neither root nor the daemon's user),
// "unknown_command" and "too_long".
//
// No idle client can lock the administrator out: the command line must
// arrive within kCommandTimeoutSeconds of connecting (the CLI sends it with
// the connect), it is read as soon as the connection is accepted, and when
// all kMaxConnections slots are taken the oldest connection that has not
// sent a complete command yet is closed to make room. Only connections busy
// with a command (a "stop" waiting for the exit, an answer the client does
// not read, for at most kReplyTimeoutSeconds) can fill the table; a newcomer
// is then refused with "busy". Peers are checked with SO_PEERCRED on top of
// the socket's 0600 mode: root and the daemon's own user only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/result.h"

struct stat;

struct event_base;
struct event;

namespace agd::daemon {

class ControlServer {
public:
    static constexpr std::size_t kMaxCommandLine = 4096;     // bytes before '\n'
    static constexpr std::size_t kMaxConnections = 128;     // beyond: the oldest idle one is closed
    static constexpr int kCommandTimeoutSeconds = 2;        // to send the command line after connecting
    static constexpr int kReplyTimeoutSeconds = 10;         // for the client to take its answer

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
        // A binary upgrade: answered once the successor serves or failed.
        virtual void upgrade(Reply reply) { reply("{\"ok\":false,\"message\":\"upgrade is not supported here\"}"); }
        // Any other verb: `args` is the rest of the line after one space
        // (maybe empty). A JSON object, or "" when the verb is unknown.
        virtual std::string command(std::string_view verb, std::string_view args) = 0;
    };

    // Creates the socket at `path` with mode 0600 (creating a missing parent
    // directory 0755). A leftover socket nobody answers on is replaced; one
    // that answers is "in use by a running antigravityd" (EX_UNAVAILABLE).
    // Other errors: EX_CANTCREAT, EX_USAGE for an unusable path. Changes the
    // process umask for the duration of bind(2): call it at start-up.
    // `handler` must outlive the server.
    // `inherited` >= 0: the listening socket a binary upgrade handed over,
    // already bound at `path` (nothing is probed or bound).
    static Result<std::unique_ptr<ControlServer>> listen(struct event_base* base, const std::string& path,
                                                         Handler& handler, int inherited = -1);

    // The listening socket, for a successor (binary upgrade).
    int listen_fd() const { return listen_fd_; }
    // Stops accepting; the path now belongs to the successor (never
    // unlinked here). Open connections go on.
    void hand_over();

    // Closes the listener and every connection except those that sent
    // "stop": their reply is flushed and their socket is left open, to be
    // closed by the kernel when the process exits. Unlinks the path (if it
    // is still this server's socket).
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    const std::string& path() const { return path_; }
    std::size_t connection_count() const { return conns_.size(); }
    // Idle connections closed so far to make room for new ones.
    std::uint64_t evicted_count() const { return evicted_; }

    // The SO_PEERCRED rule: root, or the user the daemon runs as.
    static bool peer_may_control(uid_t peer, uid_t self) { return peer == 0 || peer == self; }

private:
    struct Connection;

    ControlServer(struct event_base* base, std::string path, Handler& handler, int fd, dev_t dev, ino_t ino);
    static Result<std::unique_ptr<ControlServer>> watch(struct event_base* base, const std::string& path,
                                                        Handler& handler, int fd, const struct stat& st);
    static void on_accept(int fd, short what, void* arg);
    static void on_accept_retry(int fd, short what, void* arg);
    void accept_all();
    void dispatch(const std::shared_ptr<Connection>& conn, std::string_view command);
    void remove(Connection* conn);
    bool evict_oldest_idle();
    void refuse(int fd, std::string_view json_line);

    struct event_base* base_;
    std::string path_;
    Handler& handler_;
    int listen_fd_;
    dev_t dev_;
    ino_t ino_;
    struct event* listen_ev_ = nullptr;
    struct event* retry_ev_ = nullptr;  // re-enables accepting after EMFILE
    std::unordered_map<Connection*, std::shared_ptr<Connection>> conns_;
    std::uint64_t accepted_ = 0;  // accept order, to find the oldest
    std::uint64_t evicted_ = 0;
    std::uint64_t evicted_unlogged_ = 0;
    std::chrono::steady_clock::time_point last_evict_log_{};
    std::uint64_t refused_unlogged_ = 0;
    std::chrono::steady_clock::time_point last_refuse_log_{};
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
