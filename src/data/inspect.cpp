// `protoclr data inspect`: decode every image once and summarise the dataset.
#include <algorithm>
#include <limits>
#include <mutex>
#include <vector>

#include "protoclr/core/error.h"
#include "protoclr/core/parallel.h"
#include "protoclr/data/dataset.h"

namespace protoclr::data {

DatasetReport inspect_dataset(const Dataset& dataset, const std::string& path, int threads) {
  DatasetReport report;
  report.path = path;
  report.format = dataset.format();
  report.images = dataset.size();
  report.classes = dataset.classes();
  const size_t n = dataset.size();
  if (!report.classes.empty()) {
    report.class_counts.assign(report.classes.size(), 0);
    for (size_t i = 0; i < n; ++i) {
      if (dataset.multi_label()) {  // images in which the class is present (difficult excluded)
        const std::vector<int8_t> set = dataset.label_set(i);
        for (size_t c = 0; c < set.size() && c < report.class_counts.size(); ++c) report.class_counts[c] += set[c] == 1;
        continue;
      }
      const int64_t l = dataset.label(i);
      if (l >= 0 && static_cast<size_t>(l) < report.class_counts.size()) ++report.class_counts[static_cast<size_t>(l)];
    }
  }
  std::vector<ImageSize> sizes(n);
  std::vector<uint8_t> failed(n, 0);
  parallel_for(n, threads, [&](size_t i) {
    try {
      sizes[i] = dataset.load(i).full;
    } catch (const Error&) {
      failed[i] = 1;
    }
  });
  report.unreadable = dataset.skipped();
  size_t decoded = 0;
  double sum_w = 0, sum_h = 0;
  int min_w = std::numeric_limits<int>::max(), min_h = min_w, max_w = 0, max_h = 0;
  for (size_t i = 0; i < n; ++i) {
    if (failed[i]) {
      report.unreadable.push_back(dataset.name(i));
      continue;
    }
    ++decoded;
    min_w = std::min(min_w, sizes[i].width);
    max_w = std::max(max_w, sizes[i].width);
    min_h = std::min(min_h, sizes[i].height);
    max_h = std::max(max_h, sizes[i].height);
    sum_w += sizes[i].width;
    sum_h += sizes[i].height;
  }
  if (decoded > 0) {
    report.min_width = min_w;
    report.max_width = max_w;
    report.min_height = min_h;
    report.max_height = max_h;
    report.mean_width = sum_w / static_cast<double>(decoded);
    report.mean_height = sum_h / static_cast<double>(decoded);
  }
  return report;
}

}  // namespace protoclr::data
