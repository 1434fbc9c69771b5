# This file is part of the explain module. It is subject to the license terms in the LICENSE file
# found in the top-level directory of this distribution (Apache License 2.0).
# Runs a sample and checks its exit code AND its output (ctest's PASS_REGULAR_EXPRESSION alone ignores the
# exit code, WILL_FAIL alone ignores the message).
#
#   cmake -DEXPECT_EXIT=<code> -DEXPECT_OUTPUT=<regex> [-DREJECT_OUTPUT=<regex>] [-DUNCHANGED_DIR=<dir>]
#         [-DALL_OUTPUT=ON] -P run_sample.cmake -- <command> [args...] [&& <command> [args...] ...]
#
# Commands separated by a "&&" argument run in order; all but the last must exit 0 (they prepare). The
# last one must exit with EXPECT_EXIT, and its stdout + stderr must match EXPECT_OUTPUT and must not
# match REJECT_OUTPUT nor contain a sanitizer report (with ALL_OUTPUT, the outputs of all the commands, in order, are matched: a sample run
# followed by checks of its files). With UNCHANGED_DIR, the files in that folder (names and contents) must be the
# same after the last command as before it: a failing run leaves an earlier run's files untouched.
cmake_minimum_required(VERSION 3.16)

if(NOT DEFINED EXPECT_EXIT OR NOT DEFINED EXPECT_OUTPUT)
  message(FATAL_ERROR "run_sample.cmake needs -DEXPECT_EXIT=<code> and -DEXPECT_OUTPUT=<regex>")
endif()

# The commands after "--", split at "&&" arguments; each becomes one list variable CMD_<n>.
set(n 0)
set(CMD_0 "")
set(started FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  set(arg "${CMAKE_ARGV${i}}")
  if(NOT started)
    if(arg STREQUAL "--")
      set(started TRUE)
    endif()
  elseif(arg STREQUAL "&&")
    math(EXPR n "${n} + 1")
    set(CMD_${n} "")
  else()
    list(APPEND CMD_${n} "${arg}")
  endif()
endforeach()
if(NOT started OR CMD_${n} STREQUAL "")
  message(FATAL_ERROR "run_sample.cmake: no command after '--'")
endif()

# The names and SHA-256 of the files in a folder, as one string.
function(snapshot dir out)
  set(result "")
  if(IS_DIRECTORY "${dir}")
    file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE "${dir}" "${dir}/*")
    list(SORT files)
    foreach(f IN LISTS files)
      file(SHA256 "${dir}/${f}" hash)
      string(APPEND result "${f} ${hash}\n")
    endforeach()
  endif()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()

set(all_out "")
if(n GREATER 0)
  math(EXPR prepare "${n} - 1")
  foreach(k RANGE ${prepare})
    execute_process(COMMAND ${CMD_${k}} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc STREQUAL "0")
      message(FATAL_ERROR "preparation failed (exit ${rc}): ${CMD_${k}}\n${out}")
    endif()
    string(APPEND all_out "${out}")
  endforeach()
endif()
if(DEFINED UNCHANGED_DIR)
  snapshot("${UNCHANGED_DIR}" before)
  if(before STREQUAL "")
    message(FATAL_ERROR "UNCHANGED_DIR '${UNCHANGED_DIR}' has no files to compare")
  endif()
endif()

execute_process(COMMAND ${CMD_${n}} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(ALL_OUTPUT)
  set(out "${all_out}${out}")
endif()
message("${out}")
set(problems "")
if(NOT rc STREQUAL "${EXPECT_EXIT}")
  string(APPEND problems "exit code ${rc}, expected ${EXPECT_EXIT}\n")
endif()
if(NOT out MATCHES "${EXPECT_OUTPUT}")
  string(APPEND problems "the output does not match '${EXPECT_OUTPUT}'\n")
endif()
if(DEFINED REJECT_OUTPUT AND out MATCHES "${REJECT_OUTPUT}")
  string(APPEND problems "the output matches '${REJECT_OUTPUT}'\n")
endif()
# in a sanitizer build a report exits with 1, which a test expecting exit code 1 would take for the sample's
# own error: the report itself fails the test
if(out MATCHES "ERROR: [A-Za-z]+Sanitizer|runtime error: ")
  string(APPEND problems "a sanitizer report\n")
endif()
if(DEFINED UNCHANGED_DIR)
  snapshot("${UNCHANGED_DIR}" after)
  if(NOT after STREQUAL before)
    string(APPEND problems "the files in ${UNCHANGED_DIR} changed:\nbefore:\n${before}after:\n${after}")
  endif()
endif()
if(problems)
  message(FATAL_ERROR "${CMD_${n}}\n${problems}")
endif()
