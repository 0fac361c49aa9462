#include <doctest/doctest.h>

#include <string>

#include "common/fingerprint.h"
#include "config/dump.h"
#include "config/loader.h"

using namespace agd::config;

namespace {

std::string errors(const LoadResult& r) {
    std::string s;
    for (const auto& d : r.errors) s += d.str() + "\n";
    return s;
}

// The dump without its first comment lines (they name the file).
std::string body(const std::string& dump) { return dump.substr(dump.find("\n[")); }

}  // namespace

TEST_CASE("config dump: defaults written out, keys as fingerprints, nothing secret") {
    LoadResult r = load_string(
        "[server]\nlisten = 127.0.0.1:8045\nmax_body_size = 64M\nupstream_timeout = 90s\n"
        "[auth]\nmode = strict\nkey = gw-secret-key-0001\n"
        "[client.team]\nkey = gw-team-key-0002\nrpm = 60\nexpires = 2027-01-31\nmodels = gpt-*, claude-*\n"
        "[provider.oa]\ntype = openai\napi = responses\nkey = sk-live-key-00000003 weight=2\n"
        "models = gpt-*, fast=gpt-4o-mini\nextra_header = OpenAI-Organization: org-hidden\n"
        "[model.gpt-5*]\nfallback = gpt-4.1\n"
        "[rule.long]\nmodels = gpt-*\nwire = responses\ndefault = max_output_tokens=32000\nremove = top_p\n",
        "/etc/antigravityd/antigravityd.conf");
    INFO(errors(r));
    REQUIRE(r.ok());
    std::string d = dump(*r.config);
    for (const char* secret : {"gw-secret-key-0001", "very-secret-pass", "gw-team-key-0002", "sk-live-key-00000003",
                               "org-hidden"})
        CHECK(d.find(secret) == std::string::npos);
    CHECK(d.find("key = fingerprint:" + agd::fingerprint("sk-live-key-00000003") + " weight=2\n") != std::string::npos);
    CHECK(d.find("key = fingerprint:" + agd::fingerprint("gw-team-key-0002") + "\n") != std::string::npos);
    CHECK(d.find("max_body_size = 64M\n") != std::string::npos);
    CHECK(d.find("upload_buffer_size = 1M\n") != std::string::npos);  // a default, written out
    CHECK(d.find("upstream_timeout = 90s\n") != std::string::npos);
    CHECK(d.find("retention = 30d\n") != std::string::npos);
    CHECK(d.find("models = gpt-*, fast=gpt-4o-mini\n") != std::string::npos);
    CHECK(d.find("expires = 2027-01-31\n") != std::string::npos);
    CHECK(d.find("[model.gpt-5*]\nfallback = gpt-4.1\n") != std::string::npos);
    CHECK(d.find("[rule.long]\nmodels = gpt-*\nwire = responses\ndefault = max_output_tokens=32000\nremove = top_p\n") !=
          std::string::npos);
}

TEST_CASE("config dump: what it prints loads again to the same configuration") {
    LoadResult r = load_string(
        "[server]\nlisten = 127.0.0.1:9000\nlisten = unix:/run/agd.sock\nworkers = 3\nclient_body_timeout = 1500ms\n"
        "[routing]\nstrategy = fill-first\nsticky = session\nfirst_token_timeout = 20s\n"
        "[access]\nallow = 10.0.0.0/8\ntrusted_proxy = 10.1.2.3\n"
        "[log]\nbodies = errors\nmax_size = 3G\n"
        "[metrics]\nlisten = 127.0.0.1:9464\n"
        "[model.claude-*]\nfirst_token_timeout = 0\n",
        "a.conf");
    INFO(errors(r));
    REQUIRE(r.ok());
    std::string once = dump(*r.config);
    LoadResult again = load_string(once, "b.conf");
    INFO(errors(again));
    REQUIRE(again.ok());
    CHECK(body(dump(*again.config)) == body(once));
}
