#pragma once
/// \file
/// Classes anchored to one stream by a teacher that looks now and then (a
/// detector such as YOLOX run on every N-th frame): what the recognizer
/// makes of the crops the teacher labelled (a feature vector per crop; the
/// recognize stage gives its class probabilities) is kept per class, and
/// any other crop of the stream takes the class whose mean is nearest
/// (cosine; nearest class mean, Mensink et al. 2013; class prototypes,
/// Snell et al. 2017). A recognizer trained in other rooms confuses what it
/// never saw there (a lit screen when every training screen was off, called
/// person, keyboard or mouse), but it confuses it the same way each time:
/// the stream's own labelled examples say what that pattern means here.
/// Until the teacher has looked once there is nothing to match (the
/// recognizer's own class stands); a class the teacher has not seen on its
/// last `forget_after_looks` looks is forgotten (the scene has changed).

#include <optional>
#include <string>
#include <vector>

namespace dyn4d::perception {

class StreamAnchors {
 public:
  struct Config {
    int max_per_class = 64;       ///< latest labelled crops kept per class
    int forget_after_looks = 10;  ///< looks without a class before it is forgotten
    std::vector<std::string> Validate() const;
  };
  struct Match {
    int class_id = -1;
    float similarity = 0;  ///< cosine to the class's mean
  };

  StreamAnchors() : StreamAnchors(Config()) {}
  /// Throws std::invalid_argument naming the first bad field.
  explicit StreamAnchors(Config config);

  /// The teacher looks at a frame (its labelled crops follow with Add).
  void BeginLook();
  /// One crop the teacher labelled `class_id` (>= 0), by the recognizer's
  /// feature vector of it. Throws std::invalid_argument when the vector is
  /// empty or its size differs from the first one's.
  void Add(int class_id, const std::vector<float>& features);
  /// The class whose mean feature vector is nearest, if any is anchored.
  std::optional<Match> Nearest(const std::vector<float>& features) const;
  /// Classes anchored now.
  int classes() const;
  int looks() const { return looks_; }

 private:
  struct Anchored {
    int class_id;
    int last_look;                            // the look that last saw it
    std::vector<std::vector<float>> members;  // unit vectors, oldest first
    std::vector<double> sum;                  // of members
  };
  Config c_;
  int looks_ = 0;
  size_t dims_ = 0;
  std::vector<Anchored> anchored_;
};

}  // namespace dyn4d::perception
