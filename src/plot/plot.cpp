// Plots drawn with OpenCV imgproc into RGB images (channel order R, G, B: cv::Scalar
// values below are RGB). Everything is integer pixel geometry computed the same way on
// every machine, so equal inputs give equal bytes.
#include "protoclr/plot/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>

#include <opencv2/imgproc.hpp>

#include "protoclr/core/error.h"
#include "protoclr/core/rng.h"

namespace protoclr::plot {
namespace {

const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kBlack(0, 0, 0);
const cv::Scalar kText(40, 40, 40);
const cv::Scalar kGrid(228, 228, 228);
const cv::Scalar kFrame(150, 150, 150);
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kTitleFont = cv::FONT_HERSHEY_DUPLEX;

cv::Scalar scalar(const cv::Vec3b& c) { return cv::Scalar(c[0], c[1], c[2]); }

/// Hershey fonts cover printable ASCII only: each other character (a whole UTF-8
/// sequence) becomes '?'.
std::string ascii(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c >= 0xc0) {
      out += '?';  // lead byte of a multi-byte sequence; its continuation bytes are skipped
    } else if (c < 0x80) {
      out += ' ';
    }
  }
  return out;
}

cv::Size text_size(const std::string& text, int font, double scale, int thickness, int* baseline = nullptr) {
  int base = 0;
  const cv::Size s = cv::getTextSize(ascii(text), font, scale, thickness, &base);
  if (baseline) *baseline = base;
  return s;
}

/// Draws `text` with its left end at x and its vertical centre at y.
void put_text(cv::Mat& img, const std::string& text, int x, int y, double scale, const cv::Scalar& color,
              int thickness = 1, int font = kFont) {
  const cv::Size s = text_size(text, font, scale, thickness);
  cv::putText(img, ascii(text), cv::Point(x, y + s.height / 2), font, scale, color, thickness, cv::LINE_AA);
}

/// Shortens `text` with "..." until it fits in `max_width` pixels.
std::string fit_text(const std::string& text, int max_width, double scale) {
  std::string t = ascii(text);
  if (text_size(t, kFont, scale, 1).width <= max_width) return t;
  while (!t.empty() && text_size(t + "...", kFont, scale, 1).width > max_width) t.pop_back();
  return t + "...";
}

/// Title centred at the top; returns the height it takes (0 without a title).
int draw_title(cv::Mat& img, const std::string& title) {
  if (title.empty()) return 0;
  const double scale = 0.8;
  const std::string t = ascii(title);
  const cv::Size s = text_size(t, kTitleFont, scale, 1);
  const int x = std::max(4, (img.cols - s.width) / 2);
  put_text(img, t, x, 26, scale, kText, 1, kTitleFont);
  return 48;
}

cv::Vec3b hsv_to_rgb(double h, double s, double v) {
  const double c = v * s, hp = h * 6.0, x = c * (1 - std::abs(std::fmod(hp, 2.0) - 1)), m = v - c;
  double r = 0, g = 0, b = 0;
  if (hp < 1) r = c, g = x;
  else if (hp < 2) r = x, g = c;
  else if (hp < 3) g = c, b = x;
  else if (hp < 4) g = x, b = c;
  else if (hp < 5) r = x, b = c;
  else r = c, b = x;
  auto u8 = [](double f) { return static_cast<uint8_t>(std::lround(std::clamp(f, 0.0, 1.0) * 255)); };
  return {u8(r + m), u8(g + m), u8(b + m)};
}

struct LegendEntry {
  std::string name;
  cv::Scalar color;
};

