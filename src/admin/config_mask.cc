#include "admin/config_mask.h"

#include <map>

#include "common/fingerprint.h"

namespace agd::admin {

namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && (blank(s.front()) || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (blank(s.back()) || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// Where, within one line, a secret sits: [begin, end) (begin == end: none).
struct Span {
    size_t begin = 0, end = 0;
};

// Walks the file's lines as the loader reads them and reports each
// secret's place: f(line_start, span, line_number).
class SecretWalker {
public:
    template <class F>
    void walk(std::string_view file, F f) {
        size_t at = 0;
        unsigned number = 0;
        if (file.substr(0, 3) == "\xEF\xBB\xBF") at = 3;
        while (at < file.size()) {
            size_t nl = file.find('\n', at);
            size_t end = nl == std::string_view::npos ? file.size() : nl;
            ++number;
            Span s = secret_in(file.substr(at, end - at));
            if (s.end > s.begin) f(at, s, number);
            at = end + 1;
        }
    }

private:
    std::string section_;  // "auth", "client", "provider", "admin", or another

    Span secret_in(std::string_view line) {
        size_t i = 0;
        while (i < line.size() && blank(line[i])) ++i;
        if (i >= line.size() || line[i] == ';' || line[i] == '#') return {};
        // The line without an inline comment (';' or '#' after a blank).
        size_t stop = line.size();
        for (size_t j = i + 1; j < line.size(); ++j)
            if ((line[j] == ';' || line[j] == '#') && blank(line[j - 1])) {
                stop = j;
                break;
            }
        std::string_view body = line.substr(0, stop);
        if (line[i] == '[') {
            size_t close = body.find(']', i);
            std::string_view name = trim(body.substr(i + 1, close == std::string_view::npos ? 0 : close - i - 1));
            size_t dot = name.find('.');
            section_ = std::string(name.substr(0, dot));
            return {};
        }
        size_t eq = body.find_first_of("=:", i);
        if (eq == std::string_view::npos) return {};
        std::string_view key = trim(body.substr(i, eq - i));
        size_t v = eq + 1;
        while (v < body.size() && blank(body[v])) ++v;
        size_t vend = body.size();
        while (vend > v && (blank(body[vend - 1]) || body[vend - 1] == '\r')) --vend;
        if (v >= vend) return {};
        bool secret_key = key == "key" && (section_ == "auth" || section_ == "client" || section_ == "provider");
        if (secret_key) {
            // The key alone: options such as weight=N follow it after a blank.
            size_t k = v;
            while (k < vend && !blank(body[k])) ++k;
            return {v, k};
        }
        if (section_ == "provider" && key == "extra_header") {
            size_t colon = body.find(':', v);
            if (colon == std::string_view::npos || colon >= vend) return {};
            size_t h = colon + 1;
            while (h < vend && blank(body[h])) ++h;
            return {h, vend};
        }
        if (section_ == "admin" && (key == "password_hash" || key == "viewer_password_hash")) return {v, vend};
        if (section_ == "provider" && (key == "base_url" || key == "proxy" || key == "token_url")) {
            // A URL's userinfo ("http://user:SECRET@host"): the authority
            // ends at the first '/', '?' or '#', the userinfo at its last '@'.
            size_t scheme = body.find("://", v);
            if (scheme == std::string_view::npos || scheme >= vend) return {};
            size_t start = scheme + 3;
            size_t end = body.find_first_of("/?#", start);
            end = end == std::string_view::npos || end > vend ? vend : end;
            size_t at = body.rfind('@', end - 1);
            if (at == std::string_view::npos || at < start || end == start) return {};
            return {start, at};
        }
        return {};
    }
};

}  // namespace

MaskedConfig mask_config(std::string_view file) {
    MaskedConfig out;
    size_t copied = 0;
    SecretWalker().walk(file, [&](size_t line, Span s, unsigned) {
        std::string_view secret = file.substr(line + s.begin, s.end - s.begin);
        out.text.append(file.substr(copied, line + s.begin - copied));
        out.text.append(kKeptPrefix);
        out.text.append(fingerprint(secret));
        copied = line + s.end;
        ++out.secrets;
    });
    out.text.append(file.substr(copied));
    return out;
}

Unmasked unmask_config(std::string_view edited, std::string_view live) {
    std::map<std::string, std::string, std::less<>> secrets;  // fingerprint -> the secret
    SecretWalker().walk(live, [&](size_t line, Span s, unsigned) {
        std::string_view secret = live.substr(line + s.begin, s.end - s.begin);
        if (secret.substr(0, kKeptPrefix.size()) != kKeptPrefix) secrets.emplace(fingerprint(secret), secret);
    });
    Unmasked out;
    size_t copied = 0;
    SecretWalker().walk(edited, [&](size_t line, Span s, unsigned number) {
        std::string_view value = edited.substr(line + s.begin, s.end - s.begin);
        if (value.substr(0, kKeptPrefix.size()) != kKeptPrefix) return;  // a new secret, typed in
        auto it = secrets.find(value.substr(kKeptPrefix.size()));
        if (it == secrets.end()) {
            if (out.problem.empty()) {
                out.line = number;
                out.problem = std::string(value.substr(0, 40)) +
                              " names no secret of the live file: type the secret itself";
            }
            return;
        }
        out.text.append(edited.substr(copied, line + s.begin - copied));
        out.text.append(it->second);
        copied = line + s.end;
    });
    out.text.append(edited.substr(copied));
    return out;
}

}  // namespace agd::admin
