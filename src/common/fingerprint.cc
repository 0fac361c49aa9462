#include "common/fingerprint.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace agd {

std::string sha256_hex(std::string_view text, size_t bytes) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    bytes = bytes < len ? bytes : len;
    out.reserve(bytes * 2);
    for (size_t i = 0; i < bytes; ++i) {
        out.push_back(hex[md[i] >> 4]);
        out.push_back(hex[md[i] & 15]);
    }
    return out;
}

std::string fingerprint(std::string_view secret) { return sha256_hex(secret, 4); }

bool secret_equal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace agd
