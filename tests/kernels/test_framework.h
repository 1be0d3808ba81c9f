// The kernel tests are written against GoogleTest's macros. Where GoogleTest
// is not available (the aarch64 cross build runs them under qemu and there is
// no arm64 GTest), KITE_MINI_TEST selects the small stand-in below: TEST,
// EXPECT_*/ASSERT_* with streamed messages and SCOPED_TRACE, and a main
// (mini_test_main.cc) that prints "N passed, M failed" and exits non-zero on
// any failure. Only the subset these tests use is provided.
#pragma once

#ifndef KITE_MINI_TEST
#include <gtest/gtest.h>
#else

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace kite_mini {

struct TestCase {
  const char* suite;
  const char* name;
  void (*body)();
};

std::vector<TestCase>& Registry();
std::vector<std::string>& TraceStack();
void MarkFailed();

struct Registrar {
  Registrar(const char* suite, const char* name, void (*body)()) { Registry().push_back({suite, name, body}); }
};

// int8_t/uint8_t print as numbers, not characters.
template <class T>
auto Printable(const T& v) -> typename std::conditional<(sizeof(T) == 1 && std::is_integral<T>::value), int,
                                                        const T&>::type {
  return v;
}

// Collects the message streamed after a failed check and prints it, with the active traces, when the
// full expression ends.
class Failure {
 public:
  Failure(const char* file, int line, const std::string& what) { stream_ << file << ":" << line << ": " << what; }
  Failure(const Failure&) = delete;
  ~Failure() {
    std::ostringstream out;
    out << stream_.str() << "\n";
    for (const std::string& t : TraceStack()) out << "    trace: " << t << "\n";
    std::fputs(out.str().c_str(), stderr);
    MarkFailed();
  }
  template <class T>
  Failure& operator<<(const T& v) {
    stream_ << Printable(v);
    return *this;
  }
  Failure& operator<<(std::ios_base& (*manipulator)(std::ios_base&)) {  // std::hex and the like
    stream_ << manipulator;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// `return ReturnAfter() = Failure(...) << msg;` ends the test after an ASSERT fails.
struct ReturnAfter {
  void operator=(const Failure&) {}
};

// GTEST_SKIP() << why: prints the reason and ends the test (it counts as passed).
class Skip {
 public:
  ~Skip() { std::printf("    skipped: %s\n", stream_.str().c_str()); }
  template <class T>
  Skip& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  std::ostringstream stream_;
};
struct ReturnAfterSkip {
  void operator=(const Skip&) {}
};

class ScopedTrace {
 public:
  ScopedTrace(const char* file, int line, const std::string& message) {
    TraceStack().push_back(std::string(file) + ":" + std::to_string(line) + ": " + message);
  }
  ~ScopedTrace() { TraceStack().pop_back(); }
};

template <class T>
std::string ToString(const T& v) {
  std::ostringstream s;
  if constexpr (std::is_enum<T>::value) {
    s << static_cast<long long>(v);  // enum classes (status codes) print as their number
  } else {
    s << Printable(v);
  }
  return s.str();
}

// testing::Message, for SCOPED_TRACE(::testing::Message() << ...).
class Message {
 public:
  template <class T>
  Message& operator<<(const T& v) {
    stream_ << Printable(v);
    return *this;
  }
  std::string str() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
};
inline std::string ToString(const Message& m) { return m.str(); }

}  // namespace kite_mini

namespace testing {
using Message = ::kite_mini::Message;
}  // namespace testing

#define KITE_MINI_CAT2(a, b) a##b
#define KITE_MINI_CAT(a, b) KITE_MINI_CAT2(a, b)

#define TEST(suite, name)                                                                  \
  static void KiteMiniTest_##suite##_##name();                                            \
  static ::kite_mini::Registrar KiteMiniRegistrar_##suite##_##name(#suite, #name,         \
                                                                  KiteMiniTest_##suite##_##name); \
  static void KiteMiniTest_##suite##_##name()

#define SCOPED_TRACE(message) \
  ::kite_mini::ScopedTrace KITE_MINI_CAT(kite_mini_trace_, __LINE__)(__FILE__, __LINE__, ::kite_mini::ToString(message))

// switch/case keeps a dangling `else` of the caller from binding to ours (as GoogleTest does).
#define KITE_MINI_CHECK(ok, text, on_fail) \
  switch (0)                               \
  case 0:                                  \
  default:                                 \
    if (ok) {                              \
    } else                                 \
      on_fail ::kite_mini::Failure(__FILE__, __LINE__, text)

#define KITE_MINI_BINARY(a, op, b, on_fail)                                                     \
  KITE_MINI_CHECK((a)op(b), "expected " #a " " #op " " #b, on_fail)                             \
      << " (" << ::kite_mini::ToString(a) << " vs " << ::kite_mini::ToString(b) << ") "

#define KITE_MINI_RETURN return ::kite_mini::ReturnAfter() =

#define ADD_FAILURE() ::kite_mini::Failure(__FILE__, __LINE__, "failure")
#define GTEST_SKIP() return ::kite_mini::ReturnAfterSkip() = ::kite_mini::Skip()

#define EXPECT_TRUE(c) KITE_MINI_CHECK((c), "expected true: " #c, )
#define EXPECT_FALSE(c) KITE_MINI_CHECK(!(c), "expected false: " #c, )
#define EXPECT_EQ(a, b) KITE_MINI_BINARY(a, ==, b, )
#define EXPECT_NE(a, b) KITE_MINI_BINARY(a, !=, b, )
#define EXPECT_LE(a, b) KITE_MINI_BINARY(a, <=, b, )
#define EXPECT_LT(a, b) KITE_MINI_BINARY(a, <, b, )
#define EXPECT_GE(a, b) KITE_MINI_BINARY(a, >=, b, )
#define EXPECT_GT(a, b) KITE_MINI_BINARY(a, >, b, )
#define EXPECT_NEAR(a, b, tol)                                                                      \
  KITE_MINI_CHECK(std::fabs((a) - (b)) <= (tol), "expected |" #a " - " #b "| <= " #tol, )           \
      << " (" << (a) << " vs " << (b) << ", tolerance " << (tol) << ") "
#define ASSERT_TRUE(c) KITE_MINI_CHECK((c), "expected true: " #c, KITE_MINI_RETURN)
#define ASSERT_FALSE(c) KITE_MINI_CHECK(!(c), "expected false: " #c, KITE_MINI_RETURN)
#define ASSERT_EQ(a, b) KITE_MINI_BINARY(a, ==, b, KITE_MINI_RETURN)
#define ASSERT_LE(a, b) KITE_MINI_BINARY(a, <=, b, KITE_MINI_RETURN)
#define ASSERT_GE(a, b) KITE_MINI_BINARY(a, >=, b, KITE_MINI_RETURN)
#define ASSERT_GT(a, b) KITE_MINI_BINARY(a, >, b, KITE_MINI_RETURN)

#endif  // KITE_MINI_TEST
