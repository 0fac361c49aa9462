#include <doctest/doctest.h>

#include <string>

#include "admin/config_mask.h"
#include "common/fingerprint.h"

using namespace agd::admin;

namespace {

const std::string kFile =
    "\xEF\xBB\xBF; antigravityd.conf\n"
    "[auth]\n"
    "mode = strict\n"
    "key = gw-team-key-0001   ; the team's\n"
    "key=gw-ops-key-0002\n"
    "[provider.openai]\n"
    "base_url = https://api.openai.com/v1\n"
    "proxy = http://squid:pr0xy-pass@10.0.0.1:3128\n"
    "key = sk-live-aaaa weight=3\n"
    "  key = sk-live-bbbb\n"
    "extra_header = OpenAI-Organization: org-secret # theirs\n"
    "# key = sk-commented-out\n"
    "[client.ci]\n"
    "key = ci-key-0003\n"
    "models = gpt-*\n"
    "[admin]\n"
    "listen = 127.0.0.1:8046\n"
    "password_hash = $y$j9T$abc$def\n"
    "[server]\n"
    "key = not-a-secret-here\n";

}  // namespace

TEST_CASE("config mask: every secret becomes kept:FINGERPRINT, the rest stays") {
    MaskedConfig m = mask_config(kFile);
    CHECK(m.secrets == 8);
    CHECK(m.text.find("proxy = http://kept:" + agd::fingerprint("squid:pr0xy-pass") + "@10.0.0.1:3128\n") !=
          std::string::npos);
    for (const char* secret : {"squid:pr0xy-pass", "gw-team-key-0001", "gw-ops-key-0002", "sk-live-aaaa", "sk-live-bbbb", "org-secret",
                               "ci-key-0003", "$y$j9T$abc$def"}) {
        CHECK_MESSAGE(m.text.find(secret) == std::string::npos, secret);
        CHECK(m.text.find("kept:" + agd::fingerprint(secret)) != std::string::npos);
    }
    // Comments, options after a key, header names and other sections stay as written.
    CHECK(m.text.find("key = kept:" + agd::fingerprint("gw-team-key-0001") + "   ; the team's\n") !=
          std::string::npos);
    CHECK(m.text.find(" weight=3\n") != std::string::npos);
    CHECK(m.text.find("OpenAI-Organization: kept:") != std::string::npos);
    CHECK(m.text.find("# theirs") != std::string::npos);
    CHECK(m.text.find("# key = sk-commented-out") != std::string::npos);
    CHECK(m.text.find("key = not-a-secret-here") != std::string::npos);
    CHECK(m.text.find("base_url = https://api.openai.com/v1") != std::string::npos);
}

TEST_CASE("config mask: the edited file gets its secrets back") {
    MaskedConfig m = mask_config(kFile);
    Unmasked same = unmask_config(m.text, kFile);
    REQUIRE(same.ok());
    CHECK(same.text == kFile);

    // An edit elsewhere, a secret moved, a new one typed in, one removed.
    std::string edited = m.text;
    edited.replace(edited.find("mode = strict"), 13, "mode = open");
    edited += "[client.new]\nkey = brand-new-key-0009\n";
    std::string ci_line = "key = kept:" + agd::fingerprint("ci-key-0003") + "\n";
    edited.erase(edited.find(ci_line), ci_line.size());
    edited += "[client.moved]\n" + ci_line;
    Unmasked u = unmask_config(edited, kFile);
    REQUIRE(u.ok());
    CHECK(u.text.find("mode = open") != std::string::npos);
    CHECK(u.text.find("[client.moved]\nkey = ci-key-0003\n") != std::string::npos);
    CHECK(u.text.find("key = brand-new-key-0009") != std::string::npos);
    CHECK(u.text.find("kept:") == std::string::npos);

    // A fingerprint of no live secret, or a kept: outside a secret's place.
    Unmasked bad = unmask_config(m.text + "[client.x]\nkey = kept:00000000\n", kFile);
    CHECK_FALSE(bad.ok());
    CHECK(bad.line == 22);
    CHECK(bad.problem.find("kept:00000000") == 0);
    // A secret's fingerprint cannot be used to put it where it was not (a
    // header value is as secret as a key, so a key may move into one: both
    // stay out of the console).
    Unmasked other = unmask_config("[server]\nname = kept:" + agd::fingerprint("sk-live-aaaa") + "\n", kFile);
    REQUIRE(other.ok());
    CHECK(other.text.find("sk-live-aaaa") == std::string::npos);
}
