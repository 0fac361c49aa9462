// A scripted TLS server on the test's event loop, for the native engine's
// https tests (h1_tls_test.cc) and the TLS split fuzz target. OpenSSL runs
// on memory BIOs: the server reads the socket's bytes itself, feeds them to
// OpenSSL and takes OpenSSL's ciphertext back, then writes it to the socket
// in pieces a Split chooses, one piece per loop turn. So a test decides
// exactly where the client's reads cut the TLS records (one byte at a time,
// inside a record header, several records at once, an answer and a
// close_notify together...), whatever OpenSSL would have written.
#pragma once

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test_pki.h"

struct event;
struct event_base;
struct evconnlistener;

namespace agd::testtls {

// Cuts bytes a server sends into the pieces it writes, in order.
using Split = std::function<std::vector<std::string>(const std::string& bytes)>;

Split whole();                                // one piece
Split every(size_t n);                        // n bytes a piece (the last may be shorter)
Split records(size_t k);                      // k whole TLS records a piece
Split header_cut(size_t at);                  // each record cut after `at` bytes of its 5-byte header
Split random_cut(uint32_t seed, size_t max);  // pieces of 1..max bytes, reproducible
Split sizes(std::vector<size_t> s);           // these piece sizes, repeated

// Where the TLS records of a server's stream end (offsets just past each).
std::vector<size_t> record_ends(const std::string& bytes);

// One scripted answer to one request.
struct Reply {
    std::vector<std::string> records;  // plaintext, one SSL_write each (a record each up to 16 KiB)
    bool ticket_after = false;         // a NewSessionTicket right after the answer (TLS 1.3)
    bool close_notify = false;         // close_notify after the answer
    bool close_after = false;          // the TCP connection closed once every piece is out
    bool hangup = false;               // no answer: close (after a close_notify when close_notify)
    bool silent = false;               // no answer at all
    bool own_split = false;            // cut with `split` below instead of the server's
    Split split;
};

// "HTTP/1.1 200 OK" with Content-Length, head and body in one SSL_write.
Reply answer(const std::string& body, const std::string& extra_headers = "");

enum class Handshake {
    Normal,
    CloseOnHello,     // close as soon as the ClientHello is in
    HalfServerHello,  // send half of the first record of the answer to it, then close
    Silent,           // accept, read, never answer
    PlainHttp,        // a plain HTTP/1.1 server: a 400 answer to the first bytes, then close
};

class TlsServer {
public:
    struct Options {
        int max_version = 0;   // e.g. TLS1_2_VERSION; 0: OpenSSL's newest
        bool tickets = true;   // false: SSL_OP_NO_TICKET (TLS 1.2: resumption by session id)
        int num_tickets = -1;  // TLS 1.3 tickets after a handshake; -1: OpenSSL's default (2)
    };

    // What the server saw of one accepted connection.
    struct ConnInfo {
        bool handshake_done = false;
        bool reused = false;     // SSL_session_reused
        std::string servername;  // SNI, "" when none
        int version = 0;         // SSL_version
        std::string error;       // why the handshake or a read failed
        bool got_close_notify = false;
        bool peer_closed = false;  // EOF or an error from the socket: the client is gone
        bool closed = false;       // no longer open on the server side
        int requests = 0;
        size_t records_in = 0;   // complete TLS records received
        int key_updates_in = 0;  // KeyUpdate messages from the client
        size_t pieces_out = 0;   // socket writes (pieces) begun
        size_t bytes_out = 0;    // bytes written to the socket
    };

    TlsServer(event_base* base, const testpki::Identity& leaf, Options options);
    TlsServer(event_base* base, const testpki::Identity& leaf) : TlsServer(base, leaf, Options()) {}
    ~TlsServer();
    TlsServer(const TlsServer&) = delete;
    TlsServer& operator=(const TlsServer&) = delete;

    std::string url(const std::string& host = "127.0.0.1", const std::string& path = "/v1/x") const;

    int port = 0;
    int accepts = 0;
    Split split = whole();  // for the handshake and every answer without its own
    Handshake handshake = Handshake::Normal;
    // Each piece waits until the client has read every byte before it (its
    // socket is in this process), so no read of the client takes two
    // pieces, whatever the kernel's timing. Off: pieces go one a loop turn.
    bool lockstep = true;
    std::deque<Reply> script;
    std::vector<std::string> requests;  // head + body of each request received
    int script_missing = 0;             // requests that found the script empty (closed unanswered)

    size_t conns() const { return conns_.size(); }
    const ConnInfo& conn(size_t i) const;
    bool idle() const;              // every piece of every connection written
    int client_fd(size_t i) const;  // the client's end of connection i (same process)

    // Sent on connection i from the test, after what is queued.
    void send_ticket(size_t i);
    void send_data(size_t i, const std::string& plaintext);
    void send_close_notify(size_t i);
    void send_key_update(size_t i, bool request_one_back);
    void close(size_t i);  // the TCP connection, once what is queued is out

private:
    struct Conn;
    static void on_accept(evconnlistener*, int fd, sockaddr*, int, void* arg);
    static void on_read(int fd, short, void* arg);
    static void on_write(int fd, short, void* arg);
    static void on_tick(int fd, short, void* arg);
    static void on_msg(int write_p, int version, int content_type, const void* buf, size_t len, SSL* ssl, void* arg);
    Conn* open_conn(size_t i);
    static int find_client(Conn* c);
    void pump(Conn* c);
    void answer_requests(Conn* c);
    void queue(Conn* c, const Split& how);
    void flush_raw(Conn* c, std::string bytes);
    void kick(Conn* c);
    void drop(Conn* c);

    event_base* base_;
    evconnlistener* lis_ = nullptr;
    SSL_CTX* ctx_ = nullptr;
    std::vector<std::unique_ptr<Conn>> conns_;
};

}  // namespace agd::testtls
