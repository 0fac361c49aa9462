// Redaction of credentials inside URLs, for everything a person or a log
// sees (status, log lines, error messages). A URL's userinfo
// ("http://alice:SECRET@host/v1") is replaced whole by "***"
// ("http://***@host/v1"): the user name can be a token too. As with keys
// (fingerprint.h), the secret itself is never shown.
#pragma once

#include <string>
#include <string_view>

namespace agd {

// One URL (a config value such as base_url or proxy): the userinfo, if
// any, becomes "***". The authority ends at the first '/', '?' or '#'
// (RFC 3986), and the userinfo at the last '@' inside it, so a raw '@' in
// a password is hidden too. Anything without "scheme://" is returned as is.
std::string redact_url(std::string_view url);

// Free text (an error message, a log line): every "scheme://user@host"
// inside it redacted as redact_url does; there the authority also ends at
// whitespace, a quote or an angle bracket. Text without "://" is returned
// unchanged (and cheaply).
std::string redact_urls(std::string_view text);

// Whether redact_urls would change `text`.
bool has_url_credentials(std::string_view text);

// A kept body (the request store): every occurrence of `secret` becomes
// "[redacted]"; with `cut` (the text was cut short) a start of it (4 bytes
// or more) at the very end too. Secrets under 8 bytes are left alone (they
// would match ordinary text).
void redact_secret(std::string& text, std::string_view secret, bool cut);

}  // namespace agd
