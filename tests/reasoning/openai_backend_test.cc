// The OpenAI-compatible backend against a local chat-completions server on
// loopback (cpp-httplib) that checks every request it receives: success,
// retry after a 500, a server that keeps failing, a timeout, garbage.
#include "dyn4d/reasoning/openai_backend.h"

#include <httplib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

using namespace dyn4d::reasoning;

namespace {

// A loopback server whose /v1/chat/completions answers by `mode`.
class FakeServer {
 public:
  std::atomic<int> requests{0};
  std::string mode = "ok";   // ok, fail_once, fail, slow, garbage, no_choices
  std::string last_problem;  // what the last request lacked, "" if it was right
  std::string last_auth;
  inline static std::atomic<int> images{0};  // JPEG image parts in the last request

  FakeServer() {
    server_.Post(
        "/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
          const int n = ++requests;
          last_auth = req.get_header_value("Authorization");
          last_problem = Check(req);
          if (mode == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(800));
          if (mode == "fail" || (mode == "fail_once" && n == 1)) {
            res.status = 500;
            res.set_content("{\"error\": \"model overloaded\"}", "application/json");
            return;
          }
          if (mode == "garbage") {
            res.set_content("<html>oops</html>", "text/html");
            return;
          }
          if (mode == "no_choices") {
            res.set_content("{\"id\": \"x\"}", "application/json");
            return;
          }
          const nlohmann::json reply = {
              {"choices",
               {{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "B. The dog."}}}}}}};
          res.set_content(reply.dump(), "application/json");
        });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }

 private:
  static std::string Check(const httplib::Request& req) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(req.body);
    } catch (...) {
      return "body is not JSON";
    }
    if (j.value("model", "") != "test-model") return "model";
    if (!j.contains("messages") || j["messages"].size() != 2) return "messages";
    std::string user;
    const auto& content = j["messages"][1]["content"];
    images = 0;
    if (content.is_string()) {
      user = content.get<std::string>();
    } else {  // multimodal: a text part, then image parts
      for (const auto& part : content) {
        if (part.value("type", "") == "text") user += part.value("text", "");
        if (part.value("type", "") == "image_url" &&
            part["image_url"].value("url", "").rfind("data:image/jpeg;base64,/9j/", 0) == 0)
          ++images;
      }
    }
    for (const char* part : {"MAP TEXT", "Which object hides the ball?", "A. chair", "B. dog",
                             "Answer with the option's letter from the given choices directly."})
      if (user.find(part) == std::string::npos) return std::string("prompt lacks: ") + part;
    if (j["messages"][1].value("role", "") != "user") return "role";
    return "";
  }
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

OpenAiConfig Config(const FakeServer& s) {
  OpenAiConfig c;
  c.url = s.url();
  c.model = "test-model";
  c.timeout_s = 0.3;
  c.retries = 2;
  c.backoff_s = 0.01;
  c.api_key_env = "DYN4D_TEST_API_KEY";
  return c;
}

const std::vector<std::string> kOptions = {"A. chair", "B. dog"};
const std::string kQuestion = "Which object hides the ball?";

}  // namespace

TEST_CASE("openai backend: prompt, key, letter of the reply", "[reasoning][http]") {
  FakeServer server;
  setenv("DYN4D_TEST_API_KEY", "sk-test", 1);
  OpenAiBackend backend(Config(server));
  const LlmAnswer a = backend.Ask("MAP TEXT", kQuestion, kOptions);
  CHECK(server.last_problem == "");
  CHECK(server.last_auth == "Bearer sk-test");
  CHECK(a.answer == "B");
  CHECK(a.reply == "B. The dog.");
  CHECK(a.attempts == 1);
  unsetenv("DYN4D_TEST_API_KEY");
  backend.Ask("MAP TEXT", kQuestion, kOptions);
  CHECK(server.last_auth == "");  // no key: no Authorization header
}

TEST_CASE("openai backend: a 500 is retried, a server that keeps failing is an error",
          "[reasoning][http][bad-input]") {
  FakeServer server;
  server.mode = "fail_once";
  OpenAiBackend backend(Config(server));
  const LlmAnswer a = backend.Ask("MAP TEXT", kQuestion, kOptions);
  CHECK(a.answer == "B");
  CHECK(a.attempts == 2);
  server.mode = "fail";
  server.requests = 0;
  CHECK_THROWS_WITH(backend.Ask("MAP TEXT", kQuestion, kOptions),
                    Catch::Contains("HTTP 500") && Catch::Contains("model overloaded") &&
                        Catch::Contains("3 attempts"));
  CHECK(server.requests == 3);
}

TEST_CASE("openai backend: timeouts and garbage are clear errors", "[reasoning][http][bad-input]") {
  FakeServer server;
  OpenAiConfig c = Config(server);
  c.retries = 1;
  OpenAiBackend backend(c);
  server.mode = "slow";
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(backend.Ask("MAP TEXT", kQuestion, kOptions),
                    Catch::Contains("2 attempts") && Catch::Contains(server.url()));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  server.mode = "garbage";
  CHECK_THROWS_WITH(backend.Ask("MAP TEXT", kQuestion, kOptions),
                    Catch::Contains("unparsable reply") && Catch::Contains("<html>oops"));
  server.mode = "no_choices";
  CHECK_THROWS_WITH(backend.Ask("MAP TEXT", kQuestion, kOptions), Catch::Contains("unparsable"));
  c.url = "ftp://example";
  CHECK_THROWS_WITH(OpenAiBackend(c), Catch::Contains("url"));
  // Nothing listening: connection refused, named.
  OpenAiConfig nobody = Config(server);
  nobody.url = "http://127.0.0.1:1/v1";
  nobody.retries = 0;
  CHECK_THROWS_WITH(OpenAiBackend(nobody).Ask("m", "q", {}), Catch::Contains("127.0.0.1:1"));
}

TEST_CASE("openai backend: key frames go as image parts after the text", "[reasoning][http]") {
  FakeServer server;
  OpenAiBackend backend(Config(server));
  // A tiny JPEG-looking data URL is enough for the request's shape.
  const std::vector<std::string> frames = {"data:image/jpeg;base64,/9j/4AAQ",
                                           "data:image/jpeg;base64,/9j/4BBQ"};
  const LlmAnswer a = backend.Ask("MAP TEXT", kQuestion, kOptions, frames);
  CHECK(server.last_problem == "");
  CHECK(FakeServer::images == 2);
  CHECK(a.answer == "B");
}
