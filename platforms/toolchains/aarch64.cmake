# Cross-compiling for 64-bit ARM Linux with Debian's GCC, testing under qemu-user:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=platforms/toolchains/aarch64.cmake -DKITE_KERNELS_ONLY=ON
# Needs: apt-get install g++-aarch64-linux-gnu qemu-user. There is no binfmt_misc here, so ctest
# runs every test binary through the emulator; -cpu max has dotprod and i8mm, so all kernel sets run.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Without this, find_package would pick up the host's (x86-64) GTest and benchmark packages.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/usr/aarch64-linux-gnu;-cpu;max)
