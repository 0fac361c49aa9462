#include "upstream/client.h"

#include <strings.h>

#include <cstdlib>
#include <initializer_list>

#include "upstream/curl_engine.h"
#include "upstream/h1_engine.h"

namespace agd::upstream {

namespace {

bool env_set(std::initializer_list<const char*> names) {
    for (const char* name : names) {
        const char* v = std::getenv(name);
        if (v && *v) return true;
    }
    return false;
}

}  // namespace

// libcurl honours these (and no_proxy): while one is set for a scheme, every
// request of that scheme goes through libcurl so that the proxy keeps being
// used.
Client::Client(event_base* base)
    : h1_(std::make_unique<H1Engine>(base)),
      curl_(std::make_unique<CurlEngine>(base)),
      http_proxy_(env_set({"http_proxy", "all_proxy", "ALL_PROXY"})),
      https_proxy_(env_set({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})) {}

Client::~Client() = default;

Transfer* Client::start(const Request& req, Listener* listener) {
    bool https = strncasecmp(req.url.c_str(), "https://", 8) == 0;
    if (!(https ? https_proxy_ : http_proxy_)) {
        bool declined = false;
        Transfer* t = h1_->start(req, listener, declined);
        if (!declined) return t;
    }
    return curl_->start(req, listener);
}

size_t Client::active() const { return curl_->active() + h1_->active(); }

}  // namespace agd::upstream
