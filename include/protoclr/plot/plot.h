#pragma once
/// Pictures for `eval`: t-SNE scatter plots, training curves and image grids (cluster
/// sheets), drawn with OpenCV imgproc (anti-aliased lines, circles and Hershey text) into
/// 8-bit RGB images to be written with plot::write_png. Drawing is deterministic: equal
/// inputs give equal pixels. Hershey fonts are ASCII only: other characters print as '?'.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace protoclr::plot {

/// Categorical colour for class/cluster `index` (RGB): matplotlib's tab10, then the light
/// half of tab20, then hues stepped by the golden angle. Negative = unlabelled grey.
cv::Vec3b category_color(int64_t index);

struct ScatterOptions {
  std::string title;                      ///< centred at the top; "" = none
  int width = 1000;                       ///< image width in pixels
  int height = 1000;                      ///< image height in pixels
  int point_radius = 0;                   ///< 0 = from N: 4 px up to 1,000 points, 3 up to 10,000, else 2
  int margin = 30;                        ///< blank border around the points, pixels
  bool legend = true;                     ///< class names with their colours, in a box right of the points
  std::string fallback_name = "class ";   ///< label i with no entry in class_names shows as fallback_name + i
  int max_legend_entries = 60;            ///< beyond this, the legend lists the first ones and "+N more"
};

/// t-SNE style scatter plot without axes: coords [N, 2] (any float dtype), labels [N]
/// int64 (-1 = unlabelled, drawn grey underneath; an undefined tensor = all unlabelled),
/// class_names[i] for label i (may be shorter). The bounding box of the points is scaled
/// equally on both axes and centred in the plot area (the image less the title, the legend
/// and `margin`, inset by the point radius). Points are drawn in a fixed pseudo-random
/// order so no class hides another. Returns a CV_8UC3 RGB image height x width.
cv::Mat scatter_plot(const torch::Tensor& coords, const torch::Tensor& labels,
                     const std::vector<std::string>& class_names, const ScatterOptions& options = {});

/// One curve of a line plot: y over x (equal lengths; non-finite values break the line).
struct LineSeries {
  std::string name;        ///< legend entry
  std::vector<double> xs;  ///< e.g. epochs
  std::vector<double> ys;  ///< e.g. loss or kNN accuracy
};

struct LinePlotOptions {
  std::string title;    ///< centred at the top; "" = none
  std::string x_label;  ///< under the x axis, e.g. "epoch"
  std::string y_label;  ///< left of the y axis, written bottom to top
  int width = 1000;     ///< image width in pixels
  int height = 600;     ///< image height in pixels
  bool legend = true;   ///< series names with their colours, in the plot corner with the fewest points
  int max_markers = 60; ///< series with at most this many points also get a dot per point
};

/// Line plot with axes, grid and "nice" ticks (1, 2, 2.5, 5 x 10^k): training curves such
/// as loss and kNN accuracy per epoch. Series i is drawn in category_color(i). Throws
/// protoclr::Error when there is no finite point or xs and ys differ in length.
cv::Mat line_plot(const std::vector<LineSeries>& series, const LinePlotOptions& options = {});

/// Tick positions covering [lo, hi] with at most about `max_ticks` ticks, spaced by a
/// "nice" step (1, 2, 2.5 or 5 times a power of ten); the first tick <= lo and the last
/// >= hi. lo == hi is widened to a unit interval around it.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 8);

struct ImageGridOptions {
  int tile_size = 96;    ///< every tile is scaled (aspect kept, white borders) to this square
  int padding = 6;       ///< pixels between tiles and around the grid
  std::string title;     ///< centred at the top; "" = none
};

/// Tiles (CV_8UC3 RGB, any sizes) in rows of `columns`, each with an optional caption
/// under it (captions empty or one per tile): a cluster sheet of sample images.
cv::Mat image_grid(const std::vector<cv::Mat>& tiles, int columns, const std::vector<std::string>& captions = {},
                   const ImageGridOptions& options = {});

}  // namespace protoclr::plot
