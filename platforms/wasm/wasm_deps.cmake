# The wasm build's dependencies (included by the top CMakeLists.txt when KITE_WASM is on).
# Only header-only parts of Debian packages are used: nlohmann-json, FlatBuffers and xxHash
# (XXH_INLINE_ALL: every XXH3 function inlined, no libxxhash to link). They are staged into one
# folder of links so that /usr/include itself (glibc's headers) never reaches emscripten's compiler.
# PCRE2 and utf8proc have no wasm builds: the tokenizer uses JavaScript's RegExp and Unicode tables
# instead (runtime/llm/tokenizer/regex_js.cc, unicode_js.cc; see runtime/CMakeLists.txt).
option(KITE_WASM_THREADS "wasm: build with pthreads (SharedArrayBuffer; pages need COOP/COEP)" OFF)
if(KITE_WASM_THREADS)
  add_compile_options(-pthread)
  add_link_options(-pthread)
endif()

set(KITE_WASM_STAGED_INCLUDE ${CMAKE_BINARY_DIR}/wasm_include)
file(MAKE_DIRECTORY ${KITE_WASM_STAGED_INCLUDE})
foreach(item nlohmann flatbuffers xxhash.h)
  if(NOT EXISTS /usr/include/${item})
    message(FATAL_ERROR "wasm build: /usr/include/${item} is missing (apt-get install nlohmann-json3-dev libflatbuffers-dev libxxhash-dev)")
  endif()
  if(NOT EXISTS ${KITE_WASM_STAGED_INCLUDE}/${item})
    file(CREATE_LINK /usr/include/${item} ${KITE_WASM_STAGED_INCLUDE}/${item} SYMBOLIC)
  endif()
endforeach()

add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED GLOBAL)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES INTERFACE_INCLUDE_DIRECTORIES ${KITE_WASM_STAGED_INCLUDE})
add_library(PkgConfig::XXHASH INTERFACE IMPORTED GLOBAL)
set_target_properties(PkgConfig::XXHASH PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${KITE_WASM_STAGED_INCLUDE}
  INTERFACE_COMPILE_DEFINITIONS XXH_INLINE_ALL)
set(FLATBUFFERS_INCLUDE_DIR ${KITE_WASM_STAGED_INCLUDE} CACHE PATH "" FORCE)
# Includes for the JS-backed stand-ins of utf8proc's functions (runtime/llm/tokenizer/unicode_js.cc).
set(KITE_WASM_SHIM_INCLUDE ${CMAKE_SOURCE_DIR}/platforms/wasm/include)
# The JavaScript half of the tokenizer's regex and Unicode functions (linked into every program that
# links kite_tokenizer).
set(KITE_WASM_JS_LIBRARY ${CMAKE_SOURCE_DIR}/platforms/wasm/kite_unicode_lib.js)