/// A legend box at (x, y) with entries in `columns` columns of `rows` rows; a swatch
/// (filled circle, or a line when `line_swatch`) then the name.
void draw_legend(cv::Mat& img, const std::vector<LegendEntry>& entries, int x, int y, int rows, int column_width,
                 int row_height, double scale, bool line_swatch) {
  if (entries.empty()) return;
  const int columns = (static_cast<int>(entries.size()) + rows - 1) / rows;
  const int used_rows = std::min<int>(rows, entries.size());
  const cv::Rect box(x, y, columns * column_width + 8, used_rows * row_height + 8);
  cv::rectangle(img, box, kWhite, cv::FILLED);
  cv::rectangle(img, box, kFrame, 1, cv::LINE_8);
  for (size_t e = 0; e < entries.size(); ++e) {
    const int col = static_cast<int>(e) / rows, row = static_cast<int>(e) % rows;
    const int cx = x + 4 + col * column_width, cy = y + 4 + row * row_height + row_height / 2;
    if (line_swatch) {
      cv::line(img, {cx + 4, cy}, {cx + 24, cy}, entries[e].color, 2, cv::LINE_AA);
      put_text(img, entries[e].name, cx + 32, cy, scale, kText);
    } else if (entries[e].color[0] >= 0) {
      cv::circle(img, {cx + 10, cy}, 6, entries[e].color, cv::FILLED, cv::LINE_AA);
      put_text(img, entries[e].name, cx + 24, cy, scale, kText);
    } else {  // "+N more": no swatch
      put_text(img, entries[e].name, cx + 24, cy, scale, kText);
    }
  }
}

/// Label for tick value v at spacing `step`: as many decimals as the step needs.
std::string tick_label(double v, double step) {
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 8);
  char buf[64];
  if (std::abs(v) < step * 1e-6) v = 0.0;  // no "-0"
  if (std::abs(v) >= 1e6 || (std::abs(v) > 0 && std::abs(v) < 1e-4)) {
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  }
  return buf;
}

}  // namespace

