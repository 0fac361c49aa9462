#include "translate/sse.h"

namespace agd::sse {
namespace {

// Position just past the line ending that starts at i (buf[i] is \r or \n);
// npos when a lone \r sits at the very end (it may be half of \r\n).
size_t skip_eol(std::string_view buf, size_t i) {
    if (buf[i] == '\n') return i + 1;
    if (i + 1 >= buf.size()) return std::string_view::npos;
    return buf[i + 1] == '\n' ? i + 2 : i + 1;
}

}  // namespace

size_t complete_prefix(std::string_view buf) {
    Scan scan;
    return complete_prefix(buf, scan);
}

size_t complete_prefix(std::string_view buf, Scan& scan) {
    size_t done = 0;
    size_t line_start = scan.line_start;
    size_t i = scan.pos;
    while (i < buf.size()) {
        char c = buf[i];
        if (c != '\n' && c != '\r') {
            ++i;
            continue;
        }
        size_t next = skip_eol(buf, i);
        if (next == std::string_view::npos) break;
        if (i == line_start) done = next;  // an empty line ends an event
        line_start = next;
        i = next;
    }
    scan.pos = i;
    scan.line_start = line_start;
    return done;
}

bool next_block(std::string_view& rest, std::string_view& block) {
    size_t line_start = 0;
    size_t i = 0;
    while (i < rest.size()) {
        char c = rest[i];
        if (c != '\n' && c != '\r') {
            ++i;
            continue;
        }
        size_t next = skip_eol(rest, i);
        if (next == std::string_view::npos) next = rest.size();
        if (i == line_start) {
            block = rest.substr(0, line_start);
            rest.remove_prefix(next);
            return true;
        }
        line_start = next;
        i = next;
    }
    if (rest.empty()) return false;
    block = rest;  // trailing event without its blank line
    rest = {};
    return true;
}

Event parse_event(std::string_view block) {
    Event ev;
    bool first_data = true;
    while (!block.empty()) {
        size_t eol = block.find_first_of("\r\n");
        std::string_view line = block.substr(0, eol);
        if (eol == std::string_view::npos) block = {};
        else block.remove_prefix(skip_eol(block, eol) == std::string_view::npos ? block.size() : skip_eol(block, eol));
        if (line.empty() || line[0] == ':') continue;
        size_t colon = line.find(':');
        std::string_view field = line.substr(0, colon);
        std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
        if (field == "event") ev.name = value;
        else if (field == "data") {
            if (!first_data) ev.data.push_back('\n');
            ev.data.append(value);
            first_data = false;
        }
    }
    return ev;
}

}  // namespace agd::sse
