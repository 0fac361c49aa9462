// The stage interface and the chain that runs the stages of a request.
//
// A stage is built from one config snapshot, holds no per-request state
// (that lives in RequestContext) and is shared by all workers (const).
// Headers-phase stages run as soon as the request headers are parsed, before
// the body is read (so a refused client is never read into memory); body-
// phase stages run once the whole body has arrived.
#pragma once

#include <memory>
#include <vector>

namespace agd {

class RequestContext;

enum class StageResult {
    Continue,  // go on with the next stage
    Reply,     // the stage set a local reply (ctx.fail / ctx.reply); stop
    Pause,     // the stage started asynchronous work on this worker; it will finish the request
};

enum class Phase { Headers, Body };

class Stage {
public:
    virtual ~Stage() = default;
    virtual const char* name() const = 0;
    virtual Phase phase() const = 0;
    virtual StageResult on_request(RequestContext& ctx) const = 0;
};

class Chain {
public:
    void add(std::unique_ptr<Stage> stage) { stages_.push_back(std::move(stage)); }
    StageResult run(Phase phase, RequestContext& ctx) const {
        for (const auto& s : stages_) {
            if (s->phase() != phase) continue;
            StageResult r = s->on_request(ctx);
            if (r != StageResult::Continue) return r;
        }
        return StageResult::Continue;
    }
    size_t size() const { return stages_.size(); }

private:
    std::vector<std::unique_ptr<Stage>> stages_;
};

}  // namespace agd
