#include "pipeline/body.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cstddef>
#include <cstring>
#include <optional>

#include "translate/json_util.h"

namespace agd {
namespace {

enum class Refused { None, TooDeep, BadUtf8 };

// The scan's handler. With a document it also hands every event on to it:
// one pass both picks out the fields and builds the DOM.
template <class In>
class Scanner : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Scanner<In>> {
public:
    Scanner(In& is, const char* base, BodyInfo& info, unsigned max_depth, translate::JsonDoc* doc)
        : is_(is), base_(base), info_(info), max_depth_(max_depth), doc_(doc) {}

    Refused refused() const { return refused_; }
    size_t refused_at() const { return refused_at_; }

    bool Null() { return value_done() && (!doc_ || doc_->Null()); }
    bool Int(int i) { return value_done() && (!doc_ || doc_->Int(i)); }
    bool Uint(unsigned u) { return value_done() && (!doc_ || doc_->Uint(u)); }
    bool Int64(int64_t i) { return value_done() && (!doc_ || doc_->Int64(i)); }
    bool Uint64(uint64_t u) { return value_done() && (!doc_ || doc_->Uint64(u)); }
    bool Double(double d) { return value_done() && (!doc_ || doc_->Double(d)); }
    bool Bool(bool b) {
        if (depth_ == 1 && key_ == Field::Stream) {
            info_.has_stream = true;
            info_.stream = b;
        }
        return value_done() && (!doc_ || doc_->Bool(b));
    }
    bool String(const char* str, rapidjson::SizeType len, bool copy) {
        if (!utf8(str, len)) return false;
        if (depth_ == 1 && key_ == Field::Model) {
            info_.has_model = true;
            info_.model.assign(str, len);
            span(is_.Tell());
        } else if (depth_ == 1 && key_ == Field::CacheKey) {
            info_.prompt_cache_key.assign(str, std::min<size_t>(len, kMaxSessionField));
        } else if (depth_ == 1 && key_ == Field::User) {
            info_.user.assign(str, std::min<size_t>(len, kMaxSessionField));
        } else if (depth_ == 2 && meta_user_) {
            info_.metadata_user_id.assign(str, std::min<size_t>(len, kMaxSessionField));
        }
        return value_done() && (!doc_ || doc_->String(str, len, copy));
    }
    bool StartObject() {
        if (depth_ == 0 && !started_) info_.is_object = true;
        if (depth_ == 1) in_meta_ = meta_next_;  // entering "metadata": {...} (or another member's object)
        started_ = true;
        key_ = Field::Other;
        return enter() && (!doc_ || doc_->StartObject());
    }
    bool Key(const char* str, rapidjson::SizeType len, bool copy) {
        if (!utf8(str, len)) return false;
        if (depth_ == 1) {
            std::string_view k(str, len);
            key_ = k == "model"              ? Field::Model
                   : k == "stream"           ? Field::Stream
                   : k == "prompt_cache_key" ? Field::CacheKey
                   : k == "user"             ? Field::User
                                             : Field::Other;
            meta_next_ = k == "metadata";
            if (k == "stream_options") info_.has_stream_options = true;
        } else if (depth_ == 2 && in_meta_) {
            meta_user_ = std::string_view(str, len) == "user_id";
        }
        return !doc_ || doc_->Key(str, len, copy);
    }
    bool EndObject(rapidjson::SizeType n) {
        if (--depth_ == 1) in_meta_ = false;
        return value_done() && (!doc_ || doc_->EndObject(n));
    }
    bool StartArray() {
        started_ = true;
        return enter() && (!doc_ || doc_->StartArray());
    }
    bool EndArray(rapidjson::SizeType n) {
        --depth_;
        return value_done() && (!doc_ || doc_->EndArray(n));
    }

private:
    enum class Field { Other, Model, Stream, CacheKey, User };

    bool enter() {
        if (static_cast<unsigned>(++depth_) <= max_depth_) return true;
        return refuse(Refused::TooDeep);
    }

    // The decoded string (a JSON escape can make a lone surrogate) must be
    // valid UTF-8: text the daemon re-serializes or forwards stays valid.
    bool utf8(const char* str, rapidjson::SizeType len) {
        return is_valid_utf8(std::string_view(str, len)) || refuse(Refused::BadUtf8);
    }

    bool refuse(Refused why) {
        refused_ = why;
        refused_at_ = is_.Tell();
        return false;
    }

    bool value_done() {
        started_ = true;
        if (depth_ == 1) {
            key_ = Field::Other;
            meta_next_ = false;
        } else if (depth_ == 2) {
            meta_user_ = false;
        }
        return true;
    }

