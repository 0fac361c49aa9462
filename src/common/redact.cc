#include "common/redact.h"

#include <algorithm>

namespace agd {
namespace {

constexpr std::string_view kMask = "***";

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_scheme_char(char c) { return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'; }

// Where the authority that starts at `from` ends. In free text it also
// ends where the URL does (whitespace, quotes, brackets around a URL).
std::size_t authority_end(std::string_view s, std::size_t from, bool in_text) {
    std::size_t i = from;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c == '/' || c == '?' || c == '#') break;
        if (in_text) {
            auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u == 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`' || c == '\\')
                break;
        }
    }
    return i;
}

// The "://" at `sep` starts a URL when a scheme (ALPHA *(ALPHA / DIGIT /
// "+" / "-" / ".")) ends right before it.
bool scheme_before(std::string_view s, std::size_t sep) {
    std::size_t b = sep;
    while (b > 0 && is_scheme_char(s[b - 1])) --b;
    while (b < sep && !is_alpha(s[b])) ++b;  // "1http://" in text: the scheme starts at the letter
    return b < sep;
}

// Appends s to out with every URL's userinfo masked. Returns whether any was.
bool redact_into(std::string_view s, bool in_text, std::string* out) {
    bool changed = false;
    std::size_t copied = 0;  // s[0, copied) is in out
    std::size_t pos = 0;
    for (;;) {
        std::size_t sep = s.find("://", pos);
        if (sep == std::string_view::npos) break;
        std::size_t start = sep + 3;
        if (!scheme_before(s, sep)) {
            pos = start;
            continue;
        }
        std::size_t end = authority_end(s, start, in_text);
        std::size_t at = s.substr(start, end - start).rfind('@');
        if (at != std::string_view::npos) {
            changed = true;
            if (out == nullptr) return true;
            out->append(s.substr(copied, start - copied));
            out->append(kMask);
            copied = start + at;  // from the '@' on
        }
        if (!in_text) break;  // one URL: its first "://" is the scheme's
        pos = end;
    }
    if (out) out->append(s.substr(copied));
    return changed;
}

}  // namespace

std::string redact_url(std::string_view url) {
    std::size_t sep = url.find("://");
    if (sep == std::string_view::npos) return std::string(url);
    bool plain = sep > 0 && is_alpha(url[0]);
    for (std::size_t i = 0; plain && i < sep; ++i) plain = is_scheme_char(url[i]);
    // Not "scheme://..." from its first byte: treat it as text, which masks
    // every userinfo it can find.
    std::string out;
    out.reserve(url.size());
    redact_into(url, !plain, &out);
    return out;
}

std::string redact_urls(std::string_view text) {
    if (text.find("://") == std::string_view::npos) return std::string(text);
    std::string out;
    out.reserve(text.size());
    redact_into(text, true, &out);
    return out;
}

bool has_url_credentials(std::string_view text) {
    if (text.find("://") == std::string_view::npos) return false;
    return redact_into(text, true, nullptr);
}

void redact_secret(std::string& text, std::string_view secret, bool cut) {
    constexpr std::string_view kMark = "[redacted]";
    if (secret.size() < 8) return;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + kMark.size()))
        text.replace(at, secret.size(), kMark);
    if (!cut) return;
    for (size_t n = std::min(text.size(), secret.size() - 1); n >= 4; --n) {
        if (text.compare(text.size() - n, n, secret.substr(0, n)) == 0) {
            text.replace(text.size() - n, n, kMark);
            return;
        }
    }
}

}  // namespace agd
