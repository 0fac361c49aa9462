#include "tls_server.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace agd::testtls {

namespace {

std::string last_error() {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) return "no OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "tls_server: %s: %s\n", what, last_error().c_str());
    std::abort();
}

std::vector<std::string> cut_at(const std::string& bytes, const std::vector<size_t>& ends) {
    std::vector<std::string> out;
    size_t from = 0;
    for (size_t e : ends) {
        if (e <= from || e > bytes.size()) continue;
        out.push_back(bytes.substr(from, e - from));
        from = e;
    }
    if (from < bytes.size()) out.push_back(bytes.substr(from));
    return out;
}

}  // namespace

std::vector<size_t> record_ends(const std::string& bytes) {
    std::vector<size_t> ends;
    size_t pos = 0;
    while (pos + 5 <= bytes.size()) {
        size_t len = (static_cast<unsigned char>(bytes[pos + 3]) << 8) | static_cast<unsigned char>(bytes[pos + 4]);
        if (pos + 5 + len > bytes.size()) break;
        pos += 5 + len;
        ends.push_back(pos);
    }
    return ends;
}

Split whole() {
    return [](const std::string& b) { return std::vector<std::string>{b}; };
}

Split every(size_t n) {
    return [n](const std::string& b) {
        std::vector<std::string> out;
        for (size_t i = 0; i < b.size(); i += n) out.push_back(b.substr(i, n));
        return out;
    };
}

Split records(size_t k) {
    return [k](const std::string& b) {
        std::vector<size_t> all = record_ends(b), ends;
        for (size_t i = k - 1; i < all.size(); i += k) ends.push_back(all[i]);
        return cut_at(b, ends);
    };
}

Split header_cut(size_t at) {
    return [at](const std::string& b) {
        std::vector<size_t> ends{at};
        for (size_t e : record_ends(b)) ends.push_back(e + at);
        return cut_at(b, ends);
    };
}

Split random_cut(uint32_t seed, size_t max) {
    // The state lives in the Split: every stream it cuts continues the sequence.
    auto state = std::make_shared<uint32_t>(seed ? seed : 1);
    return [state, max](const std::string& b) {
        std::vector<std::string> out;
        for (size_t i = 0; i < b.size();) {
            uint32_t x = *state;  // xorshift32
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *state = x;
            size_t n = 1 + x % max;
            out.push_back(b.substr(i, n));
            i += n;
        }
        return out;
    };
}

Split sizes(std::vector<size_t> s) {
    return [s](const std::string& b) {
        std::vector<std::string> out;
        size_t k = 0;
        for (size_t i = 0; i < b.size(); ++k) {
            size_t n = s.empty() ? b.size() : (s[k % s.size()] ? s[k % s.size()] : 1);
            out.push_back(b.substr(i, n));
            i += n;
        }
        return out;
    };
}

Reply answer(const std::string& body, const std::string& extra_headers) {
    Reply r;
    r.records = {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + extra_headers +
                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body};
    return r;
}

struct TlsServer::Conn {
    TlsServer* server = nullptr;
    int fd = -1;
    event* rev = nullptr;
    event* wev = nullptr;   // a piece the socket did not take whole
    event* tick = nullptr;  // the next piece, on the next loop turn
    SSL* ssl = nullptr;
    BIO* rbio = nullptr;  // socket bytes in (owned by ssl)
    BIO* wbio = nullptr;  // ciphertext out (owned by ssl)
    std::string plain;    // requests read, not yet answered
    std::string raw;      // socket bytes not yet a whole record (counting records)
    std::deque<std::string> out;
    std::string partial;  // the rest of a piece the socket did not take
    bool close_after = false;
    bool sent_shutdown = false;
    sockaddr_in peer{};  // the client's address: its socket, in this process, is found by it
    int client_fd = -1;  // that socket, once found
    ConnInfo info;
};

