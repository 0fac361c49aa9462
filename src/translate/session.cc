#include "translate/session.h"

#include <openssl/rand.h>

namespace agd::translate {
namespace {

std::string lookup(const std::vector<std::pair<std::string, std::string>>& map, std::string_view key, bool forward) {
    for (const auto& [c, u] : map) {
        if (forward ? c == key : u == key) return forward ? u : c;
    }
    return std::string(key);
}

}  // namespace

std::string Session::upstream_tool_name(std::string_view client_name) const { return lookup(tool_names, client_name, true); }
std::string Session::client_tool_name(std::string_view upstream_name) const { return lookup(tool_names, upstream_name, false); }
std::string Session::upstream_call_id(std::string_view client_id) const { return lookup(call_ids, client_id, true); }
std::string Session::client_call_id(std::string_view upstream_id) const { return lookup(call_ids, upstream_id, false); }

void Session::map_tool_name(std::string client_name, std::string upstream_name) {
    if (client_name == upstream_name) return;
    for (const auto& [c, u] : tool_names)
        if (c == client_name) return;
    tool_names.emplace_back(std::move(client_name), std::move(upstream_name));
}

void Session::map_call_id(std::string client_id, std::string upstream_id) {
    if (client_id == upstream_id) return;
    for (const auto& [c, u] : call_ids)
        if (c == client_id) return;
    call_ids.emplace_back(std::move(client_id), std::move(upstream_id));
}

const Session::ClientTool* Session::client_tool(std::string_view flat) const {
    for (const auto& t : client_tools)
        if (t.flat == flat) return &t;
    return nullptr;
}

void Session::add_client_tool(ClientTool t) {
    for (const auto& have : client_tools)
        if (have.flat == t.flat) return;
    client_tools.push_back(std::move(t));
}

std::string Session::flat_tool_name(std::string_view ns, std::string_view name) {
    if (ns.empty() || ns == "functions") return std::string(name);
    std::string flat;
    flat.reserve(ns.size() + 2 + name.size());
    flat.append(ns).append("__").append(name);
    return flat;
}

std::string Session::new_id(std::string_view prefix) {
    std::string id(prefix);
    if (seed != 0) {
        id += std::to_string(++counter);
        return id;
    }
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[24];
    if (RAND_bytes(rnd, sizeof rnd) != 1) {
        // The CSPRNG failing is not worth failing a request over: fall back to a counter.
        id += "x" + std::to_string(++counter);
        return id;
    }
    for (unsigned char b : rnd) id.push_back(alphabet[b % 62]);
    return id;
}

}  // namespace agd::translate
