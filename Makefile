# dyn4d — the two commands for a fresh Debian bookworm machine:
#   make demo   install what is missing, build, run the embedded demo (out/demo/)
#   make test   install what is missing, build, run the whole test suite
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
DYN4D := $(BUILD_DIR)/bin/dyn4d

.PHONY: all setup configure build test demo bench clean format

all: build

setup:
	@bash tools/setup.sh

configure:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
	@echo "configured $(BUILD_DIR)/ (Release)"

build: configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)
	@echo "built $(DYN4D)"

test:
	@$(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory build
	cd $(BUILD_DIR) && ctest --output-on-failure

# The main job on the embedded default: generate a synthetic RGB-D sequence
# with ground truth, then process it as any recorded dataset is processed.
demo:
	@$(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory build
	rm -rf out/synth out/demo
	$(DYN4D) synth --out out/synth --frames 90
	$(DYN4D) run --input out/synth --out out/demo --questions configs/demo_questions.txt
	$(DYN4D) eval traj --gt out/synth/groundtruth.txt --est out/demo/trajectory.tum
	$(DYN4D) eval mot --gt out/demo/gt_tracks_mot.txt --res out/demo/tracks_mot.txt
	@echo "== the cognitive map of out/demo and the answers to configs/demo_questions.txt"
	@cat out/demo/reasoning.txt
	@echo "== the whole run as one page (opens from disk, no network): out/demo/report.html"

bench: build
	$(DYN4D) bench transport
	$(DYN4D) bench io
	$(DYN4D) bench geometry --dataset 7scenes_redkitchen
	$(DYN4D) bench geometry --dataset tum_fr1_rpy
	$(DYN4D) bench recognition --latency
	$(DYN4D) bench recognition
	$(DYN4D) bench tracking --synth
	$(DYN4D) bench tracking --mot15 ../shared/data/mot15
	$(DYN4D) bench reasoning

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR) out
