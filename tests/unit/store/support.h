// Shared by the store's tests: a temporary directory, a config with two
// providers, and finished-request records.
#pragma once

#include <doctest/doctest.h>

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "config/config.h"
#include "record/record.h"

namespace store_test {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/agd-store-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
        ::chmod(path.c_str(), 0755);  // tests that run as nobody need to reach into it
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

inline const agd::config::Config& test_config() {
    static const agd::config::Config cfg = [] {
        agd::config::Config c;
        c.providers.resize(2);
        c.providers[0].name = "openai";
        c.providers[1].name = "claude";
        return c;
    }();
    return cfg;
}

inline int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A chat request routed to provider 0 (openai, credential 1a2b3c4d) that went well.
inline agd::record::RequestRecord record(uint64_t id, int64_t ts_ms, std::string_view client = "alice",
                                         std::string_view model = "gpt-4o") {
    agd::record::RequestRecord r;
    r.id = id;
    r.unix_ms = ts_ms;
    r.client = client.empty() ? -1 : 0;
    r.client_name = client;
    r.addr = "192.0.2.7";
    r.method = "POST";
    r.path = "/v1/chat/completions";
    r.op = agd::Operation::ChatCompletions;
    r.protocol = agd::Protocol::OpenAIChat;
    r.upstream = true;
    r.model = model;
    r.model_sent = model;
    r.provider = 0;
    r.provider_name = "openai";
    r.credential = "1a2b3c4d";
    r.attempts.push_back({0, "1a2b3c4d", 200, agd::record::AttemptOutcome::Ok});
    r.status = 200;
    r.upstream_status = 200;
    r.usage.input = 100;
    r.usage.output = 20;
    r.usage.cache_read = 50;
    r.usage.cache_write = 0;
    r.usage.reasoning = 5;
    r.usage_state = agd::record::UsageState::Reported;
    r.ttfb_us = 120'000;
    r.ttft_us = 150'000;
    r.total_us = 900'000;
    r.bytes_in = 300;
    r.bytes_out = 1200;
    r.config = &test_config();
    return r;
}

inline agd::config::LogConfig log_config(const std::string& db) {
    agd::config::LogConfig c;
    c.database = db;
    return c;
}

inline uint64_t file_size(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Runs `fn` as an unprivileged user when this process is root (file modes do
// not stop root), in a forked child; returns what `fn` returned ("" = fine)
// or why the child failed.
inline std::string as_unprivileged(const std::function<std::string()>& fn) {
    if (::geteuid() != 0) return fn();
    std::fflush(nullptr);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string out;
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)
            out = "cannot become nobody";
        else
            out = fn();
        (void)!::write(fds[1], out.data(), out.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += " (child died)";
    return out;
}

// Polls `done` every 5 ms for at most 10 s (the writer thread's work).
inline bool eventually(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        ::usleep(5000);
    }
    return true;
}

}  // namespace store_test
