# tests/server/server.cmake -- the real ASP.NET Core SignalR test server as a CTest fixture.
#
# Included from tests/CMakeLists.txt. Expects (provided by the top-level build, with
# fallbacks below): GTest::gtest_main, CURL::libcurl, PkgConfig::CJSON, Python3_EXECUTABLE,
# SIGNALR_SOURCE_DIR.
#
# Provides:
#   target  signalr_test_server   (ALL) dotnet publish -> ${CMAKE_BINARY_DIR}/tests/server-bin
#   tests   server_start / server_stop  (FIXTURES_SETUP / FIXTURES_CLEANUP signalr_server)
#   func    signalr_add_interop_test(name target)
#
# Without dotnet everything still configures and builds; server_start then prints a loud
# "*** SKIPPING interop tests ***" and the interop tests GTEST_SKIP -- unless the
# environment has SIGNALR_REQUIRE_SERVER=1, in which case they fail.

if(NOT DEFINED SIGNALR_SOURCE_DIR)
  get_filename_component(SIGNALR_SOURCE_DIR "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
endif()
if(NOT Python3_EXECUTABLE)
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
endif()
if(NOT TARGET CURL::libcurl)
  find_package(CURL REQUIRED)
endif()
if(NOT TARGET PkgConfig::CJSON)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
endif()
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()

set(SIGNALR_SERVER_DIR      "${SIGNALR_SOURCE_DIR}/tests/server")
set(SIGNALR_SERVER_HARNESS  "${SIGNALR_SOURCE_DIR}/tests/harness/testserver.py")
set(SIGNALR_SERVER_BIN      "${CMAKE_BINARY_DIR}/tests/server-bin")
set(SIGNALR_SERVER_STATE    "${CMAKE_BINARY_DIR}/tests/server-state.json")
set(SIGNALR_SERVER_LOG      "${CMAKE_BINARY_DIR}/tests/server.log")

find_program(DOTNET dotnet)

# ---------------------------------------------------------------- build the server
if(DOTNET)
  file(GLOB_RECURSE _signalr_server_sources CONFIGURE_DEPENDS
    "${SIGNALR_SERVER_DIR}/*.cs"
    "${SIGNALR_SERVER_DIR}/*.csproj"
    "${SIGNALR_SERVER_DIR}/*.props")
  list(FILTER _signalr_server_sources EXCLUDE REGEX "/(\\.artifacts|bin|obj)/")
  set(_signalr_server_stamp "${SIGNALR_SERVER_BIN}/.signalr-build-stamp")
  add_custom_command(
    OUTPUT "${_signalr_server_stamp}"
    COMMAND ${CMAKE_COMMAND} -E env "DOTNET=${DOTNET}"
            ${Python3_EXECUTABLE} "${SIGNALR_SERVER_HARNESS}" build --build-dir "${SIGNALR_SERVER_BIN}"
    DEPENDS ${_signalr_server_sources} "${SIGNALR_SERVER_HARNESS}"
    COMMENT "Publishing the ASP.NET Core SignalR test server (dotnet publish)"
    VERBATIM)
  add_custom_target(signalr_test_server ALL DEPENDS "${_signalr_server_stamp}")
else()
  message(STATUS "*** dotnet not found: the SignalR interop test server will not be built; "
                 "interop tests will be SKIPPED (set SIGNALR_REQUIRE_SERVER=1 to make them fail) ***")
  add_custom_target(signalr_test_server ALL
    COMMAND ${CMAKE_COMMAND} -E echo "*** dotnet not found: SignalR interop test server not built ***"
    VERBATIM)
endif()

# ---------------------------------------------------------------- fixture
# signalr_add_harness_fixture(<prefix> <fixture> <labels> <stop timeout> <harness> <state> <start args>...)
# The tests <prefix>_start / <prefix>_stop (FIXTURES_SETUP / FIXTURES_CLEANUP <fixture>): a
# tests/harness script's start (on the built server, writing <state>) and stop. cluster.cmake
# uses it too.
function(signalr_add_harness_fixture prefix fixture labels stop_timeout harness state)
  add_test(NAME ${prefix}_start
    COMMAND ${Python3_EXECUTABLE} "${harness}" start
            --build-dir "${SIGNALR_SERVER_BIN}" --state "${state}" ${ARGN})
  set_tests_properties(${prefix}_start PROPERTIES
    FIXTURES_SETUP ${fixture}
    LABELS ${labels}
    TIMEOUT 300
    ENVIRONMENT "SIGNALR_REQUIRE_SERVER=$ENV{SIGNALR_REQUIRE_SERVER}")
  if(DOTNET)
    set_property(TEST ${prefix}_start APPEND PROPERTY ENVIRONMENT "DOTNET=${DOTNET}")
  endif()
  add_test(NAME ${prefix}_stop
    COMMAND ${Python3_EXECUTABLE} "${harness}" stop --state "${state}")
  set_tests_properties(${prefix}_stop PROPERTIES
    FIXTURES_CLEANUP ${fixture}
    LABELS ${labels}
    TIMEOUT ${stop_timeout})
endfunction()

signalr_add_harness_fixture(server signalr_server interop 30
  "${SIGNALR_SERVER_HARNESS}" "${SIGNALR_SERVER_STATE}" --log "${SIGNALR_SERVER_LOG}")

# signalr_add_interop_test(<test name> <executable target>)
function(signalr_add_interop_test name target)
  add_test(NAME ${name} COMMAND ${target})
  set_tests_properties(${name} PROPERTIES
    FIXTURES_REQUIRED signalr_server
    ENVIRONMENT "SIGNALR_SERVER_STATE=${CMAKE_BINARY_DIR}/tests/server-state.json;SIGNALR_REQUIRE_SERVER=$ENV{SIGNALR_REQUIRE_SERVER}"
    LABELS interop
    TIMEOUT 180)
endfunction()

# (The server's own endpoints are checked once, by tests/python/test_server_smoke.py.)
