// TlsContext: the OpenSSL client context the native HTTP/1.1 engine opens
// https connections with. One per set of trusted certificates (the system
// bundle, plus a provider's ca_file), shared by every worker: made on the
// main thread when a configuration is loaded (it reads files), never on a
// worker. A reload that trusts the same files (same path, size and mtime)
// gets the same context back, so kept-alive connections and TLS sessions
// stay usable across it.
//
// What every connection gets from it: TLS 1.2 or 1.3, the peer's certificate
// verified against the trusted set (there is no way to turn that off), ALPN
// http/1.1, no renegotiation, client-side session caching through
// TlsSessionSink (the engine keeps one resumable session per origin).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

namespace agd::upstream {

// Told of each new resumable session of a connection (the SSL's app data
// must point to one). Returns true when it keeps the session (and its
// reference), false to let it go.
class TlsSessionSink {
public:
    virtual bool keep_session(SSL_SESSION* session) = 0;

protected:
    ~TlsSessionSink() = default;
};

class TlsContext {
public:
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;

    SSL_CTX* ctx() const { return ctx_; }
    // Unique among all contexts the process made: part of the pool key of
    // a connection, so one never carries a request that trusts other CAs.
    uint64_t id() const { return id_; }

    // The context trusting the system bundle (SSL_CERT_FILE when set, else
    // OpenSSL's default certificate file) plus ca_file when not empty. Main
    // thread only. nullptr with `error` set when a file cannot be used.
    static std::shared_ptr<const TlsContext> get(const std::string& ca_file, std::string& error);

private:
    TlsContext(SSL_CTX* ctx, uint64_t id) : ctx_(ctx), id_(id) {}
    SSL_CTX* ctx_;
    uint64_t id_;
};

// Why a TLS call failed, for a log line or an error answer: the certificate
// problem when verification failed, else OpenSSL's reason, else errno's.
std::string tls_failure(SSL* ssl, int ssl_error, int saved_errno);

// OpenSSL's reason for its last error ("unknown error" when none).
std::string openssl_reason();

// Fills what OpenSSL would otherwise fill lazily, on first use, in the
// context's trusted store, so that workers sharing the context only read
// it. Main thread, before any worker sees the context.
void settle_trust_store(SSL_CTX* ctx);

}  // namespace agd::upstream
