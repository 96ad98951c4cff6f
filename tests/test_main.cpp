#include <gtest/gtest.h>

#include "protoclr/core/log.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  protoclr::log::set_level(protoclr::log::Level::kWarn);
  return RUN_ALL_TESTS();
}
