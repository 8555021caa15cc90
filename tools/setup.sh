#!/usr/bin/env bash
# Installs every Debian package dyn4d needs to build, test and run its demo.
#
# Idempotent: packages already installed are skipped, and `apt-get update` runs
# at most once, only when something is missing. Safe to run on every `make`.
# Needs root (or sudo) only when something has to be installed.
set -euo pipefail

# One line per purpose, so it is clear why each package is here.
PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache git
  # pipeline: transport, messages, config, logging, CLI
  libzmq3-dev cppzmq-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev
  # math (header-only)
  libeigen3-dev
  # io: images, video (FFmpeg/GStreamer), stereo (calib3d, ximgproc from contrib),
  # OpenNI2 RGB-D cameras, zlib (MCAP CRCs)
  libopencv-dev libopencv-contrib-dev libopenni2-dev zlib1g-dev
  # perception/geometry: TSDF map, per-frame clouds and the benchmark baseline
  # (Open3D), sliding-window refinement (Ceres)
  libopen3d-dev libceres-dev
  # perception/recognition: Dyn-Perceiver in LibTorch; OpenBLAS (OpenMP build)
  # becomes the BLAS Debian's torch uses instead of the slow ATLAS; the
  # Fashion-MNIST training/benchmark data
  libtorch-dev libopenblas0-openmp dataset-fashion-mnist
  # real colour-only video for the tests: vtest.avi (pedestrians), Megamind,
  # tree (and a damaged Megamind_bugy.avi) in /usr/share/doc/opencv-doc
  opencv-doc
  # reasoning: the OpenAI-compatible backend's HTTP client (and the loopback
  # test server)
  libcpp-httplib-dev
  # ROS 2 over DDS without a ROS install: CycloneDDS (C API) for the bridge;
  # idlc (cyclonedds-tools) generates the tests' independent C serializer
  cyclonedds-dev cyclonedds-tools
  # the live ROS 2 test runs in a network namespace of its own (unshare, ip)
  util-linux iproute2
  # the live viewer: the Foxglove WebSocket protocol server (header-only)
  libwebsocketpp-dev libasio-dev
  # tests and benchmarks
  catch2 libbenchmark-dev
  # batches as array jobs: a one-node Slurm cluster started by a test
  slurm-wlm munge
  # the built-in page tested in a real browser (headless, with playwright-core
  # from npm at test set-up)
  chromium
  # fuzzing the message decoder (clang + libFuzzer runtime)
  clang libfuzzer-14-dev libclang-rt-14-dev
  # the Python protocol client test (Debian's python3, not the one first on PATH)
  python3 python3-zmq python3-msgpack python3-numpy
)
# The MCAP test validates recordings with @mcap/core from npm: Node.js is
# needed; use the machine's own if it has one, else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} required Debian packages are installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup: missing packages (${missing[*]}) and not root; run as root or install them" >&2
    exit 1
  fi
fi

echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