TlsServer::TlsServer(event_base* base, const testpki::Identity& leaf, Options options) : base_(base) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (!ctx_) broken("SSL_CTX_new");
    if (SSL_CTX_use_certificate(ctx_, leaf.cert.get()) != 1) broken("SSL_CTX_use_certificate");
    if (SSL_CTX_use_PrivateKey(ctx_, leaf.key.get()) != 1) broken("SSL_CTX_use_PrivateKey");
    if (options.max_version) SSL_CTX_set_max_proto_version(ctx_, options.max_version);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_SERVER);
    static const unsigned char sid_ctx[] = "agd-test";
    SSL_CTX_set_session_id_context(ctx_, sid_ctx, sizeof sid_ctx - 1);
    if (!options.tickets) SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET);
    if (options.num_tickets >= 0) SSL_CTX_set_num_tickets(ctx_, static_cast<size_t>(options.num_tickets));
    SSL_CTX_set_msg_callback(ctx_, &TlsServer::on_msg);

    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lis_ = evconnlistener_new_bind(base, &TlsServer::on_accept, this, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
                                   reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    if (!lis_) broken("evconnlistener_new_bind");
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    getsockname(evconnlistener_get_fd(lis_), reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(bound.sin_port);
    ERR_clear_error();
}

TlsServer::~TlsServer() {
    for (auto& c : conns_) drop(c.get());
    evconnlistener_free(lis_);
    SSL_CTX_free(ctx_);
}

std::string TlsServer::url(const std::string& host, const std::string& path) const {
    return "https://" + host + ":" + std::to_string(port) + path;
}

const TlsServer::ConnInfo& TlsServer::conn(size_t i) const { return conns_.at(i)->info; }

bool TlsServer::idle() const {
    for (const auto& c : conns_)
        if (c->fd >= 0 && (!c->out.empty() || !c->partial.empty())) return false;
    return true;
}

int TlsServer::client_fd(size_t i) const { return find_client(conns_.at(i).get()); }

namespace {

// Is fd the socket whose local address is `addr`?
bool bound_to(int fd, const sockaddr_in& addr) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    return getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0 && a.sin_family == AF_INET &&
           a.sin_port == addr.sin_port && a.sin_addr.s_addr == addr.sin_addr.s_addr;
}

}  // namespace

int TlsServer::find_client(Conn* c) {
    if (c->fd < 0) return -1;
    if (c->client_fd >= 0 && bound_to(c->client_fd, c->peer)) return c->client_fd;
    c->client_fd = -1;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (dirent* e = readdir(d)) {
        int fd = std::atoi(e->d_name);
        if (fd > 2 && fd != c->fd && fd != dirfd(d) && bound_to(fd, c->peer)) {
            c->client_fd = fd;
            break;
        }
    }
    closedir(d);
    return c->client_fd;
}

void TlsServer::on_accept(evconnlistener*, int fd, sockaddr*, int, void* arg) {
    auto* self = static_cast<TlsServer*>(arg);
    ++self->accepts;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // a piece leaves when written
    auto c = std::make_unique<Conn>();
    c->server = self;
    c->fd = fd;
    socklen_t len = sizeof c->peer;
    getpeername(fd, reinterpret_cast<sockaddr*>(&c->peer), &len);
    c->rev = event_new(self->base_, fd, EV_READ | EV_PERSIST, &TlsServer::on_read, c.get());
    c->wev = event_new(self->base_, fd, EV_WRITE, &TlsServer::on_write, c.get());
    c->tick = evtimer_new(self->base_, &TlsServer::on_tick, c.get());
    c->ssl = SSL_new(self->ctx_);
    if (!c->ssl) broken("SSL_new");
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    if (!c->rbio || !c->wbio) broken("BIO_new");
    BIO_set_mem_eof_return(c->rbio, -1);  // an empty rbio is "want read", not EOF
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    SSL_set_msg_callback_arg(c->ssl, c.get());
    event_add(c->rev, nullptr);
    self->conns_.push_back(std::move(c));
}

void TlsServer::on_msg(int write_p, int, int content_type, const void* buf, size_t len, SSL*, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    if (!c || write_p || content_type != SSL3_RT_HANDSHAKE || len < 1) return;
    if (static_cast<const unsigned char*>(buf)[0] == 24) ++c->info.key_updates_in;  // key_update(24)
}

void TlsServer::drop(Conn* c) {
    if (c->fd < 0) return;
    event_free(c->rev);
    event_free(c->wev);
    event_free(c->tick);
    SSL_free(c->ssl);  // and its BIOs
    ::close(c->fd);
    c->fd = -1;
    c->ssl = nullptr;
    c->info.closed = true;
}

