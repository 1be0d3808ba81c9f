# Building Kite for WebAssembly with Debian's emscripten 3.1.6 (clang-14 backend):
#   cmake -S . -B build-wasm -G Ninja -DCMAKE_TOOLCHAIN_FILE=platforms/toolchains/emscripten.cmake -DKITE_WASM=ON
# (emcmake is not needed; this file wraps emscripten's own toolchain file.) Add -DKITE_WASM_THREADS=ON for
# the pthreads build (SharedArrayBuffer; pages need COOP/COEP). Needs: apt-get install emscripten.
# Workarounds for Debian's emscripten with the node 20 found here (../shared/TOOLCHAIN.md section 1):
#  - emcc's JS optimizer needs node-acorn from /usr/share/nodejs, which this node does not search:
#    every compile and link runs with NODE_PATH set (through the compiler and linker launchers).
#  - 3.1.6's loader calls fetch() whenever node has it, which fails on file paths: tests run under
#    `node --no-experimental-fetch`.
include(/usr/share/emscripten/cmake/Modules/Platform/Emscripten.cmake)

set(KITE_WASM ON CACHE BOOL "Build for WebAssembly (set by platforms/toolchains/emscripten.cmake)" FORCE)
set(KITE_EMSCRIPTEN_ENV /usr/bin/env NODE_PATH=/usr/share/nodejs)
set(CMAKE_C_COMPILER_LAUNCHER ${KITE_EMSCRIPTEN_ENV} CACHE STRING "" FORCE)
set(CMAKE_CXX_COMPILER_LAUNCHER ${KITE_EMSCRIPTEN_ENV} CACHE STRING "" FORCE)
set(CMAKE_C_LINKER_LAUNCHER ${KITE_EMSCRIPTEN_ENV} CACHE STRING "" FORCE)
set(CMAKE_CXX_LINKER_LAUNCHER ${KITE_EMSCRIPTEN_ENV} CACHE STRING "" FORCE)
set(ENV{NODE_PATH} /usr/share/nodejs)  # for the compiler checks at configure time
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/node;--no-experimental-fetch CACHE STRING "" FORCE)

# Baseline SIMD128 (every current browser has it; relaxed SIMD is not usable with clang-14), and native
# wasm exception handling: the tokenizer and the converter's JSON readers catch nlohmann::json's
# exceptions, and wasm EH costs nothing on the path that does not throw (emscripten's JS-based
# -fexceptions would wrap every call).
set(CMAKE_C_FLAGS_INIT "-msimd128 -fwasm-exceptions")
set(CMAKE_CXX_FLAGS_INIT "-msimd128 -fwasm-exceptions")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-msimd128 -fwasm-exceptions")
