// The codecs' JSON writer: compact JSON appended to a std::string the
// caller owns (and sizes from the input), with the method names of
// RapidJSON's Writer, so it is also a RapidJSON handler (a parsed value's
// Accept() writes through it).
//
// Why not rapidjson::Writer over a StringBuffer: the buffer starts at 256
// bytes and grows by copying, every string reserves six times its length
// for escapes it almost never has, and the text is copied once more into
// the std::string the caller needs. Here a clean run of a string (16 bytes
// at a time) is one append, a key is written with its colon, commas need no
// stack, and the text lands where it is sent from.
//
// The output is what rapidjson::Writer writes (json_out_test.cc compares
// them): `"` `\` and control characters escaped (\b \f \n \r \t, else
// \u00XX), every other byte as is, doubles by RapidJSON's shortest-round-trip
// Grisu2; a NaN or infinity, which JSON cannot hold, is written as null.
// Structure is the caller's: a key outside an object or an unbalanced end
// is written as asked.
#pragma once

#include <rapidjson/rapidjson.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace agd::translate {

class JsonOut {
public:
    explicit JsonOut(std::string& out) : out_(&out) {}

    // Out of line, all of them: a DOM's Accept() recurses through them, one
    // frame per level, and each frame stays a few words (docs/DESIGN.md,
    // "Recursion") when nothing of the writer is inlined into it.
    bool Null();
    bool Bool(bool b);
    bool Int(int i);
    bool Uint(unsigned u);
    bool Int64(int64_t i);
    bool Uint64(uint64_t u);
    bool Double(double d);
    bool RawNumber(const char* s, rapidjson::SizeType n, bool copy = false);

    bool String(const char* s, rapidjson::SizeType n, bool copy = false);
    bool String(const char* s) { return String(s, static_cast<rapidjson::SizeType>(std::strlen(s))); }
    bool String(const std::string& s) { return String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
    bool String(std::string_view s) { return String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

    bool Key(const char* s, rapidjson::SizeType n, bool copy = false);
    bool Key(const char* s) { return Key(s, static_cast<rapidjson::SizeType>(std::strlen(s))); }
    bool Key(const std::string& s) { return Key(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
    bool Key(std::string_view s) { return Key(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

    bool StartObject();
    bool EndObject(rapidjson::SizeType = 0);
    bool StartArray();
    bool EndArray(rapidjson::SizeType = 0);

    // An already serialized JSON value, written as is.
    bool RawValue(const char* s, size_t n, rapidjson::Type);

    // The text written so far (with whatever the string held before).
    const std::string& text() const { return *out_; }

private:
    bool literal(const char* s, size_t n);
    bool open(char c);
    bool close(char c);
    // A separating comma when one is due, s quoted, and a colon when `key`.
    void quoted(const char* s, size_t n, bool key);

    std::string* out_;
    bool comma_ = false;  // the next value or key at this level follows another
};

}  // namespace agd::translate
