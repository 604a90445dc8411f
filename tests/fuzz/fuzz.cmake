# libFuzzer targets: tests/fuzz/fuzz_*.c, built with clang -fsanitize=fuzzer.
# `make fuzz` configures build-fuzz with this and runs each target on a copy of
# its seed corpus tests/fuzz/corpus/<name without fuzz_>.
file(GLOB FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(src ${FUZZ_TARGETS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/modules ${CMAKE_SOURCE_DIR}/tests/testhost)
  target_link_libraries(${name} PRIVATE webserv_core)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
endforeach()

# fuzz_server runs the real server with the built modules (${CMAKE_BINARY_DIR}/modules)
# and two test modules, built here because the fuzz build has no tests.
foreach(mod echo delay)
  webserv_module_target(fuzzmod_${mod} ${CMAKE_SOURCE_DIR}/tests/testmods/${mod} ${CMAKE_BINARY_DIR}/fuzz-modules)
  set_target_properties(fuzzmod_${mod} PROPERTIES OUTPUT_NAME mod_${mod})
endforeach()
# Both run the in-process server of server_harness.c.
foreach(t fuzz_server fuzz_h2)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${CMAKE_SOURCE_DIR}/tests/fuzz/server_harness.c)
    add_dependencies(${t} fuzzmod_echo fuzzmod_delay ${WEBSERV_MODULE_TARGETS})
  endif()
endforeach()

# fuzz_rewrite compiles its patterns with PCRE2, as mod_rewrite does.
if(TARGET fuzz_rewrite)
  target_link_libraries(fuzz_rewrite PRIVATE PkgConfig::PCRE2)
endif()
