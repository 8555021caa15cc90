#include "dyn4d/reasoning/stages.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <map>
#include <memory>
#include <sstream>

#include "dyn4d/pipeline/ordered_join.h"
#include "dyn4d/reasoning/cognitive_map.h"
#include "dyn4d/reasoning/key_frames.h"
#include "dyn4d/reasoning/openai_backend.h"
#include "dyn4d/reasoning/questions.h"

namespace dyn4d::reasoning {
namespace {

using pipeline::Message;
using pipeline::Outputs;

struct ReasonOptions {
  MapConfig map;
  std::string backend = "builtin";  ///< builtin or openai
  OpenAiConfig openai;
  int publish_every = 0;  ///< frames between map messages; 0: only at end of stream
  std::vector<std::string>
      questions;  ///< asked at end of stream (open questions or "Q | A. x | B. y")
  bool has_poses = false;
  int key_frames = 0;              ///< openai: key frames sent with each question (0: none)
  double key_frame_every_s = 1.0;  ///< spacing of the key frames kept
};

// Tracks (and their frames' camera poses) -> the cognitive map, updated as
// the stream goes; questions -> answers (builtin or an MLLM endpoint).
class ReasonStage : public pipeline::Stage {
 public:
  explicit ReasonStage(ReasonOptions o)
      : o_(std::move(o)), builder_(o_.map), key_frames_(o_.key_frames, o_.key_frame_every_s) {
    if (o_.backend == "openai") llm_ = std::make_unique<OpenAiBackend>(o_.openai);
  }
  std::vector<std::string> InputPorts() const override {
    return {"tracks", "poses", "requests", "frames"};
  }
  std::vector<std::string> OptionalInputPorts() const override {
    return {"poses", "requests", "frames"};
  }
  std::vector<std::string> OutputPorts() const override { return {"maps", "replies"}; }
  uint64_t SkippedCount() const override { return failed_; }
  std::map<std::string, double> Counters() const override {
    std::map<std::string, double> c = {{"frames", double(builder_.frames())},
                                       {"answered", answered_}};
    // The history held, and its cap: a bounded structure (bench pipeline
    // --long reads when it is full).
    if (o_.map.history_s > 0) {
      c["history_s"] = builder_.history_span_s();
      c["history_s_max"] = o_.map.history_s;
    }
    return c;
  }

  Outputs Process(const std::string& port, const Message& m) override {
    Outputs out;
    if (port == "requests") {
      out.push_back({"replies", Answer(pipeline::Expect<pipeline::Query>(m, port))});
      return out;
    }
    const uint64_t seq = pipeline::Meta(m).seq;
    if (port == "frames") {  // colour only, for key frames; tracks come later (lookahead)
      if (o_.key_frames > 0) {
        pipeline::RgbdFrame f = pipeline::Expect<pipeline::RgbdFrame>(m, port);
        f.depth = {};
        frames_[seq] = std::move(f);
        while (frames_.size() > 256) frames_.erase(frames_.begin());
      }
      return out;
    }
    if (port == "tracks")
      join_.AddPrimary(seq, pipeline::Expect<pipeline::Tracks>(m, port));
    else
      join_.AddSecondary(seq, pipeline::Expect<pipeline::CameraPose>(m, port));
    join_.Release(
        [&](const pipeline::Tracks& t, const pipeline::CameraPose* p) { Add(t, p, out); });
    return out;
  }

  Outputs Finish() override {
    Outputs out;
    join_.Flush([&](const pipeline::Tracks& t, const pipeline::CameraPose* p) { Add(t, p, out); });
    if (builder_.frames() > 0) {
      out.push_back({"maps", MapMessage()});
      uint64_t id = 0;
      for (const std::string& text : o_.questions) {
        pipeline::Query q;
        q.meta = last_meta_;
        q.request_id = id++;
        std::stringstream ss(text);
        std::string part;
        std::getline(ss, q.question, '|');
        while (std::getline(ss, part, '|')) q.options.push_back(Trim(part));
        q.question = Trim(q.question);
        out.push_back({"replies", Answer(q)});
      }
    }
    return out;
  }

