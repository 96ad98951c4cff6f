#include "protoclr/core/schedule.h"

#include <cmath>

#include "protoclr/core/error.h"

namespace protoclr {

double learning_rate(const std::string& schedule, double base_lr, int64_t epoch, int64_t epochs,
                     const std::vector<int64_t>& milestones, double gamma) {
  if (schedule == "cosine") return base_lr * 0.5 * (1.0 + std::cos(M_PI * double(epoch) / double(epochs)));
  PROTOCLR_CHECK(schedule == "step", "unknown --schedule '", schedule, "' (use cosine or step)");
  double lr = base_lr;
  for (int64_t m : milestones)
    if (epoch >= m) lr *= gamma;
  return lr;
}

}  // namespace protoclr
