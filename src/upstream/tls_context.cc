#include "upstream/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace agd::upstream {

namespace {

std::atomic<uint64_t> g_next_id{1};

// "path size mtime" of a file, "" when it cannot be read: a reload that
// sees the same files gets the same context.
std::string file_identity(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return {};
    return path + ' ' + std::to_string(st.st_size) + ' ' + std::to_string(st.st_mtim.tv_sec) + '.' +
           std::to_string(st.st_mtim.tv_nsec);
}

std::string system_bundle() {
    const char* env = std::getenv(X509_get_default_cert_file_env());
    return env && *env ? std::string(env) : std::string(X509_get_default_cert_file());
}

int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* sink = static_cast<TlsSessionSink*>(SSL_get_app_data(ssl));
    return sink && sink->keep_session(session) ? 1 : 0;
}

SSL_CTX* make_ctx(const std::string& bundle, const std::string& ca_file, std::string& error) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        error = "cannot make a TLS context: " + openssl_reason();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // An upstream that closes without close_notify ends a close-delimited
    // answer as a plain-TCP one would; lengths and chunks still tell a cut.
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    // Partial writes as with a socket; buffers released while a pooled
    // connection waits; read-ahead into a 64 KiB buffer (the engine's own
    // size): a recv takes several records, not a header and then a body
    // (with the default ~17 KiB buffer, about two records per wakeup).
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ctx, 64 * 1024);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    // The bundle is read here, whole: no certificate is looked up from a
    // directory during a handshake, on a worker.
    ERR_clear_error();
    bool have_bundle = SSL_CTX_load_verify_file(ctx, bundle.c_str()) == 1;
    ERR_clear_error();
    if (!ca_file.empty() && SSL_CTX_load_verify_file(ctx, ca_file.c_str()) != 1) {
        error = ca_file + ": cannot load the certificates: " + openssl_reason();
        SSL_CTX_free(ctx);
        return nullptr;
    }
    if (!have_bundle && ca_file.empty()) {
        error = bundle + ": cannot load the system's trusted certificates (install ca-certificates, or set ca_file)";
        SSL_CTX_free(ctx);
        return nullptr;
    }
    settle_trust_store(ctx);
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &on_new_session);
    ERR_clear_error();
    return ctx;
}

}  // namespace

std::string openssl_reason() {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) return "unknown error";
    const char* r = ERR_reason_error_string(e);
    if (r) return r;
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// OpenSSL fills some of a certificate's fields the first time a chain is
// checked against it (its decoded extensions: key identifiers, basic
// constraints, usage) and sorts the store's list at its first look-up. The
// trusted store is shared by every worker; doing both here, on the main
// thread before any worker sees the context, leaves the workers only
// reading it.
void settle_trust_store(SSL_CTX* ctx) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_OBJECT)* objects = store ? X509_STORE_get0_objects(store) : nullptr;
    if (!objects) return;
    for (int i = 0, n = sk_X509_OBJECT_num(objects); i < n; ++i) {
        X509* x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
        if (x) X509_check_purpose(x, -1, 0);
    }
    sk_X509_OBJECT_sort(objects);
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::shared_ptr<const TlsContext> TlsContext::get(const std::string& ca_file, std::string& error) {
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<const TlsContext>> made;
    std::string bundle = system_bundle();
    std::string key = file_identity(bundle) + '\n' + (ca_file.empty() ? std::string() : file_identity(ca_file));
    std::lock_guard<std::mutex> lock(mu);
    auto it = made.find(key);
    if (it != made.end()) {
        if (auto ctx = it->second.lock()) return ctx;
    }
    for (auto i = made.begin(); i != made.end();) i = i->second.expired() ? made.erase(i) : std::next(i);
    SSL_CTX* ctx = make_ctx(bundle, ca_file, error);
    if (!ctx) return nullptr;
    std::shared_ptr<const TlsContext> c(new TlsContext(ctx, g_next_id.fetch_add(1)));
    made[key] = c;
    return c;
}

std::string tls_failure(SSL* ssl, int ssl_error, int saved_errno) {
    if (ssl) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
    }
    switch (ssl_error) {
        case SSL_ERROR_ZERO_RETURN: return "connection closed by the upstream";
        case SSL_ERROR_SYSCALL:
            if (ERR_peek_last_error() != 0) return openssl_reason();
            return saved_errno ? std::strerror(saved_errno) : "connection closed by the upstream";
        default: return openssl_reason();
    }
}

}  // namespace agd::upstream
