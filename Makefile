# Kiseki: the user's entry point. Every target first installs the Debian
# packages it needs that are missing, then configures and builds with CMake.
#
#   make          build everything (RelWithDebInfo) into build/, binaries in build/bin/
#   make test     the default tree, then a Debug + ASan/UBSan tree in build/asan/ and every test
#   make demo     build, then run the demo (see README.md)
#   make bench    Release tree in build/release/, then every benchmark
#   make fuzz     clang libFuzzer tree in build/fuzz/, each target for FUZZ_SECONDS
#   make install  build, then install libkiseki-trace (headers, .a, .so, .pc)
#                 under PREFIX (default /usr/local), staged under DESTDIR if set
#   make clean    remove build/

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all build test demo bench fuzz install clean deps-build deps-test deps-fuzz deps-bench

all: build

deps-build:
	@scripts/install-deps.sh build
deps-test:
	@scripts/install-deps.sh test
deps-fuzz:
	@scripts/install-deps.sh fuzz
deps-bench:
	@scripts/install-deps.sh bench

build: deps-test
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)

# The default tree is built too (optimised builds see warnings -O0 misses,
# and `make` / `make demo` must keep working), then every test runs in the
# sanitizer tree.
test: deps-test
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)
	cmake --build build -j $(JOBS)
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DKSK_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ctest --output-on-failure -j $(JOBS)

demo: build
	@scripts/demo.sh

bench: deps-bench
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DKSK_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build build/release -j $(JOBS)
	@scripts/bench.sh build/release

fuzz: deps-fuzz
	CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSK_FUZZ=ON -DKSK_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build build/fuzz -j $(JOBS)
	@scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

install: build
	DESTDIR="$(DESTDIR)" cmake --install build --prefix "$(PREFIX)"

clean:
	rm -rf build
