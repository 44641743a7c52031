# tests/differential/differential.cmake -- the .NET client as a second oracle (README.md).
# Included from tests/CMakeLists.txt inside if(SIGNALR_INTEROP), after server.cmake.
add_executable(differential_libsignalr_side ${CMAKE_CURRENT_LIST_DIR}/libsignalr_side.cpp)
target_link_libraries(differential_libsignalr_side PRIVATE signalr)
add_test(NAME differential_dotnet_oracle
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/compare.py
                 --build-dir ${CMAKE_BINARY_DIR}
                 --libsignalr-side $<TARGET_FILE:differential_libsignalr_side>)
set_tests_properties(differential_dotnet_oracle PROPERTIES
  FIXTURES_REQUIRED signalr_server
  ENVIRONMENT "SIGNALR_SERVER_STATE=${CMAKE_BINARY_DIR}/tests/server-state.json;SIGNALR_REQUIRE_SERVER=$ENV{SIGNALR_REQUIRE_SERVER}"
  LABELS oracle
  TIMEOUT 900)
