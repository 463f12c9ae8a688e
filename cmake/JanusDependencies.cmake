# Third-party packages, all from Debian (or /usr/local/cuda). No downloads at build time.
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(FlatBuffers CONFIG REQUIRED)
find_package(nlohmann_json 3 CONFIG REQUIRED)
if(JANUS_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()

# flatc from the FlatBuffers package: the generated headers static_assert its version.
if(TARGET flatbuffers::flatc)
  set(JANUS_FLATC flatbuffers::flatc)
else()
  find_program(JANUS_FLATC flatc REQUIRED)
endif()

# janus_add_gtest(NAME SOURCES... LIBS ...): one GoogleTest binary registered with ctest.
function(janus_add_gtest name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${JANUS_SOURCE_DIR} ${JANUS_BINARY_DIR})
  gtest_discover_tests(${name}
    PROPERTIES ENVIRONMENT "JANUS_SOURCE_DIR=${JANUS_SOURCE_DIR};JANUS_BINARY_DIR=${JANUS_BINARY_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
