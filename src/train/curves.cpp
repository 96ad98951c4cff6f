#include "protoclr/train/curves.h"

#include <filesystem>
#include <limits>
#include <optional>

#include <opencv2/core.hpp>

#include "protoclr/core/error.h"
#include "protoclr/plot/png_writer.h"
#include "protoclr/plot/plot.h"
#include "protoclr/run/metrics.h"

namespace protoclr::train {
namespace fs = std::filesystem;

std::string write_training_curves(const std::string& run_dir) {
  const auto records = run::read_metrics(run_dir);
  PROTOCLR_CHECK(!records.empty(), "'", run_dir, "' has no finished epoch yet: nothing to plot");
  // One series per metric; epochs without it (warm-up has no Acc@Proto) leave a gap.
  auto series = [&](const std::string& key, const std::string& name) {
    plot::LineSeries s{name, {}, {}};
    bool any = false;
    for (const auto& r : records) {
      s.xs.push_back(r.value("epoch", 0.0));
      const bool has = r.contains(key) && r[key].is_number();
      s.ys.push_back(has ? r[key].get<double>() : std::numeric_limits<double>::quiet_NaN());
      any = any || has;
    }
    return any ? std::optional<plot::LineSeries>(s) : std::nullopt;
  };
  std::vector<plot::LineSeries> loss, accuracy;
  if (auto s = series("loss", "loss")) loss.push_back(*s);
  for (const auto& [key, name] : {std::pair<const char*, const char*>{"acc_inst", "Acc@Inst"},
                                  {"acc_proto", "Acc@Proto"}, {"knn_top1", "kNN top-1"}})
    if (auto s = series(key, name)) accuracy.push_back(*s);
  PROTOCLR_CHECK(!loss.empty(), "metrics of '", run_dir, "' hold no loss");
  const std::string run = fs::path(run_dir).lexically_normal().filename().string();
  plot::LinePlotOptions o;
  o.title = "training loss: " + run;
  o.x_label = "epoch";
  o.y_label = "loss";
  o.height = 450;
  cv::Mat picture = plot::line_plot(loss, o);
  if (!accuracy.empty()) {
    o.title = "accuracy (%): " + run;
    o.y_label = "percent";
    cv::vconcat(picture, plot::line_plot(accuracy, o), picture);
  }
  const std::string path = (fs::path(run_dir) / "curves.png").string();
  plot::write_png(path, picture);
  return path;
}

}  // namespace protoclr::train