 private:
  static std::string Trim(std::string s) {
    while (!s.empty() && s.front() == ' ') s.erase(s.begin());
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }

  void Add(const pipeline::Tracks& tracks, const pipeline::CameraPose* pose, Outputs& out) {
    if (auto f = frames_.find(tracks.meta.seq); f != frames_.end()) {
      key_frames_.Add(f->second, tracks);
      frames_.erase(frames_.begin(), std::next(f));
    }
    const double t_s = tracks.meta.stamp_ns / 1e9;  // the map's clock
    std::vector<ObjectObservation> obs;
    for (const pipeline::Track& t : tracks.items) {
      if (!t.state.empty() && t.state != "confirmed") continue;
      ObjectObservation o;
      o.id = t.track_id;
      o.category = t.class_name.empty() ? "object" : t.class_name;
      o.confidence = t.score;
      // 2D tracks (colour-only video) go into the map's image-plane part.
      o.has_position = t.has_position;
      if (t.has_position)
        for (int a = 0; a < 3; ++a) o.position[a] = t.position_world[a], o.extent[a] = t.extent[a];
      o.box = {t.box.x, t.box.y, t.box.w, t.box.h};
      obs.push_back(o);
      auto [it, fresh] =
          frames_of_.emplace(t.track_id, Grounding{tracks.meta.seq, tracks.meta.seq, t_s});
      if (!fresh) it->second.last = tracks.meta.seq, it->second.last_t = t_s;
    }
    const bool has_pose = pose && pose->status != pipeline::PoseStatus::kLost;
    const CameraSample cam = has_pose ? CameraSample::Of(*pose) : CameraSample{};
    try {
      builder_.AddFrame(t_s, has_pose ? &cam : nullptr, obs);
    } catch (const std::invalid_argument& e) {  // out-of-order stamps: skipped, counted
      if (failed_++ < 10) spdlog::warn("reason: frame {}: {}", tracks.meta.seq, e.what());
      return;
    }
    last_meta_ = tracks.meta;
    if (builder_.forgotten_frames() != forgotten_seen_) {  // the history moved on
      forgotten_seen_ = builder_.forgotten_frames();
      for (auto it = frames_of_.begin(); it != frames_of_.end();)
        it = it->second.last_t < builder_.oldest_time() ? frames_of_.erase(it) : std::next(it);
    }
    if (o_.publish_every > 0 && builder_.frames_added() % o_.publish_every == 0)
      out.push_back({"maps", MapMessage()});
  }

  pipeline::CognitiveMap MapMessage() {
    map_ = builder_.Build();
    built_frames_ = builder_.frames_added();
    pipeline::CognitiveMap m;
    m.meta = last_meta_;
    m.meta.source_id = "reason";
    m.json = ToJson(map_);
    m.text = ToText(map_, o_.map);
    return m;
  }

  // The map a question is about: its time window's, or the whole stream's
  // (rebuilt when frames came since it was last built).
  const CognitiveMap& MapFor(const pipeline::Query& q) {
    if (q.t_begin_s || q.t_end_s) {
      const double t0 = builder_.first_time();
      window_ = builder_.Build(t0 + q.t_begin_s.value_or(0), t0 + q.t_end_s.value_or(1e18));
      return window_;
    }
    if (built_frames_ != builder_.frames_added()) {
      map_ = builder_.Build();
      built_frames_ = builder_.frames_added();
    }
    return map_;
  }

