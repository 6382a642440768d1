# The README's two commands: `make run` runs the main job, `make test` passes the tests.
# Both install the Debian packages they need when missing, and rebuild only what changed.

PACKAGES := g++ cmake ninja-build pkg-config libsystemc-dev libyaml-cpp-dev libcli11-dev \
            libfmt-dev doctest-dev libbenchmark-dev clang-format
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
JOBS ?= 2
SOURCES = $(shell git ls-files '*.cpp' '*.h' 2>/dev/null)

.PHONY: run test deps build build-asan check-format format bench clean

run: build
	./build/memsim run

test: check-format build build-asan
	ctest --test-dir build --output-on-failure -j $(JOBS)
	ctest --test-dir build-asan --output-on-failure -j $(JOBS)

deps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    $(SUDO) apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

build/build.ninja: | deps
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMEMSIM_WERROR=ON

build-asan/build.ninja: | deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMEMSIM_SANITIZE=ON -DMEMSIM_BENCH=OFF \
	    -DMEMSIM_WERROR=ON

build: deps build/build.ninja
	cmake --build build -j $(JOBS)

build-asan: deps build-asan/build.ninja
	cmake --build build-asan -j $(JOBS)

check-format: deps
	clang-format --dry-run --Werror $(SOURCES)

format: deps
	clang-format -i $(SOURCES)

bench: build
	./build/bench/memsim_bus_bench
	./build/bench/memsim_mmu_bench
	./build/bench/memsim_kernel_bench
	./build/bench/memsim_fault_bench
	./build/bench/memsim_dma_bench

clean:
	rm -rf build build-asan
