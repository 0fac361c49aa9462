// ListenerTls: the OpenSSL server context the `ssl` listeners accept with,
// made from [tls] (config/config.h) on the main thread (it reads files):
// at start, before root is dropped, and again at every reload, where a
// certificate that cannot be used fails the reload and the running one
// stays. Published in the snapshot; a worker takes the snapshot's context
// for each connection it accepts on an `ssl` listener, so a renewed
// certificate serves the next handshake and the ones in progress finish
// with the one they began with.
//
// What a client gets: TLS 1.2 or 1.3 (min_version), OpenSSL's default
// cipher suites with the server's order, no renegotiation, no compression,
// session resumption (cache and tickets), ALPN http/1.1 (a client offering
// only h2 goes on without ALPN), and with client_ca, a certificate of its
// own required and checked against those CAs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "config/loader.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace agd {

class ListenerTls {
public:
    ~ListenerTls();
    ListenerTls(const ListenerTls&) = delete;
    ListenerTls& operator=(const ListenerTls&) = delete;

    // The context, or a message naming the file and what is wrong with it:
    // unreadable, not PEM, a key others may read (mode o+r), a key that
    // is not the certificate's, client CAs that cannot be loaded.
    static Result<std::shared_ptr<const ListenerTls>> load(const config::TlsConfig& cfg);

    SSL_CTX* ctx() const { return ctx_; }
    // The certificate's subject and end of validity, for the log.
    const std::string& summary() const { return summary_; }
    // What deserves a warning but works: a certificate that has expired or
    // is not yet valid.
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    explicit ListenerTls(SSL_CTX* ctx) : ctx_(ctx) {}
    SSL_CTX* ctx_;
    std::string summary_;
    std::vector<std::string> warnings_;
};

// The context a loaded configuration's `ssl` listeners need (null when it
// has none). One that cannot be made is an error of `result`, on the
// [tls] line (the result is then not ok: check-config, start and reload
// all refuse it); its warnings become warnings of `result`.
std::shared_ptr<const ListenerTls> load_listener_tls(config::LoadResult& result);

}  // namespace agd
