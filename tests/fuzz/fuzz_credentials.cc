// Fuzzes what upstreams, token endpoints and state files hand the
// credential ledger (src/credentials/): error bodies and rate-limit headers
// (hints.h) and their verdict (verdict.h), OAuth2 token files and token
// endpoint answers (oauth_token.h), the ledger's state file
// (ledger_file.h). Input: a selector byte, two status bytes, then the
// bytes. Checks that nothing crashes or overruns (ASan/UBSan), that every
// text kept for people is bounded, that a kept token is printable ASCII,
// and that a state file, once written, reads back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "credentials/hints.h"
#include "credentials/ledger.h"
#include "credentials/ledger_file.h"
#include "credentials/oauth_token.h"
#include "credentials/verdict.h"

using namespace agd::credentials;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool printable_token(const std::string& t) {
    for (char c : t)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
    return true;
}

// "name: value" lines, as an upstream's headers.
Headers header_lines(std::string_view text) {
    Headers h;
    while (!text.empty() && h.size() < 64) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(line.substr(0, colon));
        for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        h.emplace_back(std::move(name), std::string(value));
    }
    return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    unsigned sel = data[0];
    int status = 100 + (data[1] | (data[2] << 8)) % 500;
    std::string_view rest(reinterpret_cast<const char*>(data + 3), size - 3);
    const int64_t wall = 1'800'000'000'000;

    switch (sel % 4) {
        case 0: {  // an error answer: headers, a blank line, the body
            size_t split = rest.find("\n\n");
            Hints h;
            read_headers(header_lines(rest.substr(0, split)), wall, h);
            if (split != std::string_view::npos) read_error_body(rest.substr(split + 2), h);
            for (const std::string* s : {&h.error_type, &h.error_code, &h.message, &h.quota_id, &h.quota_model})
                check(s->size() <= kMaxHintText);
            check(h.retry_after_ms >= -1 && h.retry_after_ms <= kMaxHintMs);
            Verdict v = classify(status, h, wall);
            check(v.why.size() <= 4 * kMaxHintText);
            // What the ledger does with it stays within its bounds.
            CredentialState state;
            Policy p;
            state.record("m", v, h, status, 1000, p);
            (void)state.check("m", 2000, p);
            (void)state.check("other", 2000, p);
            break;
        }
        case 1: {  // a token file
            auto t = parse_token_file(rest);
            if (t) {
                check(!t->refresh_token.empty() && printable_token(t->refresh_token));
                check(printable_token(t->access_token));
                auto again = parse_token_file(token_file_json(*t));
                check(again && again->refresh_token == t->refresh_token && again->access_token == t->access_token);
            }
            break;
        }
        case 2: {  // a token endpoint's answer
            TokenGrant g = parse_token_answer(status, rest);
            if (g.ok) check(!g.access_token.empty() && printable_token(g.access_token) && printable_token(g.refresh_token));
            check(g.message.size() <= 64 + 2 * kMaxHintText);
            for (char c : g.message) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
            break;
        }
        default: {  // the ledger's state file
            Ledger a;
            auto n = load_ledger_json(a, rest, 5000, wall);
            if (!n) break;
            // Once written, the file reads back to itself (the first write
            // may normalize: invalid UTF-8 becomes U+FFFD).
            std::string written = ledger_json(a, 5000, wall);
            Ledger b;
            check(load_ledger_json(b, written, 5000, wall).ok());
            std::string again = ledger_json(b, 5000, wall);
            Ledger c;
            check(load_ledger_json(c, again, 5000, wall).ok());
            check(ledger_json(c, 5000, wall) == again);
            break;
        }
    }
    return 0;
}
