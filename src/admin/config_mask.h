// The configuration file as the console edits it: the file as written (its
// comments, order and layout kept), each secret in it replaced by
// "kept:FINGERPRINT", which a check or a write puts back from the live
// file. The console never sees a key, a header's secret value or a
// password hash, and the file it sends back still holds them.
//
// Secrets: [auth] key, [client.NAME] key, [provider.NAME] key (the key
// itself; "weight=N" after it stays visible), [provider.NAME] extra_header
// (its value), the userinfo of a [provider.NAME] base_url, proxy or
// token_url ("http://user:pass@host"), [admin] password_hash and
// viewer_password_hash. Lines are
// read as the loader reads them (a BOM, leading blanks, ';' or '#'
// comments at the start or after a blank).
#pragma once

#include <string>
#include <string_view>
#include <vector>


namespace agd::admin {

inline constexpr std::string_view kKeptPrefix = "kept:";

struct MaskedConfig {
    std::string text;
    unsigned secrets = 0;  // how many were replaced
};

MaskedConfig mask_config(std::string_view file);

struct Unmasked {
    std::string text;
    unsigned line = 0;     // the first line whose "kept:" names no secret of the live file
    std::string problem;   // what is wrong with it ("" when all is well)
    bool ok() const { return problem.empty(); }
};

// `edited` with every "kept:FINGERPRINT" in a secret's place replaced by the
// secret of `live` with that fingerprint (a secret typed in stays as typed).
Unmasked unmask_config(std::string_view edited, std::string_view live);

}  // namespace agd::admin
