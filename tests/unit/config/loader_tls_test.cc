// [tls] and `listen = ADDRESS:PORT ssl`.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "config/loader.h"
#include "load_helpers.h"

using namespace agd::config;

namespace {

using test::first_error;
using test::kConf;

const std::string kTls = "[tls]\ncertificate = /etc/ssl/agd.pem\nkey = /etc/ssl/private/agd.key\n";

}  // namespace

TEST_CASE("config tls: an ssl listener with its certificate") {
    unsetenv("CREDENTIALS_DIRECTORY");
    LoadResult r = load_string("[server]\nlisten = 127.0.0.1:0\nlisten = 127.0.0.1:8443 ssl\n" + kTls +
                                   "client_ca = clients.pem\nmin_version = 1.3\n",
                               kConf);
    REQUIRE(r.ok());
    const Config& c = *r.config;
    REQUIRE(c.server.listen.size() == 2);
    CHECK_FALSE(c.server.listen[0].tls);
    CHECK(c.server.listen[1].tls);
    CHECK(c.server.listen[1].port == 8443);
    CHECK(c.server.listen[1].text == "127.0.0.1:8443 ssl");
    CHECK(has_tls_listener(c));
    CHECK(c.tls.certificate == "/etc/ssl/agd.pem");
    CHECK(c.tls.key == "/etc/ssl/private/agd.key");
    CHECK(c.tls.client_ca == "/etc/antigravityd/clients.pem");  // next to the file
    CHECK(c.tls.min_version == TlsVersion::V1_3);
    CHECK(r.warnings.empty());
}

TEST_CASE("config tls: relative paths under $CREDENTIALS_DIRECTORY") {
    setenv("CREDENTIALS_DIRECTORY", "/run/credentials/antigravityd.service", 1);
    LoadResult r = load_string("[server]\nlisten = 0.0.0.0:8443 ssl\n[auth]\nkey = sk-agd-0123456789\n"
                               "[tls]\ncertificate = tls.pem\nkey = tls.key\n",
                               kConf);
    unsetenv("CREDENTIALS_DIRECTORY");
    REQUIRE(r.ok());
    CHECK(r.config->tls.certificate == "/run/credentials/antigravityd.service/tls.pem");
    CHECK(r.config->tls.key == "/run/credentials/antigravityd.service/tls.key");
}

TEST_CASE("config tls: errors") {
    CHECK(first_error("[server]\nlisten = 127.0.0.1:8443 ssl\n") ==
          kConf + ":2: server.listen: 127.0.0.1:8443 ssl serves TLS: set [tls] certificate and key (PEM files)");
    CHECK(first_error("[server]\nlisten = 127.0.0.1:8443 ssl\n[tls]\ncertificate = /a.pem\n") ==
          kConf + ":2: server.listen: 127.0.0.1:8443 ssl serves TLS: set [tls] certificate and key (PEM files)");
    CHECK(first_error("[server]\nlisten = 127.0.0.1:8443 tls\n") ==
          kConf + ":2: server.listen: unknown listen option \"tls\" (expected ssl)");
    CHECK(first_error("[server]\nlisten = unix:/run/agd.sock ssl\n" + kTls) ==
          kConf + ":2: server.listen: ssl is for TCP addresses, not unix sockets");
    CHECK(first_error("[metrics]\nlisten = 127.0.0.1:9100 ssl\n") ==
          kConf + ":2: metrics.listen: ssl is only for server.listen and admin.listen");
    CHECK(first_error("[server]\nlisten = 127.0.0.1:8443 ssl\n" + kTls + "min_version = 1.1\n") ==
          kConf + ":6: tls.min_version: expected 1.2 or 1.3, got \"1.1\"");
    CHECK(first_error(kTls + "ciphers = HIGH\n") ==
          kConf + ":4: tls.ciphers: unknown key (expected certificate, key, client_ca or min_version)");
    CHECK(first_error(kTls + "key = /other.key\n") .find("tls.key") != std::string::npos);
    // The same address with and without ssl is still one address.
    CHECK(first_error("[server]\nlisten = 127.0.0.1:8443\nlisten = 127.0.0.1:8443 ssl\n" + kTls) ==
          kConf + ":3: server.listen: duplicate listen address \"127.0.0.1:8443\" (already on line 2)");
}

TEST_CASE("config tls: a [tls] section no listener uses is said") {
    LoadResult r = load_string(kTls, kConf);
    REQUIRE(r.ok());
    REQUIRE(r.warnings.size() == 1);
    CHECK(r.warnings[0].str() ==
          kConf + ":1: tls: no server.listen or admin.listen address is `ssl`: this section is not used");
}

TEST_CASE("config tls: an empty [tls] section (the shipped file's) is quiet") {
    LoadResult r = load_string("[tls]\n#certificate = /etc/antigravityd/tls/fullchain.pem\n", kConf);
    REQUIRE(r.ok());
    CHECK(r.warnings.empty());
}