cv::Vec3b category_color(int64_t index) {
  static const std::array<cv::Vec3b, 20> kTab = {{
      {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
      {140, 86, 75}, {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
      {174, 199, 232}, {255, 187, 120}, {152, 223, 138}, {255, 152, 150}, {197, 176, 213},
      {196, 156, 148}, {247, 182, 210}, {199, 199, 199}, {219, 219, 141}, {158, 218, 229},
  }};
  if (index < 0) return {185, 185, 185};
  if (index < static_cast<int64_t>(kTab.size())) return kTab[index];
  const double hue = std::fmod(0.13 + (index - 20) * 0.6180339887498949, 1.0);
  const bool alt = (index / 7) % 2 == 1;
  return hsv_to_rgb(hue, alt ? 0.45 : 0.75, alt ? 0.95 : 0.8);
}

cv::Mat scatter_plot(const torch::Tensor& coords, const torch::Tensor& labels_in,
                     const std::vector<std::string>& class_names, const ScatterOptions& options) {
  PROTOCLR_CHECK(coords.dim() == 2 && coords.size(1) == 2, "scatter plot: coordinates must be [N, 2]");
  PROTOCLR_CHECK(options.width >= 100 && options.height >= 100 && options.width <= 16384 && options.height <= 16384,
                 "scatter plot: image size ", options.width, "x", options.height, " out of range (100..16384)");
  const int64_t n = coords.size(0);
  const auto xy = coords.detach().to(torch::kCPU, torch::kDouble).contiguous();
  PROTOCLR_CHECK(torch::isfinite(xy).all().item<bool>(), "scatter plot: coordinates contain NaN or Inf");
  torch::Tensor labels = labels_in.defined() && labels_in.numel() > 0
                             ? labels_in.detach().to(torch::kCPU, torch::kLong).contiguous()
                             : torch::full({n}, -1, torch::kLong);
  PROTOCLR_CHECK(labels.dim() == 1 && labels.size(0) == n, "scatter plot: one label per point expected (", n,
                 " points, ", labels.numel(), " labels)");
  const double* p = xy.data_ptr<double>();
  const int64_t* lab = labels.data_ptr<int64_t>();

  cv::Mat img(options.height, options.width, CV_8UC3, kWhite);
  const int top = draw_title(img, options.title);
  const int m = std::max(0, options.margin);
  const int radius = options.point_radius > 0 ? options.point_radius : (n <= 1000 ? 4 : n <= 10000 ? 3 : 2);

  // Legend entries: the classes present, in label order.
  std::vector<int64_t> present(lab, lab + n);
  std::sort(present.begin(), present.end());
  present.erase(std::unique(present.begin(), present.end()), present.end());
  std::vector<LegendEntry> entries;
  const double legend_scale = 0.5;
  const int row_height = 20;
  int legend_rows = 0, legend_w = 0, column_width = 0;
  if (options.legend && !present.empty() && !(present.size() == 1 && present[0] < 0)) {
    for (int64_t c : present) {
      std::string name = c < 0 ? "unlabelled"
                         : c < static_cast<int64_t>(class_names.size()) && !class_names[c].empty()
                             ? class_names[c]
                             : options.fallback_name + std::to_string(c);
      entries.push_back({name, scalar(category_color(c))});
    }
    const int max_entries = std::max(1, options.max_legend_entries);
    if (static_cast<int>(entries.size()) > max_entries) {
      const size_t more = entries.size() - (max_entries - 1);
      entries.resize(max_entries - 1);
      entries.push_back({"+" + std::to_string(more) + " more", cv::Scalar(-1, -1, -1)});
    }
    const int avail_h = options.height - top - 2 * m - 8;
    legend_rows = std::max(1, avail_h / row_height);
    const int columns = (static_cast<int>(entries.size()) + legend_rows - 1) / legend_rows;
    legend_rows = (static_cast<int>(entries.size()) + columns - 1) / columns;  // balance the columns
    int widest = 0;
    for (const auto& e : entries) widest = std::max(widest, text_size(e.name, kFont, legend_scale, 1).width);
    const int max_column = std::max(60, options.width / 3 / columns);
    column_width = std::min(widest + 34, max_column);
    for (auto& e : entries) e.name = fit_text(e.name, column_width - 30, legend_scale);
    legend_w = columns * column_width + 8;
  }

  // Plot area and the equal-aspect map from data to pixels.
  const cv::Rect area(m, top + m, std::max(10, options.width - 2 * m - (legend_w > 0 ? legend_w + m : 0)),
                      std::max(10, options.height - top - 2 * m));
  double x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  if (n > 0) {
    x0 = x1 = p[0];
    y0 = y1 = p[1];
    for (int64_t i = 1; i < n; ++i) {
      x0 = std::min(x0, p[2 * i]);
      x1 = std::max(x1, p[2 * i]);
      y0 = std::min(y0, p[2 * i + 1]);
      y1 = std::max(y1, p[2 * i + 1]);
    }
  }
  const double inner_w = std::max(1, area.width - 2 * radius), inner_h = std::max(1, area.height - 2 * radius);
  const double span = std::max({x1 - x0, (y1 - y0) * inner_w / inner_h, 1e-12});
  const double scale = inner_w / span;
  const double cx = area.x + area.width / 2.0, cy = area.y + area.height / 2.0;
  const double mx = 0.5 * (x0 + x1), my = 0.5 * (y0 + y1);
  auto to_pixel = [&](int64_t i) {
    return cv::Point(static_cast<int>(std::lround(cx + (p[2 * i] - mx) * scale)),
                     static_cast<int>(std::lround(cy - (p[2 * i + 1] - my) * scale)));  // y up
  };

  // Unlabelled first, then the rest in a fixed shuffled order.
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(stream_seed(0x5ca77e9));
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[uniform_index(rng, i + 1)]);
  std::stable_partition(order.begin(), order.end(), [&](int64_t i) { return lab[i] < 0; });
  for (int64_t i : order) cv::circle(img, to_pixel(i), radius, scalar(category_color(lab[i])), cv::FILLED, cv::LINE_AA);

  if (legend_w > 0)
    draw_legend(img, entries, options.width - m - legend_w, top + m, legend_rows, column_width, row_height,
                legend_scale, /*line_swatch=*/false);
  return img;
}

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  PROTOCLR_CHECK(std::isfinite(lo) && std::isfinite(hi), "plot: axis range must be finite");
  if (hi < lo) std::swap(lo, hi);
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(lo))) {
    lo -= 0.5;
    hi += 0.5;
  }
  max_ticks = std::max(2, max_ticks);
  const double raw = (hi - lo) / (max_ticks - 1);
  const int exponent = static_cast<int>(std::floor(std::log10(raw)));
  const double mag = std::pow(10.0, std::abs(exponent));
  // step = f * 10^exponent; tick k = (i0 + k) * f * 10^exponent, divided rather than
  // multiplied by the power for negative exponents so 0.6 prints and compares as 0.6.
  auto value = [&](double units) { return exponent >= 0 ? units * mag : units / mag; };
  double f = 10.0;
  for (double c : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (value(c) >= raw) {
      f = c;
      break;
    }
  const double step = value(f);
  const double i0 = std::floor(lo / step + 1e-9), i1 = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double i = i0; i <= i1 + 1e-9; i += 1.0) ticks.push_back(value(i * f));
  return ticks;
}

