# Runs PROGRAM twice, plain and with LD_PRELOAD=PRELOAD (a ':'-separated
# list), and fails unless both exit 0 with the same stdout.
#   cmake -DPROGRAM=… -DPRELOAD=… -P compare_runs.cmake
foreach(var PROGRAM PRELOAD)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "compare_runs.cmake: -D${var}=… is required")
  endif()
endforeach()

execute_process(COMMAND "${PROGRAM}"
  OUTPUT_VARIABLE plain_out ERROR_VARIABLE plain_err RESULT_VARIABLE plain_rc)
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "LD_PRELOAD=${PRELOAD}" SB_EXPECT_SHIM=1 "${PROGRAM}"
  OUTPUT_VARIABLE shim_out ERROR_VARIABLE shim_err RESULT_VARIABLE shim_rc)

message("---- plain run (exit ${plain_rc}) ----\n${plain_out}${plain_err}")
message("---- with LD_PRELOAD=${PRELOAD} (exit ${shim_rc}) ----\n${shim_out}${shim_err}")
if(NOT plain_rc STREQUAL "0")
  message(FATAL_ERROR "the plain run failed (exit ${plain_rc}): the test itself is broken here")
endif()
if(NOT shim_rc STREQUAL plain_rc)
  message(FATAL_ERROR "exit status differs: ${plain_rc} plain, ${shim_rc} with the shim")
endif()
if(NOT shim_out STREQUAL plain_out)
  message(FATAL_ERROR "stdout differs between the plain and the preloaded run (see above)")
endif()
message("same exit status and same output with and without the shim")
