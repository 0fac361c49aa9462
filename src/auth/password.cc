#include "auth/password.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace agd::auth {

namespace {

constexpr const char* kStrongPrefixes[] = {"$y$", "$gy$", "$7$", "$2b$", "$2y$", "$6$"};

// crypt_rn into a heap buffer (struct crypt_data is about 32 KiB); "" on
// failure (libxcrypt returns NULL, or a string starting with '*').
std::string crypt_of(std::string_view password, const char* setting) {
    auto data = std::make_unique<crypt_data>();
    std::string pw(password);
    const char* out = crypt_rn(pw.c_str(), setting, data.get(), static_cast<int>(sizeof(crypt_data)));
    OPENSSL_cleanse(pw.data(), pw.size());
    std::string result = out && out[0] != '*' ? std::string(out) : std::string();
    OPENSSL_cleanse(data.get(), sizeof(crypt_data));
    return result;
}

bool strong_kind(const std::string& hash) {
    for (const char* p : kStrongPrefixes)
        if (hash.rfind(p, 0) == 0) return true;
    return false;
}

}  // namespace

Result<std::string> hash_password(std::string_view password) {
    using R = Result<std::string>;
    if (password.size() < kMinPasswordLength)
        return R::fail(64, "the password is too short (at least " + std::to_string(kMinPasswordLength) + " characters)");
    if (password.size() > kMaxPasswordLength) return R::fail(64, "the password is too long");
    if (password.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos)
        return R::fail(64, "the password must not contain a NUL or a line break");
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    // 0: the default cost; NULL: random bytes from the system.
    if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting))
        return R::fail(71, std::string("cannot make a salt: ") + std::strerror(errno));
    std::string hash = crypt_of(password, setting);
    if (hash.empty()) return R::fail(71, "crypt(3) cannot make a yescrypt hash on this system");
    return hash;
}

bool verify_password(std::string_view password, const std::string& hash) {
    // crypt(3) stops at a NUL: "pass\0word" must not pass for "pass".
    if (password.size() > kMaxPasswordLength || password.find('\0') != std::string_view::npos) return false;
    if (!strong_kind(hash)) return false;  // (hash_problem checked the rest at load)
    std::string computed = crypt_of(password, hash.c_str());
    return computed.size() == hash.size() && CRYPTO_memcmp(computed.data(), hash.data(), hash.size()) == 0;
}

std::string hash_problem(const std::string& hash) {
    if (!strong_kind(hash)) {
        if (hash.rfind("$argon2", 0) == 0) return "argon2 hashes are not supported by this system's crypt(3); use yescrypt (antigravityd passwd)";
        if (hash.empty() || hash[0] != '$') return "not a crypt(3) hash (antigravityd passwd prints one)";
        return "a weak kind of crypt(3) hash; use yescrypt (antigravityd passwd prints one)";
    }
    int check = crypt_checksalt(hash.c_str());
    if (check != CRYPT_SALT_OK && check != CRYPT_SALT_METHOD_LEGACY)
        return "not a valid crypt(3) hash, or one this system cannot check";
    // A well-formed hash gives back one of its own shape: same setting
    // (everything up to the last '$'), same length.
    std::string probe = crypt_of("antigravityd", hash.c_str());
    size_t setting = hash.rfind('$');
    if (probe.size() != hash.size() || setting == std::string::npos || setting + 1 >= hash.size() ||
        probe.compare(0, setting + 1, hash, 0, setting + 1) != 0)
        return "not a valid crypt(3) hash (a setting without its hash, or a damaged one)";
    return {};
}

}  // namespace agd::auth