cv::Mat line_plot(const std::vector<LineSeries>& series, const LinePlotOptions& options) {
  PROTOCLR_CHECK(options.width >= 200 && options.height >= 150 && options.width <= 16384 && options.height <= 16384,
                 "line plot: image size ", options.width, "x", options.height, " out of range");
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& s : series) {
    PROTOCLR_CHECK(s.xs.size() == s.ys.size(), "line plot: series '", s.name, "' has ", s.xs.size(), " x and ",
                   s.ys.size(), " y values");
    for (size_t i = 0; i < s.xs.size(); ++i)
      if (std::isfinite(s.xs[i]) && std::isfinite(s.ys[i])) {
        x0 = std::min(x0, s.xs[i]);
        x1 = std::max(x1, s.xs[i]);
        y0 = std::min(y0, s.ys[i]);
        y1 = std::max(y1, s.ys[i]);
      }
  }
  PROTOCLR_CHECK(std::isfinite(x0), "line plot: no finite data point to draw");

  cv::Mat img(options.height, options.width, CV_8UC3, kWhite);
  const int top = std::max(draw_title(img, options.title), 20);
  const double tick_scale = 0.45, label_scale = 0.55;
  const auto xt = nice_ticks(x0, x1, std::max(2, options.width / 110));
  const auto yt = nice_ticks(y0, y1, std::max(2, options.height / 70));
  const double xstep = xt.size() > 1 ? xt[1] - xt[0] : 1, ystep = yt.size() > 1 ? yt[1] - yt[0] : 1;
  int ylabel_w = 0;
  for (double v : yt) ylabel_w = std::max(ylabel_w, text_size(tick_label(v, ystep), kFont, tick_scale, 1).width);
  const int left = 16 + (options.y_label.empty() ? 0 : 24) + ylabel_w + 8;
  const int bottom = 30 + (options.x_label.empty() ? 0 : 26);
  const int right = 24 + text_size(tick_label(xt.back(), xstep), kFont, tick_scale, 1).width / 2;
  const cv::Rect area(left, top, options.width - left - right, options.height - top - bottom);
  PROTOCLR_CHECK(area.width > 20 && area.height > 20, "line plot: image too small for its labels");
  const double ax0 = xt.front(), ax1 = xt.back(), ay0 = yt.front(), ay1 = yt.back();
  constexpr int kInset = 8;  // keeps markers and lines at the axis limits off the frame
  auto px = [&](double x) { return area.x + kInset + (x - ax0) / (ax1 - ax0) * (area.width - 2 * kInset); };
  auto py = [&](double y) {
    return area.y + area.height - kInset - (y - ay0) / (ay1 - ay0) * (area.height - 2 * kInset);
  };
  constexpr int kShift = 4;  // sub-pixel precision of the anti-aliased lines
  auto point = [&](double x, double y) {
    return cv::Point(static_cast<int>(std::lround(px(x) * (1 << kShift))),
                     static_cast<int>(std::lround(py(y) * (1 << kShift))));
  };

  // Grid, ticks and their labels.
  for (double v : xt) {
    const int x = static_cast<int>(std::lround(px(v)));
    cv::line(img, {x, area.y}, {x, area.y + area.height}, kGrid, 1, cv::LINE_8);
    cv::line(img, {x, area.y + area.height}, {x, area.y + area.height + 5}, kText, 1, cv::LINE_8);
    const std::string t = tick_label(v, xstep);
    put_text(img, t, x - text_size(t, kFont, tick_scale, 1).width / 2, area.y + area.height + 16, tick_scale, kText);
  }
  for (double v : yt) {
    const int y = static_cast<int>(std::lround(py(v)));
    cv::line(img, {area.x, y}, {area.x + area.width, y}, kGrid, 1, cv::LINE_8);
    cv::line(img, {area.x - 5, y}, {area.x, y}, kText, 1, cv::LINE_8);
    const std::string t = tick_label(v, ystep);
    put_text(img, t, area.x - 8 - text_size(t, kFont, tick_scale, 1).width, y, tick_scale, kText);
  }
  cv::rectangle(img, area, kText, 1, cv::LINE_8);
  if (!options.x_label.empty()) {
    const cv::Size s = text_size(options.x_label, kFont, label_scale, 1);
    put_text(img, options.x_label, area.x + (area.width - s.width) / 2, options.height - 16, label_scale, kText);
  }
  if (!options.y_label.empty()) {  // drawn horizontally, then turned a quarter left
    const std::string t = fit_text(options.y_label, area.height, label_scale);
    const cv::Size s = text_size(t, kFont, label_scale, 1);
    cv::Mat strip(s.height + 10, s.width + 4, CV_8UC3, kWhite);
    put_text(strip, t, 2, strip.rows / 2, label_scale, kText);
    cv::Mat turned;
    cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
    const int y = std::clamp(area.y + (area.height - turned.rows) / 2, 0, options.height - turned.rows);
    turned.copyTo(img(cv::Rect(8, y, turned.cols, turned.rows)));
  }

  // Curves, clipped to the plot area.
  cv::Mat plot = img(area);
  const cv::Point offset(area.x << kShift, area.y << kShift);
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const cv::Scalar color = scalar(category_color(static_cast<int64_t>(k)));
    std::vector<cv::Point> run;
    auto flush = [&] {
      if (run.size() >= 2) cv::polylines(plot, run, /*isClosed=*/false, color, 2, cv::LINE_AA, kShift);
      run.clear();
    };
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i])) {
        flush();
        continue;
      }
      run.push_back(point(s.xs[i], s.ys[i]) - offset);
    }
    flush();
    if (static_cast<int>(s.xs.size()) <= options.max_markers)
      for (size_t i = 0; i < s.xs.size(); ++i)
        if (std::isfinite(s.xs[i]) && std::isfinite(s.ys[i]))
          cv::circle(plot, point(s.xs[i], s.ys[i]) - offset, 3 << kShift, color, cv::FILLED, cv::LINE_AA, kShift);
  }

  // Legend in the corner of the plot area that covers the fewest data points.
  if (options.legend && !series.empty()) {
    std::vector<LegendEntry> entries;
    int widest = 0;
    for (size_t k = 0; k < series.size(); ++k) {
      entries.push_back({fit_text(series[k].name, area.width / 2, tick_scale + 0.05),
                         scalar(category_color(static_cast<int64_t>(k)))});
      widest = std::max(widest, text_size(entries.back().name, kFont, tick_scale + 0.05, 1).width);
    }
    const int row_height = 20, column_width = widest + 40;
    const int box_w = column_width + 8, box_h = static_cast<int>(entries.size()) * row_height + 8;
    const std::array<cv::Point, 4> corners = {{{area.x + area.width - box_w - 10, area.y + 10},
                                               {area.x + 10, area.y + 10},
                                               {area.x + area.width - box_w - 10, area.y + area.height - box_h - 10},
                                               {area.x + 10, area.y + area.height - box_h - 10}}};
    int best = 0;
    int64_t best_count = -1;
    for (int c = 0; c < 4; ++c) {
      const cv::Rect box(corners[c].x, corners[c].y, box_w, box_h);
      int64_t count = 0;
      for (const auto& s : series)
        for (size_t i = 0; i < s.xs.size(); ++i)
          if (std::isfinite(s.xs[i]) && std::isfinite(s.ys[i]) &&
              box.contains(cv::Point(static_cast<int>(px(s.xs[i])), static_cast<int>(py(s.ys[i])))))
            ++count;
      if (best_count < 0 || count < best_count) {
        best = c;
        best_count = count;
      }
    }
    draw_legend(img, entries, corners[best].x, corners[best].y, static_cast<int>(entries.size()), column_width,
                row_height, tick_scale + 0.05, /*line_swatch=*/true);
  }
  return img;
}

