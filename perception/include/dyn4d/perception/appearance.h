#pragma once
/// \file
/// A model-free appearance signature of an object in a colour image: its
/// hue/saturation histogram (grey pixels in brightness bins), normalised so
/// that the cosine of two signatures is their Bhattacharyya coefficient.
/// Tells a grey sweater from a blue one with no trained network, so the
/// tracker can keep identities on data no recognition model covers.
#include <vector>

#include "dyn4d/pipeline/messages.h"

namespace dyn4d::perception {

/// The signature of the pixels of `box` where `mask` (box-sized mono8, or
/// empty for the whole box) is set. bgr8 or rgb8 images; empty for anything
/// else or when fewer than 20 pixels count.
std::vector<float> ColourSignature(const pipeline::Image& color, const pipeline::Box2D& box,
                                   const pipeline::Image& mask);

}  // namespace dyn4d::perception
