// Resolver: host names to addresses for the native HTTP/1.1 engine, without
// blocking the worker. IP literals are answered at once. A name is looked up
// with the system's resolver (getaddrinfo: /etc/hosts, DNS, whatever
// nsswitch.conf says, as libcurl does) on a short-lived thread of its own;
// the answer comes back to the worker's loop and is cached for kFresh. An
// expired entry keeps being used while a new lookup runs. A name not
// resolved yet (or whose lookup failed within kRetryFailed) gets no answer:
// the caller sends that request through libcurl instead of waiting.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct event_base;
struct event;

namespace agd::upstream {

struct Address {
    sockaddr_storage addr{};
    socklen_t len = 0;
};

class Resolver {
public:
    static constexpr std::chrono::seconds kFresh{60};
    static constexpr std::chrono::seconds kRetryFailed{10};

    explicit Resolver(event_base* base);
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // The addresses of host with port set, or nullptr (a lookup is started
    // if none is running and the last one did not fail within kRetryFailed).
    // The pointer is valid until the next call.
    const std::vector<Address>* lookup(const std::string& host, uint16_t port);

private:
    struct Entry {
        std::vector<Address> addrs;
        std::chrono::steady_clock::time_point at{};  // of the last answer (or failure)
        bool pending = false;
        bool failed = false;
        bool literal = false;
    };
    struct Inbox;  // shared with the lookup threads
    static void on_wake(int fd, short events, void* arg);
    void start_query(const std::string& host, Entry& e);

    std::shared_ptr<Inbox> inbox_;
    std::unordered_map<std::string, Entry> cache_;
    std::vector<Address> scratch_;
};

}  // namespace agd::upstream
