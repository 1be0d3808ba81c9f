# The kernel test sources, shared by tests/kernels (gtest via kite_add_test) and tests/kernels_only.
set(KITE_KERNEL_TEST_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/activations_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/attention_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/gemm_tester.cc
  ${CMAKE_CURRENT_LIST_DIR}/gemm_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/mla_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/quantize_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/reference_test.cc)
