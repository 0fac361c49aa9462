// Request routing: API endpoints, listings, health and introspection.
#pragma once

#include <evhtp.h>

namespace mock {

// libevhtp request callback for every path.
void handle_request(evhtp_request_t* req, void* arg);

}  // namespace mock
