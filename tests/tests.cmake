# Test targets; included from the top CMakeLists.txt.
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# Modules used only by tests (async responders, body echo, bad modules …).
file(GLOB TESTMOD_DIRS LIST_DIRECTORIES true ${CMAKE_SOURCE_DIR}/tests/testmods/*)
foreach(dir ${TESTMOD_DIRS})
  if(IS_DIRECTORY ${dir})
    get_filename_component(name ${dir} NAME)
    webserv_module_target(testmod_${name} ${dir} ${CMAKE_BINARY_DIR}/tests/modules)
    set_target_properties(testmod_${name} PROPERTIES OUTPUT_NAME mod_${name})
  endif()
endforeach()

# The kv example (examples/modules/kv) is also built here, so the integration
# tests can load it (test_kv.py) and its test-host test runs with the others;
# test_sdk.py builds it out of tree too, the way its README says.
add_library(example_kv MODULE ${CMAKE_SOURCE_DIR}/examples/modules/kv/kv.c)
target_include_directories(example_kv PRIVATE ${CMAKE_SOURCE_DIR}/include)
set_target_properties(example_kv PROPERTIES PREFIX "" OUTPUT_NAME mod_kv
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/modules C_VISIBILITY_PRESET hidden)
if(TARGET webserv_testhost)
  add_executable(example_test_kv ${CMAKE_SOURCE_DIR}/examples/modules/kv/test_kv.c
    ${CMAKE_SOURCE_DIR}/examples/modules/kv/kv.c)
  # <webserv/testhost.h> as an installed SDK has it.
  configure_file(${CMAKE_SOURCE_DIR}/tests/testhost/testhost.h ${CMAKE_BINARY_DIR}/sdk-include/webserv/testhost.h COPYONLY)
  target_include_directories(example_test_kv PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_BINARY_DIR}/sdk-include)
  target_link_libraries(example_test_kv PRIVATE webserv_testhost PkgConfig::CMOCKA)
  add_test(NAME examples/test_kv COMMAND example_test_kv)
endif()

# The WebSocket echo example (examples/modules/websocket-echo, ABI 1.3) is also
# built here: test_websocket_echo.py loads it, and its test-host test runs with
# the others; test_sdk.py builds it out of tree too.
add_library(example_websocket_echo MODULE ${CMAKE_SOURCE_DIR}/examples/modules/websocket-echo/websocket_echo.c
  ${CMAKE_SOURCE_DIR}/examples/modules/websocket-echo/ws_frame.c)
target_include_directories(example_websocket_echo PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(example_websocket_echo PRIVATE OpenSSL::Crypto)
set_target_properties(example_websocket_echo PROPERTIES PREFIX "" OUTPUT_NAME mod_websocket_echo
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/modules C_VISIBILITY_PRESET hidden)
if(TARGET webserv_testhost)
  add_executable(example_test_websocket_echo ${CMAKE_SOURCE_DIR}/examples/modules/websocket-echo/test_websocket_echo.c
    ${CMAKE_SOURCE_DIR}/examples/modules/websocket-echo/websocket_echo.c
    ${CMAKE_SOURCE_DIR}/examples/modules/websocket-echo/ws_frame.c)
  target_include_directories(example_test_websocket_echo PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_BINARY_DIR}/sdk-include)
  target_link_libraries(example_test_websocket_echo PRIVATE webserv_testhost PkgConfig::CMOCKA OpenSSL::Crypto)
  add_test(NAME examples/test_websocket_echo COMMAND example_test_websocket_echo)
endif()

# Module binaries of older ABI minors (tests/fixtures/README.md): oldabi.c
# compiled against frozen copies of the 1.0, 1.1 and 1.2 headers only.
foreach(minor 0 1 2)
  add_library(fixture_oldabi1${minor} MODULE ${CMAKE_SOURCE_DIR}/tests/fixtures/oldabi/oldabi.c)
  target_include_directories(fixture_oldabi1${minor} BEFORE PRIVATE ${CMAKE_SOURCE_DIR}/tests/fixtures/abi1.${minor})
  target_compile_definitions(fixture_oldabi1${minor} PRIVATE OLDABI_NAME="oldabi1${minor}")
  set_target_properties(fixture_oldabi1${minor} PROPERTIES PREFIX "" OUTPUT_NAME mod_oldabi1${minor}
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/modules C_VISIBILITY_PRESET hidden)
endforeach()

# The fake host (webserv_testhost) is defined in the top CMakeLists.txt: it is
# also installed, as libwebserv-testhost.a, for out-of-tree module tests.

file(GLOB UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(unit_${name} ${src})
  target_link_libraries(unit_${name} PRIVATE webserv_core PkgConfig::CMOCKA)
  add_test(NAME unit/${name} COMMAND unit_${name})
  set_tests_properties(unit/${name} PROPERTIES ENVIRONMENT
    "WEBSERV_SRC=${CMAKE_SOURCE_DIR};WEBSERV_BUILD=${CMAKE_BINARY_DIR};WEBSERV_CONFIG_CORPUS=${CMAKE_BINARY_DIR}/config-corpus")
endforeach()

# Module tests include the module's .c files they test (to reach static functions).
file(GLOB MODULE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/modules/test_*.c)
foreach(src ${MODULE_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(mod_${name} ${src})
  # Some module tests also load the built .so (and the test modules).
  add_dependencies(mod_${name} ${WEBSERV_MODULE_TARGETS})
  target_include_directories(mod_${name} PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/modules ${CMAKE_SOURCE_DIR}/tests/testhost
    ${CMAKE_SOURCE_DIR}/lib/spool)
  if(TARGET webserv_testhost)
    target_link_libraries(mod_${name} PRIVATE webserv_testhost)
  endif()
  target_link_libraries(mod_${name} PRIVATE PkgConfig::CMOCKA)
  # Tests that include a module's sources need that module's libraries.
  if(name STREQUAL "test_rewrite")
    target_link_libraries(mod_${name} PRIVATE PkgConfig::PCRE2)
  elseif(name STREQUAL "test_auth_basic" OR name STREQUAL "test_auth_cache")
    target_link_libraries(mod_${name} PRIVATE PkgConfig::LIBCRYPT OpenSSL::Crypto)
  elseif(name STREQUAL "test_compress")
    # the encoders, and the decoders the tests check them with
    pkg_check_modules(BROTLIDEC REQUIRED IMPORTED_TARGET libbrotlidec)
    target_link_libraries(mod_${name} PRIVATE PkgConfig::ZLIB PkgConfig::LIBDEFLATE PkgConfig::BROTLIENC PkgConfig::BROTLIDEC PkgConfig::ZSTD)
  endif()
  add_test(NAME modules/${name} COMMAND mod_${name})
  # A module test that hangs (a blocking open, a lost wake-up) fails in two
  # minutes instead of ctest's default 25; the slowest takes ~10 s under ASan.
  set_tests_properties(modules/${name} PROPERTIES TIMEOUT 120
    ENVIRONMENT "WEBSERV_SRC=${CMAKE_SOURCE_DIR};WEBSERV_BUILD=${CMAKE_BINARY_DIR}")
endforeach()

# Integration tests: the real binary on 127.0.0.1, with real clients.
find_program(PYTHON3 python3 REQUIRED)
file(GLOB INTEGRATION_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.py)
set(WEBSERV_TEST_ENV
  "WEBSERV_BIN=$<TARGET_FILE:webserv>"
  "WEBSERV_MODULES=${CMAKE_BINARY_DIR}/modules"
  "WEBSERV_TESTMODS=${CMAKE_BINARY_DIR}/tests/modules"
  "WEBSERV_SRC=${CMAKE_SOURCE_DIR}"
  "WEBSERV_BUILD=${CMAKE_BINARY_DIR}"
  "WEBSERV_CONFIG_CORPUS=${CMAKE_BINARY_DIR}/config-corpus"
  "PYTHONDONTWRITEBYTECODE=1")
# The HTTP/2 tests need Debian's python3-h2, which only Debian's python3 sees.
set(DEBIAN_PYTHON3 /usr/bin/python3)
foreach(src ${INTEGRATION_TESTS})
  get_filename_component(name ${src} NAME_WE)
  set(py ${PYTHON3})
  # test_websocket*.py and test_proxy_ws.py use Debian's python3-websockets;
  # test_auth_flight.py python3-h2; test_tls_memory holds HTTP/2 connections
  # too (python3-h2's hpack).
  if(name MATCHES "^test_h2|^test_websocket|^test_proxy_ws|^test_auth_flight|^test_tls_memory")
    set(py ${DEBIAN_PYTHON3})
  endif()
  add_test(NAME integration/${name} COMMAND ${py} ${src})
  set_tests_properties(integration/${name} PROPERTIES ENVIRONMENT "${WEBSERV_TEST_ENV}" TIMEOUT 300)
  # The same suite on the poll backend (the sanitizer build runs epoll only).
  if(NOT WEBSERV_SANITIZE)
    add_test(NAME integration-poll/${name} COMMAND ${py} ${src})
    set_tests_properties(integration-poll/${name} PROPERTIES
      ENVIRONMENT "${WEBSERV_TEST_ENV};WEBSERV_EVENT_BACKEND=poll" TIMEOUT 300)
  endif()
endforeach()
# test_auth_basic runs 20 bcrypt hashes of cost 12 at once: alone, so that it
# neither starves the timing checks of other tests nor is starved by them.
foreach(t integration/test_auth_basic integration-poll/test_auth_basic integration/test_auth_flight
          integration-poll/test_auth_flight)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()

# The nginx differential test exits 77 when nginx is missing: reported as skipped, not passed.
foreach(prefix integration integration-poll)
  if(TEST ${prefix}/test_nginx_diff)
    set_tests_properties(${prefix}/test_nginx_diff PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endforeach()

# The module suites once more over HTTPS (harness.py WEBSERV_TEST_TLS): every
# listen address TLS, every client speaking TLS. Left out of these runs (they
# still run plain above): a test that reads a raw non-blocking socket, one
# holding a latency bound measured for plain HTTP (two of them), and one that
# counts the size of the server's read() calls on a plain socket (over TLS
# they are the TLS layer's reads of records).
foreach(name test_static test_upload test_cgi test_autoindex test_filters)
  add_test(NAME integration-tls/${name} COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/${name}.py)
  set_tests_properties(integration-tls/${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
    "${WEBSERV_TEST_ENV};WEBSERV_TEST_TLS=1;WEBSERV_TEST_TLS_EXCLUDE=test_slow_reader_memory,test_slow_reader_memory_bounded,test_fifty_concurrent,test_ten_thousand_entries,test_big_body_read_in_big_pieces")
endforeach()

# The module suites once more over HTTP/2 (harness.py WEBSERV_TEST_H2: every
# cleartext address also takes h2c; http.client and curl speak HTTP/2, and
# raw-socket tests still speak HTTP/1.1 to the same addresses). Left out, as in
# the HTTPS runs: the two latency bounds measured for plain HTTP/1.1.
foreach(name test_static test_upload test_cgi test_autoindex)
  add_test(NAME integration-h2/${name} COMMAND ${DEBIAN_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/${name}.py)
  set_tests_properties(integration-h2/${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
    "${WEBSERV_TEST_ENV};WEBSERV_TEST_H2=1;WEBSERV_TEST_H2_EXCLUDE=test_fifty_concurrent,test_ten_thousand_entries")
endforeach()
# proxy and fastcgi over HTTP/2: a body sent without Content-Length (a streamed
# one) must reach the upstream whole (proxy: chunked; fastcgi: spooled, with its
# CONTENT_LENGTH). Left out: hop-by-hop fields HTTP/2 cannot carry, and a test
# needing a request sent before getresponse() (h2client sends at getresponse).
# Under ASan, also the RSS bound of the 1 GiB transfers: ASan's quarantine keeps
# every nghttp2 frame freed on the way resident (it passes with quarantine_size_mb=0).
set(H2_UPSTREAM_EXCLUDE "test_request_forwarding_and_hop_by_hop,test_weighted_round_robin_and_least_conn")
if(WEBSERV_SANITIZE)
  string(APPEND H2_UPSTREAM_EXCLUDE ",test_large_bodies_byte_exact_with_bounded_rss")
endif()
foreach(name test_proxy test_fastcgi)
  add_test(NAME integration-h2/${name} COMMAND ${DEBIAN_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/integration/${name}.py)
  set_tests_properties(integration-h2/${name} PROPERTIES TIMEOUT 300 ENVIRONMENT
    "${WEBSERV_TEST_ENV};WEBSERV_TEST_H2=1;WEBSERV_TEST_H2_EXCLUDE=${H2_UPSTREAM_EXCLUDE}")
endforeach()

# The core integration tests with the server under valgrind memcheck (release
# build only: valgrind and ASan exclude each other). harness.py wraps the binary
# when WEBSERV_VALGRIND=1 and sends one SIGHUP reload per server; any memory
# error or definite leak fails the test (and a missing valgrind: it comes from
# scripts/install-deps.sh). test_http is split in two (by the first
# letter of the test name) to keep each part near a minute; test_h2 in two by
# class (frame-level semantics; negotiation, 100 streams and GOAWAY), and the
# HTTP/2 floods whole (rapid reset, CONTINUATION, slow readers, timeouts), and
# the HTTP/2 sleep and wake of idle sessions (not their RSS: valgrind's says nothing).
if(NOT WEBSERV_SANITIZE)
  set(WEBSERV_LEAK_TESTS
    "test_http-a-l|test_http.py|-k|*.test_[!m-z]*"
    "test_http-m-z|test_http.py|-k|*.test_[m-z]*"
    "test_async_api|test_async_api.py"
    "test_conformance|test_conformance.py"
    "test_tls|test_tls.py|-k|HandshakeClients|-k|Refusals|-k|Sni|-k|Reload"
    "test_module_state|test_module_state.py"
    "test_phases|test_phases.py"
    "test_filters|test_filters.py|-k|*.test_[a-r]*"
    "test_auth_basic|test_auth_basic.py|-k|*.test_[a-r]*"
    "test_auth_flight|test_auth_flight.py"
    "test_h2-frames|test_h2.py|-k|TestSemantics"
    "test_h2-streams|test_h2.py|-k|TestNegotiation|-k|TestConcurrency|-k|TestLifecycle"
    "test_h2_floods|test_h2_floods.py"
    "test_compress_offload|test_compress_offload.py|-k|*.test_client_leaves*"
    "test_upload-delete|test_upload.py|-k|*.test_client_leaves_mid_delete|-k|*.test_delete"
    "test_upload-chunked|test_upload.py|-k|*.test_chunked_client_gone_mid_body*|-k|*.test_put_chunked*"
    "test_autoindex-pool|test_autoindex.py|-k|*.test_client_leaves_while_listing|-k|*.test_static_answered_while_listing|-k|*.test_head"
    "test_h2_idle|test_h2_idle.py|-k|TestWake")
  foreach(entry ${WEBSERV_LEAK_TESTS})
    string(REPLACE "|" ";" parts "${entry}")
    list(POP_FRONT parts name script)
    set(py ${PYTHON3})
    if(script MATCHES "^test_h2|^test_auth_flight")
      set(py ${DEBIAN_PYTHON3}) # python3-h2
    endif()
    add_test(NAME leaks/${name} COMMAND ${py} ${CMAKE_SOURCE_DIR}/tests/integration/${script} ${parts})
    set_tests_properties(leaks/${name} PROPERTIES ENVIRONMENT "${WEBSERV_TEST_ENV};WEBSERV_VALGRIND=1" TIMEOUT 600)
  endforeach()
endif()

# The demo site in headless Chromium (release build only). It needs Debian's
# chromium and playwright-core in tests/browser/node_modules: `make test`
# installs both (see the Makefile's browser-deps). Missing pieces fail the test.
if(NOT WEBSERV_SANITIZE)
  find_program(NODE node)
  add_test(NAME browser/demo COMMAND ${NODE} --test ${CMAKE_SOURCE_DIR}/tests/browser/demo.test.mjs)
  set_tests_properties(browser/demo PROPERTIES ENVIRONMENT "${WEBSERV_TEST_ENV}" TIMEOUT 300)
endif()

# The Debian package (make deb): built in its own tree (build/deb-package),
# unpacked with dpkg -x, checked with lintian (scripts/install-deps.sh installs
# lintian and dpkg-dev), its binary run from the scratch root. Release build only.
if(NOT WEBSERV_SANITIZE)
  add_test(NAME package/deb COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/package/test_deb.py)
  set_tests_properties(package/deb PROPERTIES ENVIRONMENT "${WEBSERV_TEST_ENV}" TIMEOUT 1800)
endif()

# The config schema (webserv --schema) against the server's validation, with
# Debian's python3 and python3-jsonschema (scripts/install-deps.sh). The
# corpus test reads the configs every other test loaded (WEBSERV_CONFIG_CORPUS),
# so it runs after all of them.
set(DEBIAN_PYTHON3 /usr/bin/python3)
get_property(WEBSERV_ALL_TESTS DIRECTORY PROPERTY TESTS)
add_test(NAME schema/agreement COMMAND ${DEBIAN_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/schema/test_schema.py)
# ~11,000 `webserv -t` runs: 155 s in a release build, over 600 s under ASan on
# a slower 2-core VM (each run ~0.1 s there: the sanitizer's start and leak
# check), hence the half hour.
set_tests_properties(schema/agreement PROPERTIES ENVIRONMENT "${WEBSERV_TEST_ENV}" TIMEOUT 1800)
add_test(NAME schema/corpus COMMAND ${DEBIAN_PYTHON3} ${CMAKE_SOURCE_DIR}/tests/schema/test_schema_corpus.py)
set_tests_properties(schema/corpus PROPERTIES ENVIRONMENT "${WEBSERV_TEST_ENV}" TIMEOUT 600
  DEPENDS "${WEBSERV_ALL_TESTS}")