void TlsServer::on_read(int fd, short, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    TlsServer* self = c->server;
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n <= 0) {
        c->info.peer_closed = true;
        self->drop(c);
        return;
    }
    c->raw.append(buf, static_cast<size_t>(n));
    std::vector<size_t> ends = record_ends(c->raw);
    if (!ends.empty()) {
        c->info.records_in += ends.size();
        c->raw.erase(0, ends.back());
    }
    switch (self->handshake) {
        case Handshake::Silent: return;
        case Handshake::CloseOnHello: self->drop(c); return;
        case Handshake::PlainHttp:
            self->flush_raw(c,
                            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
                            "Connection: close\r\n\r\nbad request\n");
            c->close_after = true;
            event_del(c->rev);
            return;
        default: break;
    }
    BIO_write(c->rbio, buf, static_cast<int>(n));
    self->pump(c);
}

void TlsServer::pump(Conn* c) {
    ERR_clear_error();
    if (!c->info.handshake_done) {
        int r = SSL_do_handshake(c->ssl);
        // SNI is known once the ClientHello is in, whether the handshake then succeeds or not.
        if (c->info.servername.empty()) {
            const char* sni = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
            if (sni) c->info.servername = sni;
        }
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e != SSL_ERROR_WANT_READ) {
                c->info.error = "handshake: " + last_error();
                queue(c, split);  // the alert
                c->close_after = true;
                event_del(c->rev);
                kick(c);
                ERR_clear_error();
                return;
            }
            if (handshake == Handshake::HalfServerHello && BIO_ctrl_pending(c->wbio) > 0) {
                std::string bytes(BIO_ctrl_pending(c->wbio), '\0');
                BIO_read(c->wbio, bytes.data(), static_cast<int>(bytes.size()));
                std::vector<size_t> ends = record_ends(bytes);
                size_t first = ends.empty() ? bytes.size() : ends.front();
                flush_raw(c, bytes.substr(0, first / 2));
                c->close_after = true;
                event_del(c->rev);
                return;
            }
            queue(c, split);
            return;
        }
        c->info.handshake_done = true;
        c->info.reused = SSL_session_reused(c->ssl) == 1;
        c->info.version = SSL_version(c->ssl);
        queue(c, split);  // the end of the handshake, TLS 1.3 tickets
    }
    for (;;) {
        char buf[16384];
        size_t n = 0;
        int r = SSL_read_ex(c->ssl, buf, sizeof buf, &n);
        if (r == 1) {
            c->plain.append(buf, n);
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN)
            c->info.got_close_notify = true;
        else if (e != SSL_ERROR_WANT_READ)
            c->info.error = "read: " + last_error();
        break;
    }
    if (BIO_ctrl_pending(c->wbio) > 0) queue(c, split);  // e.g. a KeyUpdate in return
    answer_requests(c);
    ERR_clear_error();
}

void TlsServer::answer_requests(Conn* c) {
    for (;;) {
        size_t end = c->plain.find("\r\n\r\n");
        if (end == std::string::npos) return;
        size_t body = 0;
        size_t cl = c->plain.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) body = std::stoul(c->plain.substr(cl + 16));
        if (c->plain.size() < end + 4 + body) return;
        requests.push_back(c->plain.substr(0, end + 4 + body));
        c->plain.erase(0, end + 4 + body);
        ++c->info.requests;
        if (script.empty() || c->sent_shutdown) {  // nothing to say: close, as a server going away
            ++script_missing;
            c->close_after = true;
            kick(c);
            return;
        }
        Reply a = std::move(script.front());
        script.pop_front();
        if (a.silent) continue;
        if (a.hangup) {
            if (a.close_notify) {
                SSL_shutdown(c->ssl);
                c->sent_shutdown = true;
            }
            queue(c, a.own_split ? a.split : split);
            c->close_after = true;
            kick(c);
            return;
        }
        for (const std::string& rec : a.records) {
            size_t w = 0;
            if (SSL_write_ex(c->ssl, rec.data(), rec.size(), &w) != 1 || w != rec.size()) broken("SSL_write_ex");
        }
        if (a.ticket_after) {
            if (SSL_new_session_ticket(c->ssl) != 1 || SSL_do_handshake(c->ssl) != 1) broken("SSL_new_session_ticket");
        }
        if (a.close_notify) {
            SSL_shutdown(c->ssl);
            c->sent_shutdown = true;
        }
        queue(c, a.own_split ? a.split : split);
        if (a.close_after) {
            c->close_after = true;
            kick(c);
            return;
        }
    }
}

