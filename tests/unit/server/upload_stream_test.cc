#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/upload_stream.h"

using namespace agd;

namespace {

const std::string kType = "multipart/form-data; boundary=B0";

std::string field(const std::string& name, const std::string& value) {
    return "--B0\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
}

struct Switches {
    std::vector<bool> seen;
    static void cb(void* arg, bool on) { static_cast<Switches*>(arg)->seen.push_back(on); }
};

// What the engine would send: everything ready, `limit` bytes at most.
std::string drain(UploadStream& s, size_t limit = static_cast<size_t>(-1)) {
    std::string out;
    while (out.size() < limit) {
        std::string_view r = s.ready();
        if (r.empty()) break;
        size_t n = std::min(r.size(), limit - out.size());
        out.append(r.substr(0, n));
        s.sent(n);
    }
    return out;
}

}  // namespace

TEST_CASE("upload stream: the model renamed, only checked bytes sent, the body whole") {
    std::string file(300000, 'f');
    std::string body = field("model", "alias") + field("file", file) + "--B0--\r\n";
    Switches sw;
    auto up = UploadStream::open(kType, body.size(), 64 * 1024, &Switches::cb, &sw);
    REQUIRE(up.ok());
    UploadStream& s = *up.value();
    std::string sent;
    bool begun = false;
    uint64_t length = 0;
    for (size_t at = 0; at < body.size(); at += 5000) {
        REQUIRE(s.take(body.data() + at, std::min<size_t>(5000, body.size() - at)).ok());
        if (!begun && s.model_known()) {
            CHECK(s.info().model == "alias");
            length = s.begin("provider-model-name");
            begun = true;
        }
        if (begun) sent += drain(s);
        CHECK(sent.size() <= at + 5000 + 14);  // never ahead of what came (the name is 14 bytes longer)
    }
    REQUIRE(s.finish().ok());
    sent += drain(s);
    std::string expected = body;
    expected.replace(body.find("alias"), 5, "provider-model-name");
    CHECK(sent == expected);
    CHECK(length == expected.size());
    CHECK_FALSE(s.can_restart());  // what went out was dropped
    CHECK(sw.seen.empty());        // the engine kept up: reading never stopped
}

TEST_CASE("upload stream: reading stops while a buffer's worth waits, and goes on") {
    std::string body = field("model", "m") + field("file", std::string(200000, 'x')) + "--B0--";
    Switches sw;
    auto up = UploadStream::open(kType, body.size(), 32 * 1024, &Switches::cb, &sw);
    REQUIRE(up.ok());
    UploadStream& s = *up.value();
    REQUIRE(s.take(body.data(), 100000).ok());
    s.begin("m");
    REQUIRE(sw.seen == std::vector<bool>{false});  // 100 KB unsent > 32 KiB
    drain(s, 80000);
    CHECK(sw.seen == std::vector<bool>{false, true});
    // Restarting is still possible until the first drop (half the buffer,
    // at least 64 KiB): here 80 KB went, so no.
    CHECK_FALSE(s.can_restart());
    REQUIRE(s.take(body.data() + 100000, body.size() - 100000).ok());
    CHECK(sw.seen.back() == false);
    REQUIRE(s.finish().ok());
    CHECK(sw.seen.back() == true);  // the body ended: reading is the server's again
}

TEST_CASE("upload stream: restart and rewind while nothing was dropped") {
    std::string body = field("model", "m") + field("file", std::string(50000, 'y')) + "--B0--";
    auto up = UploadStream::open(kType, body.size(), 1 << 20, nullptr, nullptr);
    REQUIRE(up.ok());
    UploadStream& s = *up.value();
    REQUIRE(s.take(body.data(), body.size()).ok());
    REQUIRE(s.finish().ok());
    s.begin("first");
    std::string a = drain(s, 1000);
    CHECK(a.find("first") != std::string::npos);
    REQUIRE(s.can_restart());
    REQUIRE(s.rewind());
    CHECK(drain(s) == field("model", "first") + field("file", std::string(50000, 'y')) + "--B0--");
    s.begin("second");
    CHECK(drain(s) == field("model", "second") + field("file", std::string(50000, 'y')) + "--B0--");
}

TEST_CASE("upload stream: refusals, and a discarded stream") {
    std::string two = field("model", "a") + field("file", std::string(100000, 'z')) + field("model", "b") + "--B0--";
    auto up = UploadStream::open(kType, two.size(), 1 << 20, nullptr, nullptr);
    REQUIRE(up.ok());
    UploadStream& s = *up.value();
    Status st;
    size_t at = 0;
    while (st.ok() && at < two.size()) {
        size_t n = std::min<size_t>(4096, two.size() - at);
        st = s.take(two.data() + at, n);
        at += n;
        if (s.model_known() && at <= 4096) s.begin("a");
        if (st.ok()) CHECK(drain(s).find("name=\"model\"\r\n\r\nb") == std::string::npos);
    }
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message == "multipart body with more than one 'model' field");

    CHECK_FALSE(UploadStream::open("multipart/form-data", 10, 1024, nullptr, nullptr).ok());

    std::string body = field("model", "m") + "--B0";  // no closing boundary
    Switches sw;
    auto u2 = UploadStream::open(kType, body.size() + 1000, 4, &Switches::cb, &sw);
    REQUIRE(u2.ok());
    REQUIRE(u2.value()->take(body.data(), body.size()).ok());
    u2.value()->begin("m");
    CHECK(sw.seen == std::vector<bool>{false});
    u2.value()->discard();  // the request was answered: the rest is read and dropped
    CHECK(sw.seen == std::vector<bool>{false, true});
    CHECK(u2.value()->ready().empty());
    REQUIRE(u2.value()->take(std::string(1000, 'q').data(), 1000).ok());
    CHECK(u2.value()->finish().ok());
    CHECK(u2.value()->received() == body.size() + 1000);
}

TEST_CASE("upload stream: a buffer smaller than what the scan holds back never stops reading for good") {
    // A 6 KiB header block is held until its blank line arrives: with a
    // 64-byte buffer, reading must go on until it has (it counted before).
    std::string pad(6000, 'p');
    std::string body = field("model", "m") + "--B0\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: " + pad +
                       "\r\n\r\n" + std::string(20000, 'f') + "\r\n--B0--";
    Switches sw;
    auto up = UploadStream::open(kType, body.size(), 64, &Switches::cb, &sw);
    REQUIRE(up.ok());
    UploadStream& s = *up.value();
    bool reading = true, begun = false;
    size_t at = 0;
    std::string sent;
    while (at < body.size()) {
        if (!sw.seen.empty()) reading = sw.seen.back();
        // Reading stopped: the engine must have something to send, or
        // nothing would ever turn reading on again.
        if (!reading) REQUIRE_FALSE(s.ready().empty());
        if (reading) {
            size_t n = std::min<size_t>(1000, body.size() - at);
            REQUIRE(s.take(body.data() + at, n).ok());
            at += n;
        }
        if (!begun && s.model_known()) {
            s.begin("m");
            begun = true;
        }
        if (begun && !s.ready().empty()) sent += drain(s, 100);  // a slow upstream
    }
    REQUIRE(s.finish().ok());
    sent += drain(s);
    CHECK(sent == body);
}
