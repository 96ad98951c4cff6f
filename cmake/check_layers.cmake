# Checks that the areas' #includes follow the layer graph declared by protoclr_area() in
# CMakeLists.txt: an area may include its own headers and those of the areas it depends on,
# directly or through others. Run by ctest (Layers.IncludesFollowTheLayerGraph):
#   cmake -DSOURCE_DIR=<repo> -DLAYERS="core=|data=core|..." -P cmake/check_layers.cmake
string(REPLACE "|" ";" entries "${LAYERS}")
set(areas "")
foreach(entry ${entries})
  string(REGEX MATCH "^([^=]+)=(.*)$" _ "${entry}")
  set(area ${CMAKE_MATCH_1})
  string(REPLACE "," ";" deps_${area} "${CMAKE_MATCH_2}")
  list(APPEND areas ${area})
endforeach()

# Transitive closure, area by area (areas are declared after their dependencies).
foreach(area ${areas})
  set(reach_${area} ${area})
  foreach(dep ${deps_${area}})
    list(APPEND reach_${area} ${reach_${dep}})
  endforeach()
  list(REMOVE_DUPLICATES reach_${area})
endforeach()

set(violations "")
foreach(area ${areas})
  file(GLOB_RECURSE files ${SOURCE_DIR}/src/${area}/*.cpp ${SOURCE_DIR}/src/${area}/*.h
                          ${SOURCE_DIR}/include/protoclr/${area}/*.h)
  foreach(file ${files})
    file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]+\"protoclr/[a-z_]+/")
    foreach(line ${includes})
      string(REGEX MATCH "\"protoclr/([a-z_]+)/" _ "${line}")
      set(target ${CMAKE_MATCH_1})
      list(FIND reach_${area} ${target} found)
      if(found EQUAL -1)
        file(RELATIVE_PATH rel ${SOURCE_DIR} ${file})
        list(APPEND violations "${rel}: ${area} includes ${target} (${line})")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violations)
  string(REPLACE ";" "\n  " text "${violations}")
  message(FATAL_ERROR "includes against the layer graph (add the dependency in CMakeLists.txt or move the code):\n  ${text}")
endif()
list(LENGTH areas n)
message(STATUS "layer graph: ${n} areas, no back edges")
