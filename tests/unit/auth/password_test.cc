// Admin password hashes (crypt(3), yescrypt).
#include <doctest/doctest.h>

#include <string>

#include "auth/password.h"

using namespace agd::auth;

TEST_CASE("password: a yescrypt hash that checks the password and nothing else") {
    auto h = hash_password("correct horse battery");
    REQUIRE(h);
    CHECK(h->rfind("$y$", 0) == 0);
    CHECK(hash_problem(*h) == "");
    CHECK(verify_password("correct horse battery", *h));
    CHECK_FALSE(verify_password("correct horse batterY", *h));
    CHECK_FALSE(verify_password("", *h));
    CHECK_FALSE(verify_password(std::string("correct horse battery\0x", 23), *h));
    // A random salt each time.
    auto again = hash_password("correct horse battery");
    REQUIRE(again);
    CHECK(*again != *h);
    CHECK(verify_password("correct horse battery", *again));
}

TEST_CASE("password: what is refused") {
    CHECK_FALSE(hash_password("short"));
    CHECK_FALSE(hash_password(std::string(kMaxPasswordLength + 1, 'x')));
    CHECK_FALSE(hash_password("has a\nline break"));
    CHECK(hash_problem("") != "");
    CHECK(hash_problem("plaintext-password") != "");
    CHECK(hash_problem("$1$abcdefgh$0123456789abcdefghijkl").find("weak") != std::string::npos);  // md5crypt
    CHECK(hash_problem("$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA").find("argon2") != std::string::npos);
    CHECK(hash_problem("$y$garbage") != "");
    CHECK_FALSE(verify_password("anything at all", "$1$abcdefgh$0123456789abcdefghijkl"));
    CHECK_FALSE(verify_password("anything at all", "not a hash"));
}
