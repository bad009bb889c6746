# Run after gtest_discover_tests() has written a test executable's test list (FILE): drops
# the rule that calls a test skipped whenever "[  SKIPPED ]" appears in its output. ctest
# applies that rule even to a test that failed, so a failing test that prints a child's
# gtest output would read as skipped; our tests tell ctest they skipped by exit code 77
# instead (SKIP_RETURN_CODE, test_events.cpp). Fails loudly if the rule is not found, so a
# CMake that writes the list differently is noticed rather than trusted.
if(NOT DEFINED FILE OR NOT EXISTS "${FILE}")
  message(FATAL_ERROR "skip_by_exit_code: no test list at '${FILE}'")
endif()
file(READ "${FILE}" tests)
set(rule [=[SKIP_REGULAR_EXPRESSION [==[\[  SKIPPED \]]==]]=])
string(FIND "${tests}" "${rule}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "skip_by_exit_code: '${rule}' not found in ${FILE}; "
                      "check how this CMake's gtest_discover_tests() marks skips")
endif()
string(REPLACE "${rule}" "" tests "${tests}")
file(WRITE "${FILE}" "${tests}")
