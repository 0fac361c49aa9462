#include "upstream/client.h"

#include <cstdlib>

#include "upstream/curl_engine.h"
#include "upstream/h1_engine.h"

namespace agd::upstream {

namespace {

// libcurl honours these for plain-HTTP URLs; while one is set, every
// request goes through libcurl so that the proxy keeps being used.
bool environment_proxy() {
    for (const char* name : {"http_proxy", "all_proxy", "ALL_PROXY"}) {
        const char* v = std::getenv(name);
        if (v && *v) return true;
    }
    return false;
}

}  // namespace

Client::Client(event_base* base) : curl_(std::make_unique<CurlEngine>(base)) {
    if (!environment_proxy()) h1_ = std::make_unique<H1Engine>(base);
}

Client::~Client() = default;

Transfer* Client::start(const Request& req, Listener* listener) {
    if (h1_) {
        bool declined = false;
        Transfer* t = h1_->start(req, listener, declined);
        if (!declined) return t;
    }
    return curl_->start(req, listener);
}

size_t Client::active() const { return curl_->active() + (h1_ ? h1_->active() : 0); }

}  // namespace agd::upstream
