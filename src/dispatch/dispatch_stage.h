// The dispatcher stage: model -> matching providers that speak the client's
// protocol -> an Exchange that runs the request upstream.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "pipeline/stage.h"

namespace agd::dispatch {

class Router;
struct Match;

// The sticky-session key of a request (credentials::session_key): the
// x-session-id, session-id or session_id header, else the body's
// prompt_cache_key, metadata.user_id or user; 0 when it names none.
uint64_t session_of(const RequestContext& ctx, std::string_view model);

// Sets Match::translated: the provider does not speak the client's
// protocol (or the request is a legacy completion, translated whatever
// the wire; for embeddings and media, see Translation::needed). Providers
// without the operation's API are dropped: Anthropic for embeddings,
// images and audio; Gemini for everything of those but image generation.
void mark_translated(const RequestContext& ctx, const Router& router, std::vector<Match>& matches);

class DispatchStage final : public Stage {
public:
    const char* name() const override { return "dispatch"; }
    Phase phase() const override { return Phase::Body; }
    StageResult on_request(RequestContext& ctx) const override;
};

}  // namespace agd::dispatch
