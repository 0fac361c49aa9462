// The web console's files, embedded at build time (src/admin/console/,
// turned into a source file by src/admin/embed_console.py), and how the
// admin listener answers a request for one: no file is read at run time.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agd::admin {

struct ConsoleAsset {
    const char* path;   // "/" (index.html) or "/assets/NAME"
    const char* type;   // Content-Type
    const char* etag;   // a strong ETag, quoted
    std::string_view body;
    std::string_view gzip;  // empty when compressing does not help
};

// Every file of the console (generated).
std::span<const ConsoleAsset> console_assets();
// The file served at `path`, or nullptr.
const ConsoleAsset* find_console_asset(std::string_view path);

// The console pages' policy: scripts, styles and images from the listener
// itself and nothing else (the JSON API keeps a policy that loads nothing).
inline constexpr const char* kConsolePolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

struct ConsoleReply {
    int status = 200;  // 200, or 304 when the browser's copy is current
    std::vector<std::pair<const char*, std::string>> headers;
    std::string_view body;  // empty for 304
};

// The answer to GET `asset` given the request's If-None-Match and
// Accept-Encoding headers: revalidated on every use (Cache-Control:
// no-cache; the ETag makes that a 304), gzip when the browser takes it.
ConsoleReply console_reply(const ConsoleAsset& asset, std::string_view if_none_match,
                           std::string_view accept_encoding);

// Does an Accept-Encoding header accept gzip (a q of 0 refuses it)?
bool accepts_gzip(std::string_view accept_encoding);
// Does an If-None-Match header name this ETag ("*" names any; weak
// comparison, as RFC 9110 asks for If-None-Match)?
bool etag_matches(std::string_view if_none_match, std::string_view etag);

}  // namespace agd::admin
