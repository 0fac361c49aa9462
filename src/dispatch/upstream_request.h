// Building the upstream HTTP request of a same-protocol passthrough: the
// URL of the operation under the provider's base_url, the provider's auth
// header, the few client headers that matter upstream, and the body with
// only the model name rewritten. Client credentials and hop-by-hop headers
// are never forwarded.
#pragma once

#include <string>

#include "upstream/client.h"

namespace agd {
class RequestContext;
}

namespace agd::dispatch {

struct Provider;
struct Credential;

// Fills req (URL, headers) and, when the body is changed (the model
// renamed, usage asked of a Chat stream), `owned_body` (which req.body then
// points into). The caller keeps owned_body alive. True when a Chat
// stream's usage chunk was asked for on the client's behalf: the client
// must not see it.
bool build_passthrough(const RequestContext& ctx, const Provider& provider, const Credential& cred,
                       const std::string& upstream_model, upstream::Request& req, std::string& owned_body);

enum class UpstreamCall { Generate, Stream, CountTokens, Embed };

// The upstream HTTP request of a translated call: the provider wire's own
// URL for the call, its auth header, and `body` (an encoded request, which
// the caller keeps alive).
void build_translated(const RequestContext& ctx, const Provider& provider, const Credential& cred,
                      const std::string& upstream_model, UpstreamCall call, const std::string& body,
                      upstream::Request& req);

// Seconds from a Retry-After header value (delta-seconds or HTTP-date); -1 if absent/unparsable.
long long parse_retry_after(const std::string& value, long long now_unix);

}  // namespace agd::dispatch
