#include <doctest/doctest.h>

#include <string>

#include "translate/images.h"
#include "translate/json_util.h"

using namespace agd;
using namespace agd::translate;

namespace {

ImageRequest decode(const char* json) {
    JsonDoc doc;
    REQUIRE(parse_json(json, doc));
    Result<ImageRequest> r = decode_image_request(doc);
    REQUIRE(r.ok());
    return r.value();
}

std::string refused(const char* json) {
    JsonDoc doc;
    REQUIRE(parse_json(json, doc));
    Result<ImageRequest> r = decode_image_request(doc);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 400);
    return r.error().message;
}

}  // namespace

TEST_CASE("images: an OpenAI generation request is read") {
    ImageRequest r = decode(R"({"model":"m","prompt":"a red cube","n":2,"size":"1792x1024","response_format":"url"})");
    CHECK(r.prompt == "a red cube");
    CHECK(r.n == 2);
    CHECK(r.aspect_ratio == "16:9");
    CHECK(r.url);
    ImageRequest d = decode(R"({"model":"m","prompt":"p","size":"auto","quality":"high","n":null})");
    CHECK(d.n == 1);
    CHECK(d.aspect_ratio.empty());
    CHECK_FALSE(d.url);
}

TEST_CASE("images: sizes map to the nearest Gemini aspect ratio") {
    CHECK(aspect_ratio_of("1024x1024").value() == "1:1");
    CHECK(aspect_ratio_of("1536x1024").value() == "3:2");
    CHECK(aspect_ratio_of("1024x1536").value() == "2:3");
    CHECK(aspect_ratio_of("1024x1792").value() == "9:16");
    CHECK(aspect_ratio_of("256x256").value() == "1:1");
    CHECK(aspect_ratio_of("").value().empty());
    CHECK_FALSE(aspect_ratio_of("big").ok());
    CHECK_FALSE(aspect_ratio_of("0x10").ok());
    CHECK_FALSE(aspect_ratio_of("10x").ok());
    CHECK_FALSE(aspect_ratio_of("999999x1").ok());
}

TEST_CASE("images: requests the Gemini wire cannot serve are 400s") {
    CHECK(refused(R"({"model":"m"})").find("prompt") != std::string::npos);
    CHECK(refused(R"({"model":"m","prompt":""})").find("prompt") != std::string::npos);
    CHECK(refused(R"({"model":"m","prompt":"p","n":0})").find("n must be") != std::string::npos);
    CHECK(refused(R"({"model":"m","prompt":"p","n":11})").find("n must be") != std::string::npos);
    CHECK(refused(R"({"model":"m","prompt":"p","n":1.5})").find("n must be") != std::string::npos);
    CHECK(refused(R"({"model":"m","prompt":"p","size":7})").find("size") != std::string::npos);
    CHECK(refused(R"({"model":"m","prompt":"p","response_format":"gif"})").find("response_format") !=
          std::string::npos);
    CHECK(refused(R"({"model":"m","prompt":"p","stream":true})").find("stream") != std::string::npos);
    CHECK(refused(R"([1])").find("object") != std::string::npos);
}

TEST_CASE("images: the generateContent body asks for image output") {
    ImageRequest r = decode(R"({"model":"m","prompt":"a \"cube\"","n":3,"size":"1024x1024"})");
    JsonDoc doc;
    REQUIRE(parse_json(encode_gemini_image_request(r), doc));
    CHECK(std::string(doc["contents"][0]["role"].GetString()) == "user");
    CHECK(std::string(doc["contents"][0]["parts"][0]["text"].GetString()) == "a \"cube\"");
    const JsonValue& gc = doc["generationConfig"];
    REQUIRE(gc["responseModalities"].Size() == 2);
    CHECK(std::string(gc["responseModalities"][0].GetString()) == "TEXT");
    CHECK(std::string(gc["responseModalities"][1].GetString()) == "IMAGE");
    CHECK(gc["candidateCount"].GetInt() == 3);
    CHECK(std::string(gc["imageConfig"]["aspectRatio"].GetString()) == "1:1");
    // One image, no size: neither candidateCount nor imageConfig.
    JsonDoc one;
    REQUIRE(parse_json(encode_gemini_image_request(decode(R"({"model":"m","prompt":"p"})")), one));
    CHECK_FALSE(one["generationConfig"].HasMember("candidateCount"));
    CHECK_FALSE(one["generationConfig"].HasMember("imageConfig"));
}

TEST_CASE("images: Gemini's inline images become b64_json entries with usage") {
    const char* answer = R"({"candidates":[
        {"content":{"role":"model","parts":[{"text":"Here is a cube."},
            {"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]},"finishReason":"STOP"},
        {"content":{"parts":[{"thought":true,"inlineData":{"mimeType":"image/png","data":"ZHJhZnQ="}},
            {"inline_data":{"mime_type":"image/png","data":"AAAA"}}]}}],
        "usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":1290,"totalTokenCount":1297}})";
    Result<ImageAnswer> a = decode_gemini_image_response(answer);
    REQUIRE(a.ok());
    REQUIRE(a->images.size() == 2);
    CHECK(a->images[0].b64 == "iVBORw0KGgo=");
    CHECK(a->images[1].b64 == "AAAA");
    CHECK(a->images[0].text == "Here is a cube.");
    CHECK(a->images[1].text.empty());
    CHECK(a->input_tokens == 7);
    CHECK(a->output_tokens == 1290);
    ImageRequest r;
    JsonDoc out;
    REQUIRE(parse_json(encode_image_response(r, a.value(), 1700000000), out));
    CHECK(out["created"].GetInt64() == 1700000000);
    REQUIRE(out["data"].Size() == 2);
    CHECK(std::string(out["data"][0]["b64_json"].GetString()) == "iVBORw0KGgo=");
    CHECK(std::string(out["data"][0]["revised_prompt"].GetString()) == "Here is a cube.");
    CHECK_FALSE(out["data"][1].HasMember("revised_prompt"));
    CHECK(out["usage"]["input_tokens"].GetInt() == 7);
    CHECK(out["usage"]["output_tokens"].GetInt() == 1290);
    CHECK(out["usage"]["total_tokens"].GetInt() == 1297);
    r.url = true;
    JsonDoc urls;
    REQUIRE(parse_json(encode_image_response(r, a.value(), 1), urls));
    CHECK(std::string(urls["data"][1]["url"].GetString()) == "data:image/png;base64,AAAA");
}

TEST_CASE("images: an answer without an image is a 502 that says why") {
    Result<ImageAnswer> a = decode_gemini_image_response(
        R"({"candidates":[{"content":{"parts":[{"text":"I cannot draw that."}]},"finishReason":"STOP"}]})");
    REQUIRE_FALSE(a.ok());
    CHECK(a.error().code == 502);
    CHECK(a.error().message.find("no image (STOP): I cannot draw that.") != std::string::npos);
    a = decode_gemini_image_response(R"({"promptFeedback":{"blockReason":"SAFETY"}})");
    REQUIRE_FALSE(a.ok());
    CHECK(a.error().message.find("SAFETY") != std::string::npos);
    CHECK_FALSE(decode_gemini_image_response("not json").ok());
    CHECK_FALSE(decode_gemini_image_response("[]").ok());
}
