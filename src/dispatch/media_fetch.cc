#include "dispatch/media_fetch.h"

#include <openssl/evp.h>

#include <cctype>

#include "common/redact.h"

namespace agd::dispatch {

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
}

MediaFetch::MediaFetch(upstream::Client& client, std::vector<ir::Media*> todo, upstream::Request proto)
    : client_(client), todo_(std::move(todo)), proto_(std::move(proto)) {}

MediaFetch::~MediaFetch() { cancel(); }

void MediaFetch::start(Done done) {
    done_ = std::move(done);
    next();
}

void MediaFetch::cancel() {
    if (transfer_) {
        transfer_->cancel();
        transfer_ = nullptr;
    }
    done_ = nullptr;
}

void MediaFetch::finish(Status st) {
    Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(st));  // may destroy this
}

void MediaFetch::next() {
    if (index_ >= todo_.size()) return finish({});
    const ir::Media& m = *todo_[index_];
    upstream::Request req = proto_;
    req.url = m.url;
    req.post = false;
    req.body = nullptr;
    req.body_len = 0;
    req.headers = {"Accept: image/*"};
    status_ = 0;
    mime_.clear();
    bytes_.clear();
    error_.clear();
    transfer_ = client_.start(req, this);
    if (!transfer_) finish(Error{400, "could not start fetching the image " + redact_url(m.url)});
}

void MediaFetch::on_headers(long status, upstream::HeaderList&& headers) {
    status_ = status;
    for (const auto& [k, v] : headers) {
        if (k != "content-type") continue;
        mime_ = v.substr(0, v.find(';'));
        while (!mime_.empty() && std::isspace(static_cast<unsigned char>(mime_.back()))) mime_.pop_back();
    }
}

size_t MediaFetch::on_body(const char* data, size_t len) {
    if (status_ < 200 || status_ >= 300) return len;  // the body of an error is not kept
    if (bytes_.size() + len > kMaxBytes) {
        error_ = "is larger than " + std::to_string(kMaxBytes >> 20) + " MiB";
        return kAbort;
    }
    bytes_.append(data, len);
    return len;
}

void MediaFetch::on_done(upstream::Outcome outcome, std::string_view message) {
    transfer_ = nullptr;
    ir::Media& m = *todo_[index_];
    std::string why;
    if (!error_.empty()) why = error_;
    else if (outcome != upstream::Outcome::Ok) why = "failed: " + std::string(message.empty() ? "connection failed" : message);
    else if (status_ < 200 || status_ >= 300) why = "answered HTTP " + std::to_string(status_);
    else if (mime_.compare(0, 6, "image/") != 0) why = "is not an image (Content-Type '" + mime_ + "')";
    if (!why.empty()) return finish(Error{400, "the image " + redact_url(m.url) + " " + redact_urls(why)});
    m.mime = mime_;
    m.data = base64_encode(bytes_);
    m.url.clear();
    bytes_.clear();
    ++index_;
    next();
}

}  // namespace agd::dispatch
