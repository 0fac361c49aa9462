// agd-mock-upstream: scripted OpenAI / Anthropic / Gemini upstream for
// antigravityd's tests and benchmarks. See README.md.
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "server.h"

namespace {

constexpr std::string_view kUsage =
    "usage: agd-mock-upstream [--listen HOST:PORT] [--port-file PATH] [--threads N]\n"
    "  --listen HOST:PORT  address to bind (default 127.0.0.1:0; port 0 = any free port;\n"
    "                      IPv6 as [::1]:PORT; a bare PORT means 127.0.0.1:PORT)\n"
    "  --port-file PATH    also write the bound port to PATH (atomically)\n"
    "  --threads N         worker threads (default 1 = serve on the main loop)\n"
    "Prints \"LISTENING <port>\" on stdout once bound. Exits 0 on SIGTERM/SIGINT.\n";

std::optional<long> parse_number(std::string_view text, long lo, long hi) {
    long value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || value < lo ||
        value > hi) {
        return std::nullopt;
    }
    return value;
}

bool parse_listen(std::string_view text, mock::Options& o) {
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return false;
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else if (std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    } else {
        port = text;
    }
    auto number = parse_number(port, 0, 65535);
    if (!number) {
        return false;
    }
    o.host = host.empty() ? "127.0.0.1" : std::string(host);
    o.port = static_cast<uint16_t>(*number);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    mock::Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string_view value;
        std::string_view name = arg;
        bool inline_value = false;
        if (std::size_t eq = arg.find('='); arg.substr(0, 2) == "--" && eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            inline_value = true;
        }
        if (name == "--help" || name == "-h") {
            fmt::print("{}", kUsage);
            return 0;
        }
        if (name != "--listen" && name != "--port-file" && name != "--threads") {
            fmt::print(stderr, "agd-mock-upstream: unknown option {}\n{}", arg, kUsage);
            return 2;
        }
        if (!inline_value) {
            if (i + 1 >= argc) {
                fmt::print(stderr, "agd-mock-upstream: {} needs a value\n{}", name, kUsage);
                return 2;
            }
            value = argv[++i];
        }
        if (name == "--listen") {
            if (!parse_listen(value, o)) {
                fmt::print(stderr, "agd-mock-upstream: bad --listen {}\n", value);
                return 2;
            }
        } else if (name == "--port-file") {
            if (value.empty()) {
                fmt::print(stderr, "agd-mock-upstream: empty --port-file\n");
                return 2;
            }
            o.port_file = std::string(value);
        } else {
            auto n = parse_number(value, 1, 256);
            if (!n) {
                fmt::print(stderr, "agd-mock-upstream: bad --threads {} (1..256)\n", value);
                return 2;
            }
            o.threads = static_cast<int>(*n);
        }
    }
    return mock::run_server(o);
}
