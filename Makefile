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

demo:
	@$(MAKE) --no-print-directory setup
	@$(MAKE) --no-print-directory build
	$(DYN4D) run --config configs/demo.yaml

bench: build
	$(DYN4D) bench transport

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD_DIR) out