cv::Mat image_grid(const std::vector<cv::Mat>& tiles, int columns, const std::vector<std::string>& captions,
                   const ImageGridOptions& options) {
  PROTOCLR_CHECK(!tiles.empty(), "image grid: no tiles");
  PROTOCLR_CHECK(columns >= 1, "image grid: columns must be >= 1, got ", columns);
  PROTOCLR_CHECK(captions.empty() || captions.size() == tiles.size(), "image grid: ", captions.size(),
                 " captions for ", tiles.size(), " tiles");
  PROTOCLR_CHECK(options.tile_size >= 8 && options.tile_size <= 4096, "image grid: tile size ", options.tile_size,
                 " out of range (8..4096)");
  const int t = options.tile_size, pad = std::max(0, options.padding);
  const int cols = std::min<int>(columns, tiles.size());
  const int rows = (static_cast<int>(tiles.size()) + cols - 1) / cols;
  const double caption_scale = std::clamp(t / 240.0, 0.35, 0.6);
  const int caption_h = captions.empty() ? 0 : text_size("Ag", kFont, caption_scale, 1).height + 10;
  const int cell_h = t + caption_h;
  const int width = pad + cols * (t + pad);
  const int top = options.title.empty() ? 0 : 48;
  cv::Mat img(top + pad + rows * (cell_h + pad), std::max(width, 200), CV_8UC3, kWhite);
  draw_title(img, options.title);
  for (size_t k = 0; k < tiles.size(); ++k) {
    const cv::Mat& tile = tiles[k];
    PROTOCLR_CHECK(!tile.empty() && tile.type() == CV_8UC3, "image grid: tile ", k,
                   " is not an 8-bit RGB image (CV_8UC3)");
    const int r = static_cast<int>(k) / cols, c = static_cast<int>(k) % cols;
    const int x = pad + c * (t + pad), y = top + pad + r * (cell_h + pad);
    const double f = std::min(static_cast<double>(t) / tile.cols, static_cast<double>(t) / tile.rows);
    const int w = std::max(1, static_cast<int>(std::lround(tile.cols * f)));
    const int h = std::max(1, static_cast<int>(std::lround(tile.rows * f)));
    cv::Mat scaled;
    cv::resize(tile, scaled, cv::Size(w, h), 0, 0, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    scaled.copyTo(img(cv::Rect(x + (t - w) / 2, y + (t - h) / 2, w, h)));
    if (!captions.empty()) {
      const std::string cap = fit_text(captions[k], t, caption_scale);
      const int cw = text_size(cap, kFont, caption_scale, 1).width;
      put_text(img, cap, x + (t - cw) / 2, y + t + caption_h / 2, caption_scale, kText);
    }
  }
  return img;
}

}  // namespace protoclr::plot
