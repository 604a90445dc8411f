# The two commands of the README: `make run` and `make test`. Both install any
# missing Debian package first (scripts/install-deps.sh), then build with CMake.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG     ?= conf/server.json

.PHONY: all deps build asan run test test-unit test-asan clean install fuzz browser-deps

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWEBSERV_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# The demo also serves HTTPS on 127.0.0.1:8443 with a certificate made here (build/tls).
run: build
	@scripts/demo-run.sh $(BUILD) $(CONFIG)

# The browser test drives Debian's chromium with playwright-core (from npm,
# pinned in tests/browser/package.json).
browser-deps: deps
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || scripts/install-deps.sh nodejs npm
	@scripts/install-deps.sh chromium
	@[ -d tests/browser/node_modules/playwright-core ] || \
		(cd tests/browser && npm install --no-audit --no-fund --no-package-lock --loglevel=error)

# Every test: unit, module and integration tests on the release build (both
# event-loop backends) and the browser test, then again under ASan+UBSan.
test: build asan browser-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

install: build
	cmake --install $(BUILD)

# The Debian package (docs/operations.md): build-deb/webserv_<version>_<arch>.deb.
.PHONY: deb
deb: deps
	@JOBS=$(JOBS) scripts/make-deb.sh $(CURDIR)/build-deb

# A real apt-get install of that package (then the default page served without
# systemd, then purge) in a throwaway overlay of this system, in its own mount,
# network and PID namespaces (scripts/deb-apt-test.sh; root only). Not in make test.
.PHONY: deb-apt-test
deb-apt-test: deb
	@scripts/deb-apt-test.sh $$(ls -t $(CURDIR)/build-deb/webserv_*.deb | head -n 1)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-deb

# The benchmark (bench/README.md): webserv against nginx and lighttpd, about
# 20 minutes. Never part of `make test`. BENCH_ARGS passes options to bench/run.py.
# h2load (nghttp2-client), php-fpm and brotli serve the HTTP/2, PHP and .br rows.
.PHONY: bench
bench: deps
	@scripts/install-deps.sh wrk nginx-light lighttpd lighttpd-mod-webdav nghttp2-client php-fpm brotli
	python3 bench/run.py $(BENCH_ARGS)

# The soak test (tests/soak/soak.py): the server with 2 workers under a mixed
# load (static, uploads, CGI, listings, clients that vanish), a SIGHUP every
# minute and a worker SIGKILLed every five, for SOAK_MINUTES (default 30);
# requests, errors, RSS and open fds of every process in build/soak/*.csv.
# Never part of `make test`.
SOAK_MINUTES ?= 30
.PHONY: soak
soak: build
	SOAK_MINUTES=$(SOAK_MINUTES) python3 tests/soak/soak.py --build $(BUILD)

# 1 GiB through the proxy in each direction, byte-exact, with the server's RSS
# bounded (test_proxy's large-body case at full size; `make test` runs it at
# 64 MiB). Never part of `make test`.
.PHONY: proxy-big
proxy-big: build
	cd $(BUILD) && WEBSERV_BIN=$$PWD/webserv WEBSERV_MODULES=$$PWD/modules WEBSERV_SRC=$$PWD/.. \
		WEBSERV_PROXY_BIG_MIB=1024 /usr/bin/python3 ../tests/integration/test_proxy.py \
		ProxyTest.test_large_bodies_byte_exact_with_bounded_rss

# libFuzzer targets (tests/fuzz/fuzz_*.c), built with clang in build-fuzz, each
# run for FUZZ_SECONDS on a copy of its seeds (build-fuzz/corpus-<name>; the
# seeds in tests/fuzz/corpus/<name> are never written). A crash, leak or
# timeout fails; the input is kept as build-fuzz/crash-<name>-*, the output in
# build-fuzz/fuzz-<name>.log. Never part of `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/install-deps.sh clang libclang-rt-14-dev
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DWEBSERV_FUZZ=ON -DWEBSERV_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@status=0; for bin in build-fuzz/fuzz_*; do \
		[ -f "$$bin" ] && [ -x "$$bin" ] || continue; \
		name=$${bin#build-fuzz/fuzz_}; corpus=build-fuzz/corpus-$$name; log=build-fuzz/fuzz-$$name.log; \
		mkdir -p $$corpus; \
		if [ -d tests/fuzz/corpus/$$name ]; then cp -R tests/fuzz/corpus/$$name/. $$corpus/; fi; \
		echo "fuzz_$$name: $(FUZZ_SECONDS) s on $$corpus"; \
		if $$bin -max_total_time=$(FUZZ_SECONDS) -timeout=30 -print_final_stats=1 \
			-artifact_prefix=build-fuzz/crash-$$name- $$corpus >$$log 2>&1; then result=ok; \
		else result=FAILED; status=1; tail -40 $$log; fi; \
		runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
		echo "fuzz_$$name: $$result, $${runs:-?} executions, corpus $$(ls $$corpus | wc -l) inputs"; \
	done; exit $$status

# Precompressed variants for mod_compress ("precompressed": true): FILE.br,
# FILE.zst and FILE.gz beside every compressible file under DIR
# (docs/configuration.md, "Compression").
.PHONY: precompress
precompress: deps
	@[ -n "$(DIR)" ] || { echo "usage: make precompress DIR=folder" >&2; exit 2; }
	@scripts/webserv-precompress $(DIR)

# mod_compress's bounded-memory test with a 1 GiB CGI body (make test runs
# it with 128 MiB): worker RSS growth must stay under 16 MiB.
.PHONY: compress-big
compress-big: build
	cd $(BUILD) && COMPRESS_BIG_MIB=1024 ctest -R 'integration/test_compress$$' --output-on-failure
