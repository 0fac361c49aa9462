// A small PKI made in memory for the TLS tests: a CA, leaf certificates it
// signs (names, addresses, validity chosen by the test), PEM text and
// temporary files for TlsContext::get's ca_file. P-256 keys (quick to make)
// unless RSA is asked for.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace agd::testpki {

struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
    void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

// A key and the certificate for it.
struct Identity {
    Key key;
    Cert cert;
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign).
// rsa: an RSA-2048 key (slower to make) rather than P-256, so that every
// signature made with it has the same length.
Identity make_ca(const std::string& common_name, bool rsa = false);

struct LeafSpec {
    std::string common_name = "upstream";
    // subjectAltName entries, as OpenSSL's config syntax: "DNS:localhost", "IP:127.0.0.1".
    std::vector<std::string> names = {"DNS:localhost", "IP:127.0.0.1"};
    long not_before = -3600;  // seconds from now
    long not_after = 86400;
    bool rsa = false;  // as make_ca's
};

// A server certificate signed by `ca` (serverAuth, CA:FALSE).
Identity make_leaf(const Identity& ca, const LeafSpec& spec = {});

std::string pem(const X509* cert);

// A file removed again when the object goes.
class TempFile {
public:
    explicit TempFile(const std::string& contents);
    ~TempFile();
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

}  // namespace agd::testpki
