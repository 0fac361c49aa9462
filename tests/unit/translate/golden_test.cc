// Golden tests of the translation (tests/data/translate/, format in its
// README.md): each client request is decoded and encoded for every upstream
// wire listed, each upstream answer decoded and encoded for every client
// protocol listed, and each upstream stream replayed through the framer and
// the codecs, whole and split at every byte position (or a large random
// sample of positions for long streams), and compared with the expected
// client stream.
//
// AGD_GOLDEN_UPDATE=1 fills in expectations that are missing (`null`), for a
// human to review; it never overwrites one that is there.
#include <doctest/doctest.h>

#include <rapidjson/prettywriter.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "translate/codec.h"
#include "translate/json_util.h"

using namespace agd;
using namespace agd::translate;
namespace fs = std::filesystem;

namespace {

fs::path data_dir() {
    std::error_code ec;
    for (fs::path dir : {fs::current_path(ec), fs::path(__FILE__).parent_path()}) {
        dir = fs::absolute(dir, ec);
        for (int i = 0; i < 8 && !dir.empty(); ++i) {
            if (fs::exists(dir / "tests" / "data" / "translate", ec)) return dir / "tests" / "data" / "translate";
            if (dir == dir.parent_path()) break;
            dir = dir.parent_path();
        }
    }
    return {};
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool parse_protocol(std::string_view name, Protocol& p) {
    for (Protocol q : {Protocol::OpenAIChat, Protocol::OpenAIResponses, Protocol::Anthropic, Protocol::Gemini})
        if (name == protocol_name(q)) {
            p = q;
            return true;
        }
    return false;
}

std::string pretty(const JsonValue& v) {
    rapidjson::StringBuffer buf;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
    w.SetIndent(' ', 2);
    v.Accept(w);
    return buf.GetString();
}

// The session every golden runs with; a case's "session" object overrides fields.
Session make_session(Protocol client, Protocol upstream, const JsonValue& doc) {
    Session s;
    s.client = client;
    s.upstream = upstream;
    s.client_model = "client-model";
    s.upstream_model = "upstream-model";
    s.provider = "golden";
    s.seed = 1;
    s.now = 1700000000;
    if (const JsonValue* o = member(doc, "session"); is_object(o)) {
        if (auto v = get_string(member(*o, "client_model")); !v.empty()) s.client_model = std::string(v);
        if (auto v = get_string(member(*o, "upstream_model")); !v.empty()) s.upstream_model = std::string(v);
        if (auto v = get_bool(member(*o, "stream"))) s.stream = *v;
        if (auto v = get_bool(member(*o, "include_usage"))) s.include_usage = *v;
        if (auto v = get_bool(member(*o, "legacy_completion"))) s.legacy_completion = *v;
        if (auto v = get_bool(member(*o, "gemini_sse"))) s.gemini_sse = *v;
        if (auto v = get_int(member(*o, "prompt_estimate"))) s.prompt_estimate = *v;
        if (auto v = get_int(member(*o, "default_max_tokens"))) s.default_max_tokens = *v;
        // The client's custom (freeform) tools, as its request would have recorded them.
        if (const JsonValue* ct = member(*o, "custom_tools"); is_array(ct))
            for (const auto& n : ct->GetArray())
                if (n.IsString()) s.add_client_tool({n.GetString(), {}, n.GetString(), true});
    }
    return s;
}

// SSE text -> a JSON array of {"event","data"} (data parsed when it is JSON), for comparison and review.
void sse_to_json(std::string_view text, rapidjson::Document& out) {
    out.SetArray();
    auto& a = out.GetAllocator();
    sse::Framer framer;
    auto add = [&](const sse::Event& ev) {
        JsonValue e(rapidjson::kObjectType);
        if (!ev.name.empty()) e.AddMember("event", JsonValue(std::string(ev.name).c_str(), a), a);
        rapidjson::Document d;
        if (parse_json(ev.data, d)) e.AddMember("data", JsonValue(d, a), a);
        else e.AddMember("data", JsonValue(ev.data.c_str(), a), a);
        out.PushBack(e, a);
    };
    framer.feed(text, add);
    framer.finish(add);
}

// A client stream (SSE, or a Gemini JSON array) as JSON for comparison.
void client_stream_to_json(const Session& s, const std::string& bytes, rapidjson::Document& out) {
    if (s.client == Protocol::Gemini && !s.gemini_sse) {
        if (!parse_json(bytes, out)) out.SetString(bytes.c_str(), out.GetAllocator());
        return;
    }
    sse_to_json(bytes, out);
}

// Runs an upstream stream through the framer and codecs, fed in the given pieces.
std::string run_stream(Protocol client, Protocol upstream, const JsonValue& doc, const std::vector<std::string_view>& pieces,
                       bool& decoder_ok) {
    Session s = make_session(client, upstream, doc);
    s.stream = true;
    auto dec = make_stream_decoder(upstream, s);
    auto enc = make_stream_encoder(client, s);
    decoder_ok = dec && enc;
    if (!decoder_ok) return {};
    sse::Framer framer;
    auto on = [&](const sse::Event& ev) {
        if (!enc->finished()) dec->on_event(ev, *enc);
    };
    for (std::string_view p : pieces) framer.feed(p, on);
    framer.finish(on);
    if (!enc->finished()) dec->on_close(*enc);
    return enc->out;
}

struct Golden {
    fs::path path;
    rapidjson::Document doc;
    bool dirty = false;
};

std::vector<fs::path> cases(const char* kind) {
    std::vector<fs::path> out;
    fs::path dir = data_dir() / kind;
    std::error_code ec;
    if (!fs::exists(dir, ec)) return out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

bool updating() {
    const char* u = std::getenv("AGD_GOLDEN_UPDATE");
    return u && *u == '1';
}

void save(Golden& g) {
    if (!g.dirty) return;
    std::ofstream(g.path) << pretty(g.doc) << "\n";
}

// Compares `actual` with expect[target]; fills a null expectation when updating.
void check(Golden& g, JsonValue& expect, const char* target, rapidjson::Document& actual, const std::string& what) {
    JsonValue& want = expect[target];
    if (want.IsNull()) {
        if (updating()) {
            want.CopyFrom(actual, g.doc.GetAllocator());
            g.dirty = true;
            MESSAGE("filled in " << what);
        } else {
            FAIL_CHECK(what << ": no expectation (run with AGD_GOLDEN_UPDATE=1 and review)");
        }
        return;
    }
    if (!(want == actual)) FAIL_CHECK(what << " differs.\n--- expected\n" << pretty(want) << "\n--- actual\n" << pretty(actual));
}

bool load(const fs::path& p, Golden& g) {
    g.path = p;
    std::string text = read_file(p);
    std::string err;
    if (!parse_json(text, g.doc, &err) || !g.doc.IsObject()) {
        FAIL_CHECK(p.filename().string() << ": " << err);
        return false;
    }
    return true;
}

// An error expectation: {"error": <status>}.
bool expects_error(const JsonValue& want, int& status) {
    const JsonValue* e = member(want, "error");
    if (!e || !e->IsInt() || want.MemberCount() != 1) return false;
    status = e->GetInt();
    return true;
}

}  // namespace

TEST_CASE("golden: the data directory is found and holds cases") {
    REQUIRE_FALSE(data_dir().empty());
    CHECK(cases("requests").size() > 0);
    CHECK(cases("responses").size() > 0);
    CHECK(cases("streams").size() > 0);
}

TEST_CASE("golden: requests decode and encode to the expected upstream bodies") {
    for (const fs::path& p : cases("requests")) {
        Golden g;
        if (!load(p, g)) continue;
        Protocol client;
        REQUIRE_MESSAGE(parse_protocol(get_string(member(g.doc, "client")), client), p.filename().string());
        std::string body = to_json(g.doc["body"]);
        JsonValue& expect = g.doc["expect"];
        for (auto it = expect.MemberBegin(); it != expect.MemberEnd(); ++it) {
            std::string target(it->name.GetString());
            Protocol upstream;
            REQUIRE(parse_protocol(target, upstream));
            std::string what = p.filename().string() + " -> " + target;
            Session s = make_session(client, upstream, g.doc);
            Result<ir::Request> req = decode_request(client, body, s);
            int want_status = 0;
            bool want_error = expects_error(it->value, want_status);
            if (!req) {
                CHECK_MESSAGE(want_error, what << ": decode failed: " << req.error().message);
                if (want_error) CHECK(req.error().code == want_status);
                continue;
            }
            Result<std::string> out = encode_request(upstream, req.value(), s);
            if (!out) {
                CHECK_MESSAGE(want_error, what << ": encode failed: " << out.error().message);
                if (want_error) CHECK(out.error().code == want_status);
                continue;
            }
            CHECK_MESSAGE(!want_error, what << ": expected an error, got " << out.value());
            if (want_error) continue;
            rapidjson::Document actual;
            REQUIRE_MESSAGE(parse_json(out.value(), actual), what << ": encoder wrote invalid JSON: " << out.value());
            check(g, expect, target.c_str(), actual, what);
        }
        save(g);
    }
}

TEST_CASE("golden: upstream answers decode and encode to the expected client bodies") {
    for (const fs::path& p : cases("responses")) {
        Golden g;
        if (!load(p, g)) continue;
        Protocol upstream;
        REQUIRE_MESSAGE(parse_protocol(get_string(member(g.doc, "upstream")), upstream), p.filename().string());
        std::string body = to_json(g.doc["body"]);
        JsonValue& expect = g.doc["expect"];
        for (auto it = expect.MemberBegin(); it != expect.MemberEnd(); ++it) {
            std::string target(it->name.GetString());
            Protocol client;
            REQUIRE(parse_protocol(target, client));
            std::string what = p.filename().string() + " -> " + target;
            Session s = make_session(client, upstream, g.doc);
            Result<ir::Response> r = decode_response(upstream, body, s);
            REQUIRE_MESSAGE(r.ok(), what << ": " << (r.ok() ? "" : r.error().message));
            std::string out = encode_response(client, r.value(), s);
            rapidjson::Document actual;
            REQUIRE_MESSAGE(parse_json(out, actual), what << ": encoder wrote invalid JSON: " << out);
            check(g, expect, target.c_str(), actual, what);
        }
        save(g);
    }
}

TEST_CASE("golden: upstream streams give the expected client streams, however the bytes are split") {
    std::mt19937 rng(20261122);
    for (const fs::path& p : cases("streams")) {
        Golden g;
        if (!load(p, g)) continue;
        Protocol upstream;
        REQUIRE_MESSAGE(parse_protocol(get_string(member(g.doc, "upstream")), upstream), p.filename().string());
        std::string sse(get_string(member(g.doc, "sse")));
        REQUIRE_MESSAGE(!sse.empty(), p.filename().string() << ": no \"sse\"");
        JsonValue& expect = g.doc["expect"];
        for (auto it = expect.MemberBegin(); it != expect.MemberEnd(); ++it) {
            std::string target(it->name.GetString());
            Protocol client;
            REQUIRE(parse_protocol(target, client));
            std::string what = p.filename().string() + " -> " + target;
            bool ok = false;
            std::string whole = run_stream(client, upstream, g.doc, {sse}, ok);
            REQUIRE_MESSAGE(ok, what << ": no stream codec");
            Session s = make_session(client, upstream, g.doc);
            rapidjson::Document actual;
            client_stream_to_json(s, whole, actual);
            check(g, expect, target.c_str(), actual, what);

            // The same bytes split in two at every position (a random sample of
            // 400 positions for long streams), and in three at random: same output.
            std::vector<size_t> cuts;
            if (sse.size() <= 1200) {
                for (size_t i = 1; i < sse.size(); ++i) cuts.push_back(i);
            } else {
                std::uniform_int_distribution<size_t> d(1, sse.size() - 1);
                for (int i = 0; i < 400; ++i) cuts.push_back(d(rng));
            }
            int mismatches = 0;
            for (size_t c : cuts) {
                std::string_view v(sse);
                std::uniform_int_distribution<size_t> d2(c, sse.size());
                size_t c2 = d2(rng);
                std::string two = run_stream(client, upstream, g.doc, {v.substr(0, c), v.substr(c)}, ok);
                std::string three = run_stream(client, upstream, g.doc, {v.substr(0, c), v.substr(c, c2 - c), v.substr(c2)}, ok);
                if ((two != whole || three != whole) && ++mismatches <= 3)
                    FAIL_CHECK(what << ": output differs when the upstream bytes are split at " << c << " (and " << c2 << ")");
            }
            CHECK_MESSAGE(mismatches == 0, what << ": " << mismatches << " split positions gave another output");
        }
        save(g);
    }
}
