#include "dyn4d/perception/stream_anchors.h"

#include <catch2/catch.hpp>
#include <stdexcept>

using dyn4d::perception::StreamAnchors;

TEST_CASE("Stream anchors: a crop takes the class whose labelled crops are nearest",
          "[perception][anchors]") {
  StreamAnchors anchors;
  CHECK_FALSE(anchors.Nearest({1, 0, 0}));  // the teacher has not looked yet
  anchors.BeginLook();
  // Screens point one way, chairs another; lengths do not matter (cosine).
  anchors.Add(2, {1.0f, 0.1f, 0.0f});
  anchors.Add(2, {3.0f, 0.0f, 0.3f});
  anchors.Add(1, {0.0f, 1.0f, 0.2f});
  CHECK(anchors.classes() == 2);
  const auto screen = anchors.Nearest({0.8f, 0.3f, 0.1f});
  REQUIRE(screen);
  CHECK(screen->class_id == 2);
  CHECK(screen->similarity > 0.9f);
  const auto chair = anchors.Nearest({0.2f, 2.0f, 0.0f});
  REQUIRE(chair);
  CHECK(chair->class_id == 1);
  // Nothing to compare with: no answer rather than a guess.
  CHECK_FALSE(anchors.Nearest({0, 0, 0}));
  CHECK_FALSE(anchors.Nearest({1, 0}));  // another model's features
}

TEST_CASE("Stream anchors: the class mean, not the single nearest crop, decides",
          "[perception][anchors]") {
  StreamAnchors anchors;
  anchors.BeginLook();
  // Class 0's crops spread around +x; one of class 1's is an outlier near
  // the query, the rest sit at +y.
  anchors.Add(0, {1.0f, 0.3f});
  anchors.Add(0, {1.0f, -0.3f});
  anchors.Add(1, {0.95f, 0.35f});
  for (int i = 0; i < 5; ++i) anchors.Add(1, {0.0f, 1.0f});
  const auto m = anchors.Nearest({1.0f, 0.32f});
  REQUIRE(m);
  CHECK(m->class_id == 0);
}

TEST_CASE("Stream anchors: the latest crops count, and classes not seen for long are forgotten",
          "[perception][anchors]") {
  StreamAnchors::Config c;
  c.max_per_class = 2;
  c.forget_after_looks = 3;
  StreamAnchors anchors(c);
  anchors.BeginLook();
  anchors.Add(0, {0.0f, 1.0f});
  anchors.Add(1, {1.0f, 0.0f});
  // Class 0's look changes (the light went on): its two latest crops
  // replace the first.
  anchors.BeginLook();
  anchors.Add(0, {1.0f, 0.2f});
  anchors.Add(0, {1.0f, 0.1f});
  auto m = anchors.Nearest({1.0f, 0.15f});
  REQUIRE(m);
  CHECK(m->class_id == 0);
  CHECK(m->similarity > 0.99f);
  // Class 1 was last seen on look 1; after look 4 it is still there, after
  // look 5 (four looks without it) it is gone.
  for (int i = 0; i < 2; ++i) anchors.BeginLook(), anchors.Add(0, {1.0f, 0.15f});
  CHECK(anchors.looks() == 4);
  CHECK(anchors.classes() == 2);
  anchors.BeginLook();
  CHECK(anchors.classes() == 1);
  m = anchors.Nearest({1.0f, -1.0f});
  REQUIRE(m);
  CHECK(m->class_id == 0);
}

TEST_CASE("Stream anchors: bad input is refused by name", "[perception][anchors]") {
  StreamAnchors::Config c;
  c.max_per_class = 0;
  CHECK_THROWS_WITH(StreamAnchors(c), Catch::Contains("max_per_class"));
  StreamAnchors anchors;
  anchors.BeginLook();
  CHECK_THROWS_AS(anchors.Add(-1, {1.0f}), std::invalid_argument);
  CHECK_THROWS_AS(anchors.Add(0, {}), std::invalid_argument);
  anchors.Add(0, {1.0f, 0.0f});
  CHECK_THROWS_WITH(anchors.Add(0, {1.0f, 0.0f, 0.0f}), Catch::Contains("the first had 2"));
}
