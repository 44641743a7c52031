# tests/server/cluster.cmake -- the scale-out cluster (tests/harness/cluster.py) as a CTest
# fixture: one redis-server, three test servers on its backplane, an Azure-style app server,
# and the two proxies (round-robin, sticky). Included from tests/CMakeLists.txt after
# server.cmake (which builds the server).
#
# Provides:
#   tests  cluster_start / cluster_stop   (FIXTURES_SETUP / FIXTURES_CLEANUP signalr_cluster)
#   func   signalr_add_cluster_test(name target)   LABELS cluster; SIGNALR_CLUSTER_STATE set
#
# Without dotnet or redis-server, cluster_start prints "*** SKIPPING ... ***" and the tests
# GTEST_SKIP -- or fail, when SIGNALR_REQUIRE_SERVER=1.

set(SIGNALR_CLUSTER_HARNESS "${SIGNALR_SOURCE_DIR}/tests/harness/cluster.py")
set(SIGNALR_CLUSTER_STATE   "${CMAKE_BINARY_DIR}/tests/cluster-state.json")
set(SIGNALR_CLUSTER_LOGS    "${CMAKE_BINARY_DIR}/tests/cluster-logs")

signalr_add_harness_fixture(cluster signalr_cluster cluster 60
  "${SIGNALR_CLUSTER_HARNESS}" "${SIGNALR_CLUSTER_STATE}" --log-dir "${SIGNALR_CLUSTER_LOGS}")

function(signalr_add_cluster_test name target)
  add_test(NAME ${name} COMMAND ${target})
  set_tests_properties(${name} PROPERTIES
    FIXTURES_REQUIRED signalr_cluster
    ENVIRONMENT "SIGNALR_CLUSTER_STATE=${SIGNALR_CLUSTER_STATE};SIGNALR_REQUIRE_SERVER=$ENV{SIGNALR_REQUIRE_SERVER}"
    LABELS "cluster;interop"
    TIMEOUT 240)
endfunction()
