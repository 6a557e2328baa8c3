# Fails unless LIBRARY's dynamic symbol table defines exactly the symbols the
# version script MAP lists (the interposed ones), and nothing else.
#   cmake -DNM=… -DLIBRARY=… -DMAP=… -P check_exports.cmake
execute_process(COMMAND "${NM}" -D --defined-only --format=just-symbols "${LIBRARY}"
  OUTPUT_VARIABLE nm_out RESULT_VARIABLE nm_rc)
if(NOT nm_rc STREQUAL "0")
  message(FATAL_ERROR "${NM} failed on ${LIBRARY}")
endif()
string(REPLACE "\n" ";" exported "${nm_out}")
list(FILTER exported EXCLUDE REGEX "^$")
list(SORT exported)

file(STRINGS "${MAP}" map_lines REGEX "^    [A-Za-z_][A-Za-z0-9_]*;$")
set(expected "")
foreach(line IN LISTS map_lines)
  string(STRIP "${line}" line)
  string(REPLACE ";" "" line "${line}")
  list(APPEND expected "${line}")
endforeach()
list(SORT expected)

set(extra ${exported})
list(REMOVE_ITEM extra ${expected})
set(missing ${expected})
list(REMOVE_ITEM missing ${exported})
list(LENGTH expected n)
if(extra OR missing)
  message(FATAL_ERROR "exports differ from ${MAP}:\n  exported but not listed: ${extra}\n  listed but not exported: ${missing}")
endif()
message("${LIBRARY} exports exactly the ${n} listed symbols")
