#pragma once
// The message of the protoclr::Error a call throws, for tests that check what it says.
#include <gtest/gtest.h>

#include <exception>
#include <string>

#include "protoclr/core/error.h"

namespace protoclr::test_support {

/// The message of the protoclr::Error `fn` throws ("" and a test failure if it throws
/// nothing or something else).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a protoclr::Error: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no error";
  return "";
}

}  // namespace protoclr::test_support
