#pragma once
/// Learning-rate schedules of MoCo/PCL and of the evaluation protocols, set once per epoch
/// (the reference's adjust_learning_rate).
#include <cstdint>
#include <string>
#include <vector>

namespace protoclr {

/// cosine: lr * (1 + cos(pi * epoch / epochs)) / 2 (MoCo v2, PCL v2).
/// step:   lr * gamma^(number of milestones <= epoch) (MoCo v1, PCL v1: 120, 160, gamma 0.1).
/// `epoch` is 0-based.
double learning_rate(const std::string& schedule, double base_lr, int64_t epoch, int64_t epochs,
                     const std::vector<int64_t>& milestones, double gamma = 0.1);

}  // namespace protoclr
