// Writes one valid encoded message of every type into DIR, as fuzzer seeds.
#include <fstream>
#include <iostream>

#include "fuzz_format.h"

using namespace dyn4d::pipeline;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: write_seed_corpus DIR\n";
    return 2;
  }
  std::vector<Message> seeds;
  RgbdFrame f;
  f.meta = {3, 1000, "cam"};
  f.color = Image::Allocate(4, 2, PixelEncoding::kBgr8);
  f.depth = Image::Allocate(4, 2, PixelEncoding::kMono16);
  f.intrinsics = {500, 500, 2, 1, 4, 2};
  seeds.push_back(f);
  CameraPose p;
  p.t_world_cam = {1, 2, 3};
  seeds.push_back(p);
  PointCloud c;
  c.num_points = 2;
  c.points = Buffer::Allocate(24);
  c.colors = Buffer::Allocate(6);
  seeds.push_back(c);
  Detections d;
  Detection det;
  det.class_name = "person";
  det.mask = Image::Allocate(2, 2, PixelEncoding::kMono8);
  d.items = {det, Detection{}};
  seeds.push_back(d);
  Tracks t;
  Track tr;
  tr.track_id = 5;
  tr.mask = Image::Allocate(3, 1, PixelEncoding::kMono8);
  t.items = {tr};
  seeds.push_back(t);
  seeds.push_back(CognitiveMap{{}, "{}", "text"});
  Query q;
  q.options = {"A. x", "B. y"};
  q.t_end_s = 2.0;
  seeds.push_back(q);
  seeds.push_back(Answer{{}, 1, "A", "because", 3});
  seeds.push_back(Stats{});
  seeds.push_back(EndOfStream{});
  int i = 0;
  for (const Message& m : seeds) {
    std::ofstream out(std::string(argv[1]) + "/seed" + std::to_string(i++), std::ios::binary);
    out << dyn4d::fuzz::Join(Encode("topic", m));
  }
  std::cout << "wrote " << i << " seeds\n";
  return 0;
}
