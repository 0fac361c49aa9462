// MediaFetch: downloads the http(s) images of a translated request whose
// target takes no web URLs (Gemini: protocols.md §6.4), one after the
// other on the worker's upstream client, so that they can be sent inline.
// Each download is capped in size, must answer 2xx with an image type, and
// is not redirected (the client gives the final URL). The result comes
// back once, through the callback, from the worker's loop.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.h"
#include "translate/ir.h"
#include "upstream/client.h"

namespace agd::dispatch {

class MediaFetch : public upstream::Listener {
public:
    static constexpr size_t kMaxBytes = 20u << 20;  // Gemini's whole inline request limit

    using Done = std::function<void(Status)>;

    // `todo` points into the request being translated, which outlives this.
    MediaFetch(upstream::Client& client, std::vector<ir::Media*> todo, upstream::Request proto);
    ~MediaFetch() override;
    MediaFetch(const MediaFetch&) = delete;
    MediaFetch& operator=(const MediaFetch&) = delete;

    void start(Done done);
    void cancel();

    void on_headers(long status, upstream::HeaderList&& headers) override;
    size_t on_body(const char* data, size_t len) override;
    void on_done(upstream::Outcome outcome, std::string_view message) override;

private:
    void next();
    void finish(Status st);

    upstream::Client& client_;
    std::vector<ir::Media*> todo_;
    upstream::Request proto_;  // timeouts and proxy for the downloads
    size_t index_ = 0;
    upstream::Transfer* transfer_ = nullptr;
    Done done_;
    long status_ = 0;
    std::string mime_;
    std::string bytes_;
    std::string error_;
};

// Standard base64 of `bytes`.
std::string base64_encode(std::string_view bytes);

}  // namespace agd::dispatch
