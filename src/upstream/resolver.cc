#include "upstream/resolver.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

namespace agd::upstream {

// Answers travel from the lookup threads to the worker through the inbox; a
// thread that finishes after its worker's resolver is gone finds it closed.
struct Resolver::Inbox {
    std::mutex mu;
    bool open = true;
    event* wake = nullptr;  // activated (thread-safely) when answers wait
    std::vector<std::pair<std::string, std::vector<Address>>> answers;
};

namespace {

void set_port(Address& a, uint16_t port) {
    if (a.addr.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&a.addr)->sin_port = htons(port);
    else if (a.addr.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&a.addr)->sin6_port = htons(port);
}

bool literal(const std::string& host, Address& out) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out.addr);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        out.len = sizeof(sockaddr_in);
        return true;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.addr);
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        out.len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

std::vector<Address> system_lookup(const std::string& host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    addrinfo* res = nullptr;
    std::vector<Address> out;
    if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
        Address a;
        std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
        a.len = static_cast<socklen_t>(ai->ai_addrlen);
        out.push_back(a);
    }
    freeaddrinfo(res);
    return out;
}

}  // namespace

Resolver::Resolver(event_base* base) : inbox_(std::make_shared<Inbox>()) {
    inbox_->wake = event_new(base, -1, 0, &Resolver::on_wake, this);
}

Resolver::~Resolver() {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    inbox_->open = false;
    event_free(inbox_->wake);
    inbox_->wake = nullptr;
}

const std::vector<Address>* Resolver::lookup(const std::string& host, uint16_t port) {
    auto [it, added] = cache_.try_emplace(host);
    Entry& e = it->second;
    if (added) {
        Address a;
        if (literal(host, a)) {
            e.addrs.push_back(a);
            e.literal = true;
        }
    }
    if (!e.literal && !e.pending) {
        auto now = std::chrono::steady_clock::now();
        bool due = e.addrs.empty() ? (!e.failed || now - e.at >= kRetryFailed) : now - e.at >= kFresh;
        if (due) start_query(host, e);
    }
    if (e.addrs.empty()) return nullptr;
    scratch_ = e.addrs;
    for (Address& a : scratch_) set_port(a, port);
    return &scratch_;
}

void Resolver::start_query(const std::string& host, Entry& e) {
    e.pending = true;
    std::shared_ptr<Inbox> inbox = inbox_;
    auto work = [inbox, host]() {
        std::vector<Address> addrs = system_lookup(host);
        std::lock_guard<std::mutex> lock(inbox->mu);
        if (!inbox->open) return;
        inbox->answers.emplace_back(host, std::move(addrs));
        event_active(inbox->wake, 0, 0);
    };
    try {
        std::thread(std::move(work)).detach();
    } catch (...) {  // no thread to spare: this name stays with libcurl for now
        e.pending = false;
        e.failed = e.addrs.empty();
        e.at = std::chrono::steady_clock::now();
    }
}

void Resolver::on_wake(int, short, void* arg) {
    auto* self = static_cast<Resolver*>(arg);
    std::vector<std::pair<std::string, std::vector<Address>>> answers;
    {
        std::lock_guard<std::mutex> lock(self->inbox_->mu);
        answers.swap(self->inbox_->answers);
    }
    auto now = std::chrono::steady_clock::now();
    for (auto& [host, addrs] : answers) {
        Entry& e = self->cache_[host];
        e.pending = false;
        e.at = now;
        if (!addrs.empty()) {
            e.addrs = std::move(addrs);
            e.failed = false;
        } else {
            // A failed refresh keeps the last good answer; a name never
            // resolved stays with libcurl until kRetryFailed has passed.
            e.failed = e.addrs.empty();
        }
    }
}

}  // namespace agd::upstream