    // RapidJSON hands a string to the handler while it parses from a local
    // copy of the stream, so Tell() is the opening quote; should that ever
    // change, Tell() would be just past the closing quote. Handle both.
    void span(size_t pos) {
        size_t begin, end;
        if (base_[pos] == '"') {
            begin = pos;
            end = pos + 1;
            while (base_[end] != '"') end += base_[end] == '\\' ? 2 : 1;
            ++end;
        } else {
            end = pos;
            begin = end - 1;  // closing quote
            while (begin > 0) {
                --begin;
                if (base_[begin] != '"') continue;
                size_t bs = 0;
                while (begin >= bs + 1 && base_[begin - bs - 1] == '\\') ++bs;
                if (bs % 2 == 0) break;
            }
        }
        info_.model_begin = begin;
        info_.model_end = end;
    }

    In& is_;            // Tell() of an in-place stream is not const
    const char* base_;  // the text as sent (an in-place parse changes its copy)
    BodyInfo& info_;
    unsigned max_depth_;
    translate::JsonDoc* doc_;
    int depth_ = 0;
    Refused refused_ = Refused::None;
    size_t refused_at_ = 0;
    bool started_ = false;
    Field key_ = Field::Other;
    bool meta_next_ = false;  // the top-level key just read is "metadata"
    bool in_meta_ = false;    // inside the top-level "metadata" object
    bool meta_user_ = false;  // its key just read is "user_id"
};

// What a finished parse of the body says: the info, or the client's error.
template <class In>
Result<BodyInfo> verdict(const rapidjson::ParseResult& pr, In& is, const Scanner<In>& handler, BodyInfo& info,
                         const char* data, size_t len, unsigned max_depth) {
    if (handler.refused() == Refused::TooDeep)
        return Result<BodyInfo>::fail(400, "the request body nests JSON arrays and objects deeper than " +
                                               std::to_string(max_depth) + " levels (server.max_json_depth), at byte " +
                                               std::to_string(handler.refused_at()));
    if (handler.refused() == Refused::BadUtf8)
        return Result<BodyInfo>::fail(400, "the request body is not valid UTF-8: the string at byte " +
                                               std::to_string(handler.refused_at()) +
                                               " holds an invalid byte sequence or a lone surrogate escape");
    if (pr.IsError() || is.Tell() < len) {
        size_t at = pr.IsError() ? pr.Offset() : is.Tell();
        // RapidJSON reads the body as a C string: a NUL byte ends it. Say so.
        if (const void* nul = std::memchr(data, 0, len); nul && static_cast<const char*>(nul) - data <= static_cast<ptrdiff_t>(at))
            return Result<BodyInfo>::fail(400, "invalid JSON in request body: a NUL byte at byte " +
                                                   std::to_string(static_cast<const char*>(nul) - data) +
                                                   " (a string holds one only as the escape \\u0000)");
        const char* why = pr.IsError() ? rapidjson::GetParseError_En(pr.Code()) : "unexpected NUL byte";
        return Result<BodyInfo>::fail(400, "invalid JSON in request body at byte " + std::to_string(at) + ": " + why);
    }
    if (!info.is_object) return Result<BodyInfo>::fail(400, "the request body must be a JSON object");
    return std::move(info);
}

// The scan that also builds the DOM: in place, in a NUL-padded copy of the
// text in the document's pool (16 bytes past the NUL keep RapidJSON's SSE2
// read-ahead inside it), the reader's stack in the document's buffer.
// Without memory for the copy, nothing: the plain scan runs instead.
std::optional<Result<BodyInfo>> scan_into(const char* data, size_t len, unsigned max_depth, translate::JsonDoc& dom) {
    auto* copy = static_cast<char*>(dom.GetAllocator().Malloc(len + 17));
    if (!copy) return std::nullopt;
    std::memcpy(copy, data, len);
    std::memset(copy + len, 0, 17);
    BodyInfo info;
    rapidjson::InsituStringStream is(copy);
    Scanner<rapidjson::InsituStringStream> handler(is, data, info, max_depth, &dom);
    rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, translate::JsonAllocator> reader(&dom.stack_allocator());
    rapidjson::ParseResult pr;
    auto generate = [&](auto&) {
        pr = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseInsituFlag>(is, handler);
        return !pr.IsError();
    };
    dom.Populate(generate);
    Result<BodyInfo> r = verdict(pr, is, handler, info, data, len, max_depth);
    if (!r) dom.SetNull();
    return r;
}

}  // namespace

Result<BodyInfo> scan_body(const char* data, size_t len, unsigned max_depth, translate::JsonDoc* dom) {
    if (len == 0) return Result<BodyInfo>::fail(400, "the request body is empty; a JSON object is required");
    if (dom)
        if (std::optional<Result<BodyInfo>> r = scan_into(data, len, max_depth, *dom)) return std::move(*r);
    BodyInfo info;
    rapidjson::StringStream is(data);
    Scanner<rapidjson::StringStream> handler(is, data, info, max_depth, nullptr);
    rapidjson::Reader reader;
    rapidjson::ParseResult pr = reader.Parse<rapidjson::kParseIterativeFlag>(is, handler);
    return verdict(pr, is, handler, info, data, len, max_depth);
}

}  // namespace agd