// Takes every byte OpenSSL wrote and queues them cut by `how`.
void TlsServer::queue(Conn* c, const Split& how) {
    size_t pending = BIO_ctrl_pending(c->wbio);
    if (pending == 0) return;
    std::string bytes(pending, '\0');
    BIO_read(c->wbio, bytes.data(), static_cast<int>(pending));
    for (std::string& p : how(bytes))
        if (!p.empty()) c->out.push_back(std::move(p));
    kick(c);
}

void TlsServer::flush_raw(Conn* c, std::string bytes) {
    c->out.push_back(std::move(bytes));
    kick(c);
}

// The next piece goes out on the next loop turn.
void TlsServer::kick(Conn* c) {
    if (c->fd < 0 || !c->partial.empty() || evtimer_pending(c->tick, nullptr)) return;
    timeval zero{0, 0};
    evtimer_add(c->tick, &zero);
}

void TlsServer::on_tick(int, short, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    TlsServer* self = c->server;
    if (c->partial.empty()) {
        if (c->out.empty()) {
            if (c->close_after) self->drop(c);
            return;
        }
        // Lockstep: the next piece once the client has read the last one,
        // so that one of its reads never takes two pieces.
        if (self->lockstep) {
            int fd = find_client(c), unread = 0;
            if (fd >= 0 && ioctl(fd, FIONREAD, &unread) == 0 && unread > 0) {
                self->kick(c);
                return;
            }
        }
        c->partial = std::move(c->out.front());
        c->out.pop_front();
        ++c->info.pieces_out;
    }
    on_write(c->fd, EV_WRITE, c);
}

void TlsServer::on_write(int fd, short, void* arg) {
    auto* c = static_cast<Conn*>(arg);
    while (!c->partial.empty()) {
        ssize_t w = ::send(fd, c->partial.data(), c->partial.size(), MSG_NOSIGNAL);
        if (w > 0) {
            c->partial.erase(0, static_cast<size_t>(w));
            c->info.bytes_out += static_cast<size_t>(w);
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            event_add(c->wev, nullptr);
            return;
        }
        c->info.peer_closed = true;
        c->server->drop(c);
        return;
    }
    if (!c->out.empty() || c->close_after) c->server->kick(c);
}

TlsServer::Conn* TlsServer::open_conn(size_t i) {
    Conn* c = conns_.at(i).get();
    if (c->fd < 0) {
        std::fprintf(stderr, "tls_server: connection %zu is closed\n", i);
        std::abort();
    }
    return c;
}

void TlsServer::send_ticket(size_t i) {
    Conn* c = open_conn(i);
    ERR_clear_error();
    if (SSL_new_session_ticket(c->ssl) != 1 || SSL_do_handshake(c->ssl) != 1) broken("SSL_new_session_ticket");
    queue(c, split);
}

void TlsServer::send_data(size_t i, const std::string& plaintext) {
    Conn* c = open_conn(i);
    ERR_clear_error();
    size_t w = 0;
    if (SSL_write_ex(c->ssl, plaintext.data(), plaintext.size(), &w) != 1) broken("SSL_write_ex");
    queue(c, split);
}

void TlsServer::send_close_notify(size_t i) {
    Conn* c = open_conn(i);
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    c->sent_shutdown = true;
    queue(c, split);
}

void TlsServer::send_key_update(size_t i, bool request_one_back) {
    Conn* c = open_conn(i);
    ERR_clear_error();
    if (SSL_key_update(c->ssl, request_one_back ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) != 1 ||
        SSL_do_handshake(c->ssl) != 1)
        broken("SSL_key_update");
    queue(c, split);
}

void TlsServer::close(size_t i) {
    Conn* c = conns_.at(i).get();
    c->close_after = true;
    kick(c);
}

}  // namespace agd::testtls
