#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/key_file.h"
#include "config/loader.h"

using namespace agd::config;
namespace fs = std::filesystem;

namespace {

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/agd-keyfile-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
        fs::path p = path / name;
        std::ofstream(p) << text;
        ::chmod(p.c_str(), mode);
        return p.string();
    }
};

// Sets an environment variable for one scope.
struct Env {
    std::string name;
    Env(const char* n, const std::string& v) : name(n) { ::setenv(n, v.c_str(), 1); }
    ~Env() { ::unsetenv(name.c_str()); }
};

std::string errors(const LoadResult& r) {
    std::string s;
    for (const auto& d : r.errors) s += d.str() + "\n";
    return s;
}

}  // namespace

TEST_CASE("key files: one key a line, comments and blanks skipped, others may not read them") {
    TempDir d;
    auto keys = read_key_file(d.write("k", "# team keys\nsk-live-aaaa1111\n\n  sk-live-bbbb2222  \r\n#sk-old\n"));
    REQUIRE(keys.ok());
    CHECK(keys.value() == std::vector<std::string>{"sk-live-aaaa1111", "sk-live-bbbb2222"});

    auto open = read_key_file(d.write("o", "sk-live-cccc3333\n", 0644));
    REQUIRE_FALSE(open.ok());
    CHECK(open.error().message.find("may be read by other users (mode 644)") != std::string::npos);
    CHECK(open.error().message.find("sk-live") == std::string::npos);  // never the key
    CHECK(read_key_file(d.write("g", "sk-live-dddd4444\n", 0640)).ok());  // the service's group may
    CHECK_FALSE(read_key_file((d.path / "absent").string()).ok());
    CHECK_FALSE(read_key_file(d.path.string()).ok());  // a directory
}

TEST_CASE("key files: relative paths under $CREDENTIALS_DIRECTORY, else next to the configuration") {
    CHECK(key_file_path("/abs/k", "/etc/antigravityd/antigravityd.conf") == "/abs/k");
    ::unsetenv("CREDENTIALS_DIRECTORY");
    CHECK(key_file_path("keys/openai", "/etc/antigravityd/antigravityd.conf") == "/etc/antigravityd/keys/openai");
    CHECK(key_file_path("openai", "agd.conf") == "openai");
    Env creds("CREDENTIALS_DIRECTORY", "/run/credentials/antigravityd.service");
    CHECK(key_file_path("openai", "/etc/antigravityd/antigravityd.conf") ==
          "/run/credentials/antigravityd.service/openai");
}

TEST_CASE("key files: providers, clients and [auth] take their keys from them") {
    TempDir d;
    d.write("openai", "sk-proj-live0000aaaa weight=3\nsk-proj-live0000bbbb\n");
    d.write("team", "gw-team-key-0001\n");
    d.write("default", "gw-default-key-0002\n");
    Env creds("CREDENTIALS_DIRECTORY", d.path.string());
    LoadResult r = load_string(
        "[auth]\nmode = strict\nkey_file = default\n"
        "[client.team]\nkey_file = team\n"
        "[routing]\nstrategy = weighted\n"
        "[provider.openai]\ntype = openai\nkey_file = openai\nkey = sk-proj-live0000cccc\nmodels = gpt-*\n",
        "/etc/antigravityd/antigravityd.conf");
    INFO(errors(r));
    REQUIRE(r.ok());
    const Config& c = *r.config;
    REQUIRE(c.providers.size() == 1);
    CHECK(c.providers[0].keys ==
          std::vector<std::string>{"sk-proj-live0000aaaa", "sk-proj-live0000bbbb", "sk-proj-live0000cccc"});
    REQUIRE(c.clients.size() == 2);
    CHECK(c.auth.keys == std::vector<std::string>{"gw-default-key-0002"});
    CHECK(c.clients[1].keys == std::vector<std::string>{"gw-team-key-0001"});

    // A file others may read, one missing, one empty: errors that name the
    // file, never a key.
    d.write("loose", "sk-proj-live0000dddd\n", 0604);
    d.write("empty", "# nothing yet\n");
    LoadResult bad = load_string("[provider.a]\ntype = openai\nkey_file = loose\nmodels = a\n"
                                 "[provider.b]\ntype = openai\nkey_file = missing\nmodels = b\n"
                                 "[provider.c]\ntype = openai\nkey_file = empty\nmodels = c\n",
                                 "x.conf");
    std::string e = errors(bad);
    CHECK_FALSE(bad.ok());
    CHECK(e.find("x.conf:3: provider.a.key_file: " + (d.path / "loose").string() + " may be read by other users") !=
          std::string::npos);
    CHECK(e.find("x.conf:7: provider.b.key_file: cannot read " + (d.path / "missing").string()) != std::string::npos);
    CHECK(e.find("x.conf:11: provider.c.key_file: " + (d.path / "empty").string() + " holds no key") !=
          std::string::npos);
    CHECK(e.find("sk-proj-live0000dddd") == std::string::npos);
}
