#include "json.h"

#include "common/json.h"

#include <fmt/format.h>

namespace mock {
std::string valid_utf8(std::string_view text) { return agd::valid_utf8(text); }

void append_json_string(std::string& out, std::string_view text) { agd::append_json_string(out, text); }

void JsonOut::before_value() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!closers_.empty() && !first_) {
        out_.push_back(',');
    }
    first_ = false;
}

JsonOut& JsonOut::obj() {
    before_value();
    out_.push_back('{');
    closers_.push_back('}');
    first_ = true;
    return *this;
}

JsonOut& JsonOut::arr() {
    before_value();
    out_.push_back('[');
    closers_.push_back(']');
    first_ = true;
    return *this;
}

JsonOut& JsonOut::end() {
    out_.push_back(closers_.back());
    closers_.pop_back();
    first_ = false;
    return *this;
}

JsonOut& JsonOut::key(std::string_view k) {
    before_value();
    append_json_string(out_, k);
    out_.push_back(':');
    after_key_ = true;
    return *this;
}

JsonOut& JsonOut::str(std::string_view v) {
    before_value();
    append_json_string(out_, v);
    return *this;
}

JsonOut& JsonOut::num(int64_t v) {
    before_value();
    out_ += fmt::format("{}", v);
    return *this;
}

JsonOut& JsonOut::boolean(bool v) {
    before_value();
    out_ += v ? "true" : "false";
    return *this;
}

JsonOut& JsonOut::null() {
    before_value();
    out_ += "null";
    return *this;
}

JsonOut& JsonOut::raw(std::string_view json) {
    before_value();
    out_.append(json);
    return *this;
}

}  // namespace mock
