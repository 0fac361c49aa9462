// [admin]: the admin listener and who may use it.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "auth/password.h"
#include "config/loader.h"
#include "load_helpers.h"

using namespace agd::config;

namespace {

using test::first_error;
using test::kConf;

const std::string& a_hash() {
    static const std::string h = *agd::auth::hash_password("an admin password for tests");
    return h;
}

}  // namespace

TEST_CASE("config admin: a listener with its hashes, token, names") {
    std::string token_path = "/tmp/agd-admin-token-" + std::to_string(getpid());
    std::ofstream(token_path) << "# made by openssl rand -hex 32\n" << std::string(64, 'f') << "\n";
    chmod(token_path.c_str(), 0600);
    LoadResult r = load_string("[admin]\nlisten = 127.0.0.1:8046\nlisten = [::1]:8046\npassword_hash = " + a_hash() +
                                   "\nviewer_password_hash = " + a_hash() + "\ntoken_file = " + token_path +
                                   "\nhost = gw.example.lan\nhost = gw\nsession_timeout = 1h\n",
                               kConf);
    std::remove(token_path.c_str());
    INFO((r.errors.empty() ? std::string() : r.errors[0].str()));
    REQUIRE(r.ok());
    const AdminConfig& a = r.config->admin;
    CHECK(a.listen.size() == 2);
    CHECK(a.password_hash == a_hash());
    CHECK(a.viewer_password_hash == a_hash());
    CHECK(a.token == std::string(64, 'f'));
    CHECK(a.hosts.size() == 2);
    CHECK(a.session_timeout == std::chrono::hours(1));
    CHECK(r.warnings.empty());
}

TEST_CASE("config admin: locked by default and never in the clear") {
    CHECK(first_error("[admin]\nlisten = 127.0.0.1:8046\n") ==
          kConf + ":2: admin.listen: the admin listener needs admin.password_hash (antigravityd passwd prints one)");
    // Whatever the address: loopback is no excuse.
    CHECK(first_error("[admin]\nlisten = 0.0.0.0:8046\n").find("needs admin.password_hash") != std::string::npos);
    CHECK(first_error("[auth]\nadmin_password = hunter2-hunter2\n")
              .find("auth.admin_password: replaced by [admin] password_hash") != std::string::npos);
    CHECK(first_error("[admin]\npassword_hash = hunter2-hunter2\n").find("not a crypt(3) hash") != std::string::npos);
    CHECK(first_error("[admin]\npassword_hash = $1$saltsalt$0123456789abcdefghijkl\n").find("weak") !=
          std::string::npos);
    CHECK(first_error("[admin]\npassword_hash = $y$j9T$onlyasalt\n").find("not a valid crypt(3) hash") !=
          std::string::npos);
    // Never the client's or the metrics' port.
    CHECK(first_error("[server]\nlisten = 127.0.0.1:8045\n[admin]\nlisten = 127.0.0.1:8045\npassword_hash = " +
                      a_hash() + "\n") ==
          kConf + ":4: admin.listen: duplicate listen address \"127.0.0.1:8045\" (already on line 2)");
    CHECK(first_error("[metrics]\nlisten = 127.0.0.1:9464\n[admin]\nlisten = 127.0.0.1:9464\npassword_hash = " +
                      a_hash() + "\n") ==
          kConf + ":4: admin.listen: duplicate listen address \"127.0.0.1:9464\" (already on line 2)");
    // An ssl admin listener needs [tls]'s certificate like a client one.
    CHECK(first_error("[admin]\nlisten = 127.0.0.1:8046 ssl\npassword_hash = " + a_hash() + "\n") ==
          kConf + ":2: admin.listen: 127.0.0.1:8046 ssl serves TLS: set [tls] certificate and key (PEM files)");
    CHECK(first_error("[admin]\nsession_timeout = 10s\n") == kConf + ":2: admin.session_timeout: must be from 1m to 30d");
    CHECK(first_error("[admin]\nhost = http://gw/\n").find("expected a host name") != std::string::npos);
}

TEST_CASE("config admin: the token file") {
    std::string path = "/tmp/agd-admin-token-" + std::to_string(getpid());
    std::ofstream(path) << std::string(64, 'f') << "\n";
    chmod(path.c_str(), 0644);
    CHECK(first_error("[admin]\ntoken_file = " + path + "\n").find("may be read by other users") != std::string::npos);
    chmod(path.c_str(), 0600);
    std::ofstream(path) << "short\n";
    CHECK(first_error("[admin]\ntoken_file = " + path + "\n").find("at least 32 characters") != std::string::npos);
    std::remove(path.c_str());
    CHECK(first_error("[admin]\ntoken_file = " + path + "\n").find("cannot read") != std::string::npos);
}

TEST_CASE("config admin: a hash without a listener is said") {
    LoadResult r = load_string("[admin]\npassword_hash = " + a_hash() + "\n", kConf);
    REQUIRE(r.ok());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].str() == kConf + ":1: admin: no admin listen address: nothing serves the admin API");
}

TEST_CASE("config admin: not on the default client address either") {
    // No server.listen line: the client listener is the default, 127.0.0.1:8045.
    CHECK(first_error("[admin]\nlisten = 127.0.0.1:8045\npassword_hash = " + a_hash() + "\n") ==
          kConf + ":2: admin.listen: must not be a client listener (127.0.0.1:8045)");
}
