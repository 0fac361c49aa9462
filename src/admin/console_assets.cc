#include "admin/console_assets.h"

#include <cstdlib>
#include "common/ascii.h"

namespace agd::admin {

namespace {

// Calls f(item) for each comma-separated item, trimmed; stops when f says so.
template <class F>
void each_item(std::string_view list, F f) {
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = trim_ows(list.substr(0, comma));
        if (!item.empty() && !f(item)) return;
        if (comma == std::string_view::npos) return;
        list.remove_prefix(comma + 1);
    }
}

}  // namespace

const ConsoleAsset* find_console_asset(std::string_view path) {
    for (const ConsoleAsset& a : console_assets())
        if (path == a.path) return &a;
    return nullptr;
}

bool accepts_gzip(std::string_view accept_encoding) {
    bool yes = false;
    each_item(accept_encoding, [&](std::string_view item) {
        size_t semi = item.find(';');
        std::string_view coding = trim_ows(item.substr(0, semi));
        if (!iequals(coding, "gzip") && coding != "*") return true;
        double q = 1;
        if (semi != std::string_view::npos) {
            std::string_view param = trim_ows(item.substr(semi + 1));
            if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                std::string value(trim_ows(param.substr(2)).substr(0, 8));
                q = std::strtod(value.c_str(), nullptr);
            }
        }
        if (coding == "*") {
            if (!yes) yes = q > 0;  // an explicit gzip entry wins over *
            return true;
        }
        yes = q > 0;
        return false;
    });
    return yes;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    bool match = false;
    if (trim_ows(if_none_match) == "*") return true;
    each_item(if_none_match, [&](std::string_view tag) {
        if (tag.size() > 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
        match = tag == etag;
        return !match;
    });
    return match;
}

ConsoleReply console_reply(const ConsoleAsset& asset, std::string_view if_none_match,
                           std::string_view accept_encoding) {
    ConsoleReply r;
    r.headers = {
        {"Content-Type", asset.type},
        {"Cache-Control", "no-cache"},
        {"ETag", asset.etag},
        {"Vary", "Accept-Encoding"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Content-Security-Policy", kConsolePolicy},
    };
    if (!if_none_match.empty() && etag_matches(if_none_match, asset.etag)) {
        r.status = 304;
        return r;
    }
    if (!asset.gzip.empty() && accepts_gzip(accept_encoding)) {
        r.headers.emplace_back("Content-Encoding", "gzip");
        r.body = asset.gzip;
    } else {
        r.body = asset.body;
    }
    return r;
}

}  // namespace agd::admin
