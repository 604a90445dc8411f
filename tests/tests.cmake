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

# The fake host (webserv_testhost) is defined in the top CMakeLists.txt: it is
# also installed, as libwebserv-testhost.a, for out-of-tree module tests.

file(GLOB UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(unit_${name} ${src})
  target_link_libraries(unit_${name} PRIVATE webserv_core PkgConfig::CMOCKA)
  add_test(NAME unit/${name} COMMAND unit_${name})
  set_tests_properties(unit/${name} PROPERTIES ENVIRONMENT "WEBSERV_SRC=${CMAKE_SOURCE_DIR};WEBSERV_BUILD=${CMAKE_BINARY_DIR}")
endforeach()

# Module tests include the module's .c files they test (to reach static functions).
file(GLOB MODULE_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/modules/test_*.c)
foreach(src ${MODULE_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(mod_${name} ${src})
  # Some module tests also load the built .so (and the test modules).
  add_dependencies(mod_${name} ${WEBSERV_MODULE_TARGETS})
  target_include_directories(mod_${name} PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/modules ${CMAKE_SOURCE_DIR}/tests/testhost)
  if(TARGET webserv_testhost)
    target_link_libraries(mod_${name} PRIVATE webserv_testhost)
  endif()
  target_link_libraries(mod_${name} PRIVATE PkgConfig::CMOCKA)
  add_test(NAME modules/${name} COMMAND mod_${name})
  set_tests_properties(modules/${name} PROPERTIES ENVIRONMENT "WEBSERV_SRC=${CMAKE_SOURCE_DIR};WEBSERV_BUILD=${CMAKE_BINARY_DIR}")
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
  "PYTHONDONTWRITEBYTECODE=1")
foreach(src ${INTEGRATION_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME integration/${name} COMMAND ${PYTHON3} ${src})
  set_tests_properties(integration/${name} PROPERTIES ENVIRONMENT "${WEBSERV_TEST_ENV}" TIMEOUT 300)
  # The same suite on the poll backend (the sanitizer build runs epoll only).
  if(NOT WEBSERV_SANITIZE)
    add_test(NAME integration-poll/${name} COMMAND ${PYTHON3} ${src})
    set_tests_properties(integration-poll/${name} PROPERTIES
      ENVIRONMENT "${WEBSERV_TEST_ENV};WEBSERV_EVENT_BACKEND=poll" TIMEOUT 300)
  endif()
endforeach()
