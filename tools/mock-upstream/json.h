// Small JSON text builder (output only) and UTF-8 repair.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mock {

// Returns text with every invalid UTF-8 sequence replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

// Appends text as a quoted JSON string (invalid UTF-8 becomes U+FFFD).
void append_json_string(std::string& out, std::string_view text);

// Builds compact JSON. Commas are inserted automatically:
//   JsonOut j; j.obj().ks("id", "x").ki("n", 1).key("list").arr().end().end();
// Method names say what follows the key: ks = string, ki = integer,
// kb = boolean, kn = null, kr = raw JSON text.
class JsonOut {
public:
    JsonOut& obj();
    JsonOut& arr();
    JsonOut& end();
    JsonOut& key(std::string_view k);
    JsonOut& str(std::string_view v);
    JsonOut& num(int64_t v);
    JsonOut& boolean(bool v);
    JsonOut& null();
    JsonOut& raw(std::string_view json);

    JsonOut& ks(std::string_view k, std::string_view v) { return key(k).str(v); }
    JsonOut& ki(std::string_view k, int64_t v) { return key(k).num(v); }
    JsonOut& kb(std::string_view k, bool v) { return key(k).boolean(v); }
    JsonOut& kn(std::string_view k) { return key(k).null(); }
    JsonOut& kr(std::string_view k, std::string_view json) { return key(k).raw(json); }

    const std::string& text() const { return out_; }
    std::string take() { return std::move(out_); }

private:
    void before_value();

    std::string out_;
    std::vector<char> closers_;  // '}' or ']' per open container
    bool first_ = true;          // no element yet in the current container
    bool after_key_ = false;     // a key was written, its value comes next
};

}  // namespace mock
