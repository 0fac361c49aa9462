#include "pipeline/body.h"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <cstddef>
#include <cstring>

namespace agd {
namespace {

class Scanner : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Scanner> {
public:
    enum class Refused { None, TooDeep, BadUtf8 };

    Scanner(const rapidjson::StringStream& is, const char* base, BodyInfo& info, unsigned max_depth)
        : is_(is), base_(base), info_(info), max_depth_(max_depth) {}

    Refused refused() const { return refused_; }
    size_t refused_at() const { return refused_at_; }

    bool Default() { return value_done(); }
    bool Bool(bool b) {
        if (depth_ == 1 && key_ == Field::Stream) {
            info_.has_stream = true;
            info_.stream = b;
        }
        return value_done();
    }
    bool String(const char* str, rapidjson::SizeType len, bool) {
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
        return value_done();
    }
    bool StartObject() {
        if (depth_ == 0 && !started_) info_.is_object = true;
        if (depth_ == 1) in_meta_ = meta_next_;  // entering "metadata": {...} (or another member's object)
        started_ = true;
        key_ = Field::Other;
        return enter();
    }
    bool Key(const char* str, rapidjson::SizeType len, bool) {
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
        return true;
    }
    bool EndObject(rapidjson::SizeType) {
        if (--depth_ == 1) in_meta_ = false;
        return value_done();
    }
    bool StartArray() {
        started_ = true;
        return enter();
    }
    bool EndArray(rapidjson::SizeType) {
        --depth_;
        return value_done();
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

    const rapidjson::StringStream& is_;
    const char* base_;
    BodyInfo& info_;
    unsigned max_depth_;
    int depth_ = 0;
    Refused refused_ = Refused::None;
    size_t refused_at_ = 0;
    bool started_ = false;
    Field key_ = Field::Other;
    bool meta_next_ = false;  // the top-level key just read is "metadata"
    bool in_meta_ = false;    // inside the top-level "metadata" object
    bool meta_user_ = false;  // its key just read is "user_id"
};

}  // namespace

Result<BodyInfo> scan_body(const char* data, size_t len, unsigned max_depth) {
    BodyInfo info;
    if (len == 0) return Result<BodyInfo>::fail(400, "the request body is empty; a JSON object is required");
    rapidjson::StringStream is(data);
    Scanner handler(is, data, info, max_depth);
    rapidjson::Reader reader;
    rapidjson::ParseResult pr = reader.Parse<rapidjson::kParseIterativeFlag>(is, handler);
    if (handler.refused() == Scanner::Refused::TooDeep)
        return Result<BodyInfo>::fail(400, "the request body nests JSON arrays and objects deeper than " +
                                               std::to_string(max_depth) + " levels (server.max_json_depth), at byte " +
                                               std::to_string(handler.refused_at()));
    if (handler.refused() == Scanner::Refused::BadUtf8)
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
    return info;
}

}  // namespace agd