  pipeline::Answer Answer(const pipeline::Query& q) {
    pipeline::Answer a;
    a.meta = q.meta;
    a.request_id = q.request_id;
    a.question = q.question;
    try {
      const CognitiveMap& m = MapFor(q);
      if (llm_) {
        // Key frames with the queried object's mask over them (mask-guided
        // fusion): the object the built-in reasoner grounds the question on.
        std::vector<std::string> images;
        if (key_frames_.size() > 0)
          images = key_frames_.DataUrls(AnswerFromMap(m, q.question, q.options).track_id);
        const LlmAnswer r = llm_->Ask(ToText(m, o_.map), q.question, q.options, images);
        a.answer = r.answer;
        a.justification = "model reply: " + r.reply;
      } else {
        const ReasonerAnswer r = AnswerFromMap(m, q.question, q.options);
        a.answer = r.letter;
        a.justification = r.justification;
        a.track_id = r.track_id;
        if (&m == &window_) {
          char span[64];
          std::snprintf(span, sizeof span, " (map of %.1f-%.1f s)", m.t_begin, m.t_end);
          a.justification += span;
        }
      }
      // Grounding: where the object's masks are (the tracker's Tracks, as
      // tracks.jsonl writes them: mask_rle per track and frame).
      if (auto it = frames_of_.find(a.track_id); it != frames_of_.end())
        a.justification += "; grounding: track " + std::to_string(a.track_id) +
                           ", masks in frames " + std::to_string(it->second.first) + "-" +
                           std::to_string(it->second.last);
      ++answered_;
    } catch (const std::exception& e) {
      ++failed_;
      a.answer = "error";
      a.justification = e.what();
      spdlog::warn("reason: question {}: {}", q.request_id, e.what());
    }
    return a;
  }

  ReasonOptions o_;
  CognitiveMapBuilder builder_;
  CognitiveMap map_, window_;
  size_t built_frames_ = 0;  // frames map_ was built from
  std::unique_ptr<OpenAiBackend> llm_;
  pipeline::OrderedJoin<pipeline::Tracks, pipeline::CameraPose> join_{o_.has_poses, 128};
  pipeline::MessageMeta last_meta_;
  struct Grounding {
    uint64_t first = 0, last = 0;  // frame seqs with the track's masks
    double last_t = 0;             // stream time of the last: forgotten with the history
  };
  std::map<int64_t, Grounding> frames_of_;  // by track id
  size_t forgotten_seen_ = 0;
  KeyFrames key_frames_;
  std::map<uint64_t, pipeline::RgbdFrame> frames_;  // waiting for their tracks
  double answered_ = 0;
  uint64_t failed_ = 0;
};

}  // namespace

void RegisterStages(pipeline::StageRegistry& r) {
  r.Register(
      "reason",
      "spatio-temporal cognitive map (ST-TCM) from tracks and poses, and answers to questions "
      "(inputs tracks, poses, requests; outputs maps, replies)",
      [](pipeline::Params& p,
         const pipeline::StageContext& ctx) -> std::unique_ptr<pipeline::Stage> {
        ReasonOptions o;
        o.backend = p.GetChoice("backend", "builtin", {"builtin", "openai"});
        o.openai.url = p.GetString("url", o.openai.url);
        o.openai.model = p.GetString("model", o.openai.model);
        o.openai.api_key_env = p.GetString("api_key_env", o.openai.api_key_env);
        o.openai.timeout_s = p.GetDouble("timeout_s", o.openai.timeout_s, 0.01, 3600);
        o.openai.retries = p.GetInt("retries", o.openai.retries, 0, 100);
        o.map.token_budget = p.GetInt("token_budget", o.map.token_budget, 100, 1000000);
        o.publish_every = p.GetInt("publish_every", 0, 0, 1000000);
        o.map.history_s = p.GetDouble("history_s", o.map.history_s, 0, 1e9);
        const std::vector<double> up = p.GetNumbers("up", {0, -1, 0}, 3);
        std::copy(up.begin(), up.end(), o.map.up.begin());
        o.questions = p.GetList("questions", {}, ';');
        o.has_poses = ctx.inputs.count("poses") > 0;
        o.key_frames = p.GetInt("key_frames", 0, 0, 64);
        o.key_frame_every_s = p.GetDouble("key_frame_every_s", o.key_frame_every_s, 0, 3600);
        if (o.key_frames > 0 && !ctx.inputs.count("frames"))
          p.AddProblem("key_frames", "needs a frames input");
        for (const std::string& problem : o.map.Validate()) p.AddProblem("", problem);
        if (o.backend == "openai")
          for (const std::string& problem : o.openai.Validate()) p.AddProblem("", problem);
        p.Finish();
        return std::make_unique<ReasonStage>(std::move(o));
      });
}

}  // namespace dyn4d::reasoning
