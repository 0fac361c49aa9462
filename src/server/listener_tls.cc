#include "server/listener_tls.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstring>

#include "config/key_file.h"
#include "upstream/tls_context.h"

namespace agd {

namespace {

using upstream::openssl_reason;

// HTTP/1.1 when the client offers it; a client that offers only other
// protocols (h2) goes on without ALPN rather than failing the handshake.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void*) {
    for (unsigned i = 0; i < inlen;) {
        unsigned len = in[i];
        if (i + 1 + len > inlen) break;
        if (len == 8 && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = static_cast<unsigned char>(len);
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

std::string asn1_time_text(const ASN1_TIME* t) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio) return "?";
    ASN1_TIME_print(bio, t);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data ? data : "", n > 0 ? static_cast<size_t>(n) : 0);
    BIO_free(bio);
    return out;
}

std::string subject_text(X509* cert) {
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    return buf;
}

// The private key, read with the checks of a key file (not readable by
// others) and parsed from memory, which is wiped after.
EVP_PKEY* load_key(const std::string& path, std::string& error) {
    auto text = config::read_secret_file(path, "a private key");
    if (!text) {
        error = "tls.key: " + text.error().message;
        return nullptr;
    }
    EVP_PKEY* key = nullptr;
    if (BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()))) {
        key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
        BIO_free(bio);
    }
    OPENSSL_cleanse(text->data(), text->size());
    if (!key) error = "tls.key: " + path + ": not a PEM private key (" + openssl_reason() + ")";
    return key;
}

}  // namespace

ListenerTls::~ListenerTls() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<const ListenerTls>> ListenerTls::load(const config::TlsConfig& cfg) {
    using R = Result<std::shared_ptr<const ListenerTls>>;
    ERR_clear_error();
    SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
    if (!raw) return R::fail(78, "cannot make a TLS context: " + openssl_reason());
    std::shared_ptr<ListenerTls> tls(new ListenerTls(raw));
    SSL_CTX* ctx = tls->ctx_;
    SSL_CTX_set_min_proto_version(ctx, cfg.min_version == config::TlsVersion::V1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    // An idle kept-alive connection holds no read or write buffer.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // Sessions resumed across workers (one context); the id context makes
    // resumption work with client certificates too.
    static const unsigned char sid_ctx[] = "antigravityd";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    SSL_CTX_set_alpn_select_cb(ctx, &select_alpn, nullptr);

    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.certificate.c_str()) != 1)
        return R::fail(78, "tls.certificate: " + cfg.certificate + ": cannot load the certificate chain (" +
                               openssl_reason() + ")");
    std::string error;
    EVP_PKEY* key = load_key(cfg.key, error);
    if (!key) return R::fail(78, error);
    int used = SSL_CTX_use_PrivateKey(ctx, key);
    EVP_PKEY_free(key);
    if (used != 1 || SSL_CTX_check_private_key(ctx) != 1)
        return R::fail(78, "tls.key: " + cfg.key + " is not the private key of " + cfg.certificate + " (" +
                               openssl_reason() + ")");

    if (!cfg.client_ca.empty()) {
        if (SSL_CTX_load_verify_file(ctx, cfg.client_ca.c_str()) != 1)
            return R::fail(78, "tls.client_ca: " + cfg.client_ca + ": cannot load the certificates (" +
                                   openssl_reason() + ")");
        // The CAs are named in the handshake, so a client with several
        // certificates can pick the right one.
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(cfg.client_ca.c_str());
        if (names) SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
        upstream::settle_trust_store(ctx);
    }

    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (cert) {
        const ASN1_TIME* not_after = X509_get0_notAfter(cert);
        const ASN1_TIME* not_before = X509_get0_notBefore(cert);
        tls->summary_ = subject_text(cert) + ", valid until " + asn1_time_text(not_after);
        if (X509_cmp_current_time(not_after) < 0)
            tls->warnings_.push_back("tls.certificate: " + cfg.certificate + " expired on " +
                                     asn1_time_text(not_after) + ": clients will refuse it");
        else if (X509_cmp_current_time(not_before) > 0)
            tls->warnings_.push_back("tls.certificate: " + cfg.certificate + " is not valid before " +
                                     asn1_time_text(not_before) + ": clients will refuse it");
    }
    ERR_clear_error();
    return std::shared_ptr<const ListenerTls>(std::move(tls));
}

std::shared_ptr<const ListenerTls> load_listener_tls(config::LoadResult& result) {
    if (!result.ok() || !config::has_tls_listener(*result.config)) return nullptr;
    const config::Config& cfg = *result.config;
    auto tls = ListenerTls::load(cfg.tls);
    if (!tls) {
        result.errors.push_back({cfg.path, cfg.tls.line, "", tls.error().message});
        result.config = nullptr;
        return nullptr;
    }
    for (const auto& w : (*tls)->warnings()) result.warnings.push_back({cfg.path, cfg.tls.line, "", w});
    return *tls;
}

}  // namespace agd
