#pragma once
/// \file
/// Multiple-choice questions in the Dyn-Bench families, generated with known
/// answers from a scene's exact ground truth (not from a cognitive map, so
/// answering them tests the map), and the built-in deterministic reasoner
/// that answers them from a cognitive map.
#include <cstdint>
#include <string>
#include <vector>

#include "dyn4d/reasoning/cognitive_map.h"

namespace dyn4d::reasoning {

/// Exact ground truth of a scene, per frame (all objects, seen or not).
struct SceneTruth {
  struct Object {
    int64_t id = -1;
    std::string category;
    Vec3 center{0, 0, 0};  ///< world
    Vec3 velocity{0, 0, 0};
    int visible_pixels = 0;
    int silhouette_pixels = 0;
    int64_t occluded_by = -1;  ///< the object hiding most of it, -1 none
  };
  struct Frame {
    double t = 0;
    CameraSample camera;  ///< T_world_cam
    std::vector<Object> objects;
  };
  std::vector<Frame> frames;
  int min_visible_pixels = 20;  ///< an object counts as in view from this many pixels
};

struct Question {
  std::string family;  ///< approaching, occlusion, relative_direction, depth_order,
                       ///< camera_motion_of_object, leaves_view, stops_and_moves, moving_at_end,
                       ///< event_order, count_moving, first_to_move
  std::string dimension;  ///< inter_object, object_scene, camera_object (Dyn-Bench's three)
  std::string question;
  std::vector<std::string> options;  ///< "A. ...", "B. ..."
  std::string answer;                ///< the letter
};

/// Questions of every family the scene supports (a family is skipped where
/// the truth is ambiguous: margins keep every answer clear-cut). Objects are
/// named by category, so each category must be unique in the scene.
std::vector<Question> GenerateQuestions(const SceneTruth& truth);

struct ReasonerAnswer {
  /// The option letter; for a question without options, the answer itself
  /// (a category, "yes"/"no", a number, a direction); "" when none found.
  std::string letter;
  std::string justification;  ///< cites map entries
  int64_t track_id = -1;      ///< the object the question is about (grounding)
};

/// Answers a question from the map: recognises the family from its wording,
/// finds the objects by category (the longest-seen track of a category when
/// several share it) and the times, computes the answer, picks the option
/// (or, without options, returns the answer's text).
ReasonerAnswer AnswerFromMap(const CognitiveMap& map, const std::string& question,
                             const std::vector<std::string>& options);

/// Dyn-Bench's scoring: the first whitespace-separated word of a reply,
/// stripped of .,;:!? and upper-cased (the option letter).
std::string FirstWordLetter(const std::string& reply);

}  // namespace dyn4d::reasoning
