# Thin wrapper over the CMake presets: `make run` and `make test` do the whole set-up.
PRESET ?= default
BUILD  := build/$(PRESET)

.PHONY: all bootstrap configure build run test asan bench fuzz clean

all: build

bootstrap:
	./scripts/bootstrap

configure: bootstrap
	cmake --preset $(PRESET)

build: configure
	cmake --build --preset $(PRESET)

run: build
	$(BUILD)/tools/pagescan/pagescan demo

test: build
	ctest --preset $(PRESET)

asan:
	$(MAKE) test PRESET=asan

fuzz: bootstrap
	cmake --preset fuzz
	cmake --build --preset fuzz
	./fuzz/run build/fuzz

bench: build
	./bench/report $(BUILD)/bench

clean:
	rm -rf build
