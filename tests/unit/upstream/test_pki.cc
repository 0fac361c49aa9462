#include "test_pki.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace agd::testpki {

namespace {

// No doctest here (the fuzz target uses these too): a PKI that cannot be
// made is a broken test, stopped at once.
void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "test_pki: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    std::abort();
}

Key new_key(bool rsa) {
    Key k(rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
    check(k != nullptr, rsa ? "EVP_RSA_gen" : "EVP_EC_gen");
    return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    check(ext != nullptr, "X509V3_EXT_conf_nid");
    check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
    X509_EXTENSION_free(ext);
}

// The parts every certificate here shares; the issuer's name, extensions
// and signature are the caller's.
Cert new_cert(EVP_PKEY* key, const std::string& common_name, long not_before, long not_after) {
    Cert c(X509_new());
    check(c != nullptr, "X509_new");
    check(X509_set_version(c.get(), 2) == 1, "X509_set_version");
    // Random serials: certificates of one issuer never collide.
    BIGNUM* serial = BN_new();
    check(serial && BN_rand(serial, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1, "BN_rand");
    check(BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(c.get())) != nullptr, "BN_to_ASN1_INTEGER");
    BN_free(serial);
    check(X509_gmtime_adj(X509_getm_notBefore(c.get()), not_before) != nullptr, "notBefore");
    check(X509_gmtime_adj(X509_getm_notAfter(c.get()), not_after) != nullptr, "notAfter");
    check(X509_set_pubkey(c.get(), key) == 1, "X509_set_pubkey");
    X509_NAME* name = X509_get_subject_name(c.get());
    check(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("antigravityd tests"), -1, -1, 0) == 1,
          "subject O");
    check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) == 1,
          "subject CN");
    return c;
}

}  // namespace

Identity make_ca(const std::string& common_name, bool rsa) {
    Identity id;
    id.key = new_key(rsa);
    id.cert = new_cert(id.key.get(), common_name, -86400, 10 * 86400);
    X509* c = id.cert.get();
    check(X509_set_issuer_name(c, X509_get_subject_name(c)) == 1, "X509_set_issuer_name");
    add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(c, c, NID_subject_key_identifier, "hash");
    check(X509_sign(c, id.key.get(), EVP_sha256()) > 0, "X509_sign (CA)");
    return id;
}

Identity make_leaf(const Identity& ca, const LeafSpec& spec) {
    Identity id;
    id.key = new_key(spec.rsa);
    id.cert = new_cert(id.key.get(), spec.common_name, spec.not_before, spec.not_after);
    X509* c = id.cert.get();
    check(X509_set_issuer_name(c, X509_get_subject_name(ca.cert.get())) == 1, "X509_set_issuer_name");
    add_ext(c, ca.cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_ext(c, ca.cert.get(), NID_key_usage, "critical,digitalSignature");
    add_ext(c, ca.cert.get(), NID_ext_key_usage, "serverAuth");
    add_ext(c, ca.cert.get(), NID_subject_key_identifier, "hash");
    add_ext(c, ca.cert.get(), NID_authority_key_identifier, "keyid:always");
    if (!spec.names.empty()) {
        std::string san;
        for (const std::string& n : spec.names) san += (san.empty() ? "" : ",") + n;
        add_ext(c, ca.cert.get(), NID_subject_alt_name, san);
    }
    check(X509_sign(c, ca.key.get(), EVP_sha256()) > 0, "X509_sign (leaf)");
    return id;
}

std::string pem(const X509* cert) {
    BIO* b = BIO_new(BIO_s_mem());
    check(b && PEM_write_bio_X509(b, const_cast<X509*>(cert)) == 1, "PEM_write_bio_X509");
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(b);
    return out;
}

TempFile::TempFile(const std::string& contents) {
    const char* dir = std::getenv("TMPDIR");
    std::string templ = std::string(dir && *dir ? dir : "/tmp") + "/agd-test-XXXXXX.pem";
    int fd = mkstemps(templ.data(), 4);
    check(fd >= 0, "mkstemps");
    size_t off = 0;
    while (off < contents.size()) {
        ssize_t w = ::write(fd, contents.data() + off, contents.size() - off);
        check(w > 0, "write");
        off += static_cast<size_t>(w);
    }
    ::close(fd);
    path_ = templ;
}

TempFile::~TempFile() { ::unlink(path_.c_str()); }

}  // namespace agd::testpki
