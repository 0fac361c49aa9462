// Configs built in code for the metrics tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/glob.h"
#include "config/config.h"
#include "record/record.h"

namespace agd::metrics::test {

inline config::ModelPattern pattern(const std::string& text) {
    config::ModelPattern m;
    size_t eq = text.find('=');
    m.pattern = text.substr(0, eq);
    if (eq != std::string::npos) m.upstream_name = text.substr(eq + 1);
    m.is_glob = has_glob_chars(m.pattern);
    return m;
}

inline config::ProviderConfig provider(const std::string& name, std::vector<std::string> models,
                                       std::vector<std::string> keys = {}) {
    config::ProviderConfig p;
    p.name = name;
    p.base_url = "http://127.0.0.1:1";
    for (const auto& m : models) p.models.push_back(pattern(m));
    p.keys = std::move(keys);
    return p;
}

// Providers oa (gpt-4o, gpt-*, fast=gpt-real) and an (claude-sonnet,
// claude-*); clients team-a and team-b.
inline std::shared_ptr<config::Config> sample_config() {
    auto cfg = std::make_shared<config::Config>();
    cfg->providers.push_back(provider("oa", {"gpt-4o", "gpt-*", "fast=gpt-real"}, {"sk-oa-1", "sk-oa-2"}));
    cfg->providers.push_back(provider("an", {"claude-sonnet", "claude-*"}, {"sk-an-1"}));
    for (const char* n : {"team-a", "team-b"}) {
        config::ClientConfig c;
        c.name = n;
        cfg->clients.push_back(c);
    }
    return cfg;
}

inline record::RequestRecord upstream_record(const config::Config& cfg, std::string_view model, int provider,
                                             int client = 0, int status = 200) {
    record::RequestRecord r;
    r.config = &cfg;
    r.generation = 1;
    r.upstream = true;
    r.protocol = Protocol::OpenAIChat;
    r.model = model;
    r.provider = provider;
    r.client = client;
    r.status = status;
    r.total_us = 120'000;
    return r;
}

}  // namespace agd::metrics::test
