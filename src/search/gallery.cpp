#include "protoclr/search/gallery.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <optional>

#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/core/parallel.h"
#include "protoclr/core/rng.h"
#include "protoclr/data/image.h"
#include "protoclr/data/unreadable.h"
#include "protoclr/model/moco.h"
#include "protoclr/plot/jpeg_writer.h"
#include "protoclr/plot/plot.h"
#include "protoclr/plot/png_writer.h"
#include "protoclr/run/checkpoint.h"
#include "protoclr/search/build.h"
#include "protoclr/search/index.h"
#include "protoclr/search/pages.h"

namespace protoclr::search {
namespace fs = std::filesystem;
namespace {

/// FNV-1a, 64 bits: a thumbnail's name from what identifies the image's content.
uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string thumbnail_name(const std::string& name, int size) {
  const CollectionFile file = stat_file(name);
  char buf[40];
  std::snprintf(buf, sizeof buf, "thumbs/%016llx.jpg",
                static_cast<unsigned long long>(fnv1a(collection_path(name) + "|" + std::to_string(file.bytes) + "|" +
                                                      std::to_string(file.mtime_ns) + "|" + std::to_string(size))));
  return buf;
}

/// `rgb` shrunk (aspect kept, never enlarged) so its longer side is at most `size`.
cv::Mat fit(const cv::Mat& rgb, int size) {
  const int longer = std::max(rgb.cols, rgb.rows);
  if (longer <= size) return rgb;
  const double scale = static_cast<double>(size) / longer;
  cv::Mat out;
  cv::resize(rgb, out, cv::Size(std::max(1, static_cast<int>(std::lround(rgb.cols * scale))),
                                std::max(1, static_cast<int>(std::lround(rgb.rows * scale)))),
             0, 0, cv::INTER_AREA);
  return out;
}

/// A CSV field: quoted when it holds a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string cluster_page(int64_t k, int64_t c) { return "k" + std::to_string(k) + "/c" + std::to_string(c) + ".html"; }
std::string sheet_file(int64_t k, int64_t c) {
  return "sheets/k" + std::to_string(k) + "_c" + std::to_string(c) + ".png";
}

/// One level, laid out for the pages.
struct Level {
  int64_t k = 0;
  std::vector<std::vector<int64_t>> members;  ///< per cluster: dataset rows, nearest the prototype first
  std::vector<std::vector<float>> scores;     ///< their cosines to the prototype
  std::vector<float> phi;
  std::vector<int64_t> order;                 ///< clusters, largest first
  std::vector<int64_t> parent;                ///< per cluster: the commonest cluster of its members one level coarser (-1 at the top)
  std::vector<std::vector<int64_t>> children; ///< per cluster: the clusters one level finer whose parent it is
};

}  // namespace

ClusterSource clusters_of_run(const std::string& run, const ClusterSourceOptions& request) {
  const std::string& data = request.data;
  const std::vector<int64_t>& ks = request.ks;
  const uint64_t seed = request.seed;
  const std::string path = run::resolve_checkpoint(run);
  const run::CheckpointMeta meta = run::read_checkpoint_meta(path);
  const run::TrainConfig& c = meta.config;
  model::MoCo moco(c.moco_options());
  std::optional<cluster::EStepResult> estep;
  run::load_checkpoint(path, moco, nullptr, &estep);
  moco->to(request.extract.device);
  const bool afresh = !data.empty() || !ks.empty();
  ClusterSource source;
  if (!afresh) {
    PROTOCLR_CHECK(estep && !estep->levels.empty(), "'", path,
                   "' holds no E-step (a warm-up epoch, or a MoCo run): give --k K1,K2,... to cluster afresh");
    source.dataset = data::open_dataset(c.data, c.dataset_options());
    PROTOCLR_CHECK(estep->levels.front().assignments.size(0) == static_cast<int64_t>(source.dataset->size()), "'",
                   c.data, "' holds ", source.dataset->size(), " images, the E-step of '", path, "' assigned ",
                   estep->levels.front().assignments.size(0),
                   ": the training data changed; give --data and --k to cluster afresh");
    source.description = "the E-step of epoch " + std::to_string(meta.epoch) + " (" + path + ")";
  } else {
    data::DatasetOptions options;
    options.split = request.split;
    options.seed = seed;
    source.dataset = data.empty() ? data::open_dataset(c.data, c.dataset_options()) : data::open_dataset(data, options);
  }
  features::ExtractOptions o = request.extract;
  o.layer = features::FeatureLayer::kEmbedding;  // what the E-step clusters
  o.image_size = request.image_size > 0 ? request.image_size : c.image_size;
  o.progress_label = "features (momentum encoder)";
  source.image_size = o.image_size;
  source.features = features::extract_features(moco->encoder_k, source.dataset, o);
  if (!afresh) {
    source.clusters = std::move(*estep);
    return source;
  }
  cluster::EStepOptions options;
  options.num_clusters = ks.empty() ? c.num_clusters : ks;
  options.iterations = c.kmeans_iterations;
  options.redo = c.kmeans_redo;
  options.seed = seed;
  cluster::check_num_clusters(options.num_clusters, source.features.rows.size(0));
  source.clusters = cluster::run_e_step(source.features.features, options);
  cluster::assign_dataset_rows(source.clusters, source.features.rows, static_cast<int64_t>(source.dataset->size()));
  std::string list;
  for (const int64_t k : options.num_clusters) list += (list.empty() ? "" : ",") + std::to_string(k);
  source.description = "k-means afresh at K = " + list + " (" + path + ")";
  return source;
}

GalleryReport write_gallery(const fs::path& out, const ClusterSource& source, const GalleryOptions& options) {
  PROTOCLR_CHECK(options.thumbnail >= 16, "thumbnail size ", options.thumbnail, " is below 16 pixels");
  const data::Dataset& dataset = *source.dataset;
  const auto n = static_cast<int64_t>(dataset.size());
  std::error_code error;
  fs::create_directories(out / "thumbs", error);
  PROTOCLR_CHECK(!error, "cannot create '", (out / "thumbs").string(), "': ", error.message(), " (choose another --out)");
  GalleryReport report;
  report.index_page = out / "index.html";

  // Thumbnails of the readable images, made once: an earlier gallery's are reused.
  std::vector<int64_t> feature_row(static_cast<size_t>(n), -1);
  const int64_t* rows = source.features.rows.data_ptr<int64_t>();
  for (int64_t r = 0; r < source.features.rows.numel(); ++r) feature_row[static_cast<size_t>(rows[r])] = r;
  std::vector<std::string> thumb(static_cast<size_t>(n));
  std::vector<uint8_t> shown(static_cast<size_t>(n), 0);
  std::atomic<int64_t> made{0}, cached{0};
  const int size = options.thumbnail;
  parallel_for(static_cast<size_t>(n), options.threads, [&](size_t i) {
    if (feature_row[i] < 0) return;
    const std::string name = dataset.name(i);
    const std::string file = thumbnail_name(name, size);
    if (fs::exists(out / file)) {
      ++cached;
    } else {
      try {
        const data::ScalePlan plan = [size](data::ImageSize full) {
          return std::max(1.0, static_cast<double>(std::max(full.width, full.height)) / size);
        };
        plot::write_jpeg(out / file, fit(dataset.load(i, plan).rgb, size));
        ++made;
      } catch (const Error& e) {
        data::report_unreadable(name, e.what());
        return;
      }
    }
    thumb[i] = file;
    shown[i] = 1;
  });
  report.thumbnails_made = made;
  report.thumbnails_cached = cached;
  for (const auto& name : dataset.skipped()) report.unreadable.push_back(name);
  for (int64_t i = 0; i < n; ++i)
    if (!shown[static_cast<size_t>(i)]) report.unreadable.push_back(dataset.name(static_cast<size_t>(i)));
  report.images = n - static_cast<int64_t>(report.unreadable.size() - dataset.skipped().size());

  // Levels coarse to fine; members ordered by cosine to their prototype.
  std::vector<size_t> by_k(source.clusters.levels.size());
  std::iota(by_k.begin(), by_k.end(), 0);
  std::stable_sort(by_k.begin(), by_k.end(),
                   [&](size_t a, size_t b) { return source.clusters.levels[a].k < source.clusters.levels[b].k; });
  const bool labelled = !dataset.multi_label() && !dataset.classes().empty();
  std::vector<Level> levels;
  for (const size_t m : by_k) {
    const auto& in = source.clusters.levels[m];
    Level level;
    level.k = in.k;
    level.members.resize(static_cast<size_t>(in.k));
    level.scores.resize(static_cast<size_t>(in.k));
    const torch::Tensor assignments = in.assignments.to(torch::kLong).contiguous();
    PROTOCLR_CHECK(assignments.numel() == n, "gallery: level K=", in.k, " assigns ", assignments.numel(), " of ", n,
                   " images");
    const torch::Tensor prototypes = in.prototypes.to(torch::kFloat).contiguous();
    const torch::Tensor phi = in.phi.to(torch::kFloat).contiguous();
    level.phi.assign(phi.data_ptr<float>(), phi.data_ptr<float>() + phi.numel());
    const int64_t* a = assignments.data_ptr<int64_t>();
    std::vector<std::vector<std::pair<float, int64_t>>> ranked(static_cast<size_t>(in.k));
    {
      // Every readable image's cosine to its own prototype, in one product.
      const torch::Tensor own = prototypes.index_select(0, assignments.index_select(0, source.features.rows).clamp_min(0));
      const torch::Tensor cosine = (source.features.features.to(torch::kFloat) * own).sum(1).contiguous();
      const float* s = cosine.data_ptr<float>();
      for (int64_t r = 0; r < source.features.rows.numel(); ++r) {
        const int64_t i = rows[r];
        if (!shown[static_cast<size_t>(i)] || a[i] < 0 || a[i] >= in.k) continue;
        ranked[static_cast<size_t>(a[i])].emplace_back(s[r], i);
      }
    }
    for (int64_t c = 0; c < in.k; ++c) {
      auto& list = ranked[static_cast<size_t>(c)];
      std::stable_sort(list.begin(), list.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
      for (const auto& [score, i] : list) {
        level.members[static_cast<size_t>(c)].push_back(i);
        level.scores[static_cast<size_t>(c)].push_back(score);
      }
    }
    level.order.resize(static_cast<size_t>(in.k));
    std::iota(level.order.begin(), level.order.end(), 0);
    std::stable_sort(level.order.begin(), level.order.end(), [&](int64_t x, int64_t y) {
      return level.members[static_cast<size_t>(x)].size() > level.members[static_cast<size_t>(y)].size();
    });
    level.parent.assign(static_cast<size_t>(in.k), -1);
    level.children.resize(static_cast<size_t>(in.k));
    if (labelled) {
      int64_t majority = 0, total = 0;
      for (const auto& members : level.members) {
        std::map<int64_t, int64_t> count;
        for (const int64_t i : members) {
          const int64_t label = dataset.label(static_cast<size_t>(i));
          if (label < 0) continue;
          ++count[label];
          ++total;
        }
        int64_t best = 0;
        for (const auto& [label, c] : count) best = std::max(best, c);
        majority += best;
      }
      report.purity.push_back(total > 0 ? static_cast<double>(majority) / static_cast<double>(total) : 0.0);
    }
    report.ks.push_back(in.k);
    levels.push_back(std::move(level));
  }
  // Which fine clusters make up a coarse one: each fine cluster under the coarse cluster
  // that holds most of its members.
  for (size_t j = 1; j < levels.size(); ++j) {
    const torch::Tensor coarse = source.clusters.levels[by_k[j - 1]].assignments.to(torch::kLong).contiguous();
    const int64_t* up = coarse.data_ptr<int64_t>();
    for (int64_t c = 0; c < levels[j].k; ++c) {
      std::map<int64_t, int64_t> count;
      for (const int64_t i : levels[j].members[static_cast<size_t>(c)]) ++count[up[i]];
      int64_t best = -1, most = 0;
      for (const auto& [p, number] : count)
        if (number > most && p >= 0) best = p, most = number;
      levels[j].parent[static_cast<size_t>(c)] = best;
      if (best >= 0) levels[j - 1].children[static_cast<size_t>(best)].push_back(c);
    }
  }

  // Sheets and cluster pages.
  const auto title_of = [](int64_t k, int64_t c) { return "K=" + std::to_string(k) + ", cluster " + std::to_string(c); };
  const auto majority_text = [&](const std::vector<int64_t>& members) -> std::string {
    if (!labelled || members.empty()) return "";
    std::map<int64_t, int64_t> count;
    for (const int64_t i : members) ++count[dataset.label(static_cast<size_t>(i))];
    const auto best = std::max_element(count.begin(), count.end(), [](const auto& x, const auto& y) { return x.second < y.second; });
    if (best->first < 0) return "";
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.0f%% %s", 100.0 * static_cast<double>(best->second) / static_cast<double>(members.size()),
                  dataset.classes()[static_cast<size_t>(best->first)].c_str());
    return buf;
  };
  std::atomic<int64_t> pages{0};
  for (size_t j = 0; j < levels.size(); ++j) {
    const Level& level = levels[j];
    fs::create_directories(out / ("k" + std::to_string(level.k)));
    fs::create_directories(out / "sheets");
    parallel_for(static_cast<size_t>(level.k), options.threads, [&](size_t cu) {
      const auto c = static_cast<int64_t>(cu);
      const auto& members = level.members[cu];
      const auto& scores = level.scores[cu];
      const int64_t nearest = std::min<int64_t>(options.nearest, static_cast<int64_t>(members.size()));
      // The contact sheet: the nearest images, from their thumbnails.
      if (nearest > 0) {
        std::vector<cv::Mat> tiles;
        std::vector<std::string> captions;
        for (int64_t t = 0; t < nearest; ++t) {
          tiles.push_back(data::decode_image_file((out / thumb[static_cast<size_t>(members[static_cast<size_t>(t)])]).string()).rgb);
          captions.push_back(score_text(scores[static_cast<size_t>(t)]));
        }
        plot::ImageGridOptions grid;
        grid.title = title_of(level.k, c) + ": " + std::to_string(members.size()) + " images";
        plot::write_png(out / sheet_file(level.k, c), plot::image_grid(tiles, 6, captions, grid));
      }
      std::string html = page_head(title_of(level.k, c));
      html += "<nav><a href=\"../index.html#k" + std::to_string(level.k) + "\">all clusters</a>";
      // The coarser clusters this one belongs to, from the nearest level up.
      for (size_t up = j, cl = cu; up > 0;) {
        const int64_t p = levels[up].parent[cl];
        if (p < 0) break;
        html += "<a href=\"../" + cluster_page(levels[up - 1].k, p) + "\">part of " + title_of(levels[up - 1].k, p) + "</a>";
        cl = static_cast<size_t>(p);
        --up;
      }
      if (nearest > 0) html += "<a href=\"../" + sheet_file(level.k, c) + "\">contact sheet</a>";
      html += "</nav>\n<p>" + std::to_string(members.size()) + " images, concentration phi " +
              score_text(level.phi.empty() ? 0.f : level.phi[cu]);
      const std::string majority = majority_text(members);
      if (!majority.empty()) html += ", " + html_escape(majority);
      html += "</p>\n";
      if (j + 1 < levels.size() && !level.children[cu].empty()) {
        html += "<p>made of";
        for (const int64_t child : level.children[cu])
          html += " <a href=\"../" + cluster_page(levels[j + 1].k, child) + "\">" + title_of(levels[j + 1].k, child) +
                  "</a> (" + std::to_string(levels[j + 1].members[static_cast<size_t>(child)].size()) + ")";
        html += "</p>\n";
      }
      const auto tile = [&](int64_t t) {
        const int64_t i = members[static_cast<size_t>(t)];
        const std::string name = dataset.name(static_cast<size_t>(i));
        // A click opens the image itself, when it is a file of its own (not an IDX or CIFAR record).
        const std::string link = fs::is_regular_file(name) ? file_url(name, out / ("k" + std::to_string(level.k))) : "";
        return figure_html("../" + thumb[static_cast<size_t>(i)], link,
                           fs::path(name).filename().string(),
                           score_text(scores[static_cast<size_t>(t)]) + "  " + fs::path(name).filename().string());
      };
      html += "<h2>nearest the prototype</h2><div class=\"row\">";
      for (int64_t t = 0; t < nearest; ++t) html += tile(t);
      html += "</div>\n";
      const int64_t rest = static_cast<int64_t>(members.size()) - nearest;
      if (rest > 0) {
        // A seeded sample of the others, shown in their order (nearest first).
        std::vector<int64_t> pick(static_cast<size_t>(rest));
        std::iota(pick.begin(), pick.end(), nearest);
        Rng rng(stream_seed(options.seed, 0x9a11e7ULL, static_cast<uint64_t>(level.k) * 1'000'003ULL + cu));
        const int64_t take = std::min(rest, options.sample);
        for (int64_t t = 0; t < take; ++t)
          std::swap(pick[static_cast<size_t>(t)], pick[static_cast<size_t>(t + static_cast<int64_t>(uniform_index(rng, static_cast<uint64_t>(rest - t))))]);
        pick.resize(static_cast<size_t>(take));
        std::sort(pick.begin(), pick.end());
        html += "<h2>a sample of the other " + std::to_string(rest) + "</h2><div class=\"row\">";
        for (const int64_t t : pick) html += tile(t);
        html += "</div>\n";
      }
      html += page_tail();
      write_file_atomic(out / cluster_page(level.k, c), html);
      ++pages;
    });
  }

  // The index: every level, clusters largest first.
  std::string html = page_head("protoclr clusters");
  html += "<p>" + html_escape(source.description) + ": " + std::to_string(report.images) + " images";
  if (!report.unreadable.empty())
    html += ", <a href=\"unreadable.html\">" + std::to_string(report.unreadable.size()) + " could not be read</a>";
  html += ". <a href=\"assignments.csv\">assignments.csv</a></p>\n<nav>";
  for (size_t j = 0; j < levels.size(); ++j) {
    html += "<a href=\"#k" + std::to_string(levels[j].k) + "\">K = " + std::to_string(levels[j].k);
    if (!report.purity.empty()) html += " (purity " + score_text(static_cast<float>(report.purity[j])) + ")";
    html += "</a>";
  }
  html += "</nav>\n";
  for (const auto& level : levels) {
    html += "<section><h2 id=\"k" + std::to_string(level.k) + "\">K = " + std::to_string(level.k) +
            "</h2><table><tr><th>cluster</th><th>images</th><th>phi</th>" + (labelled ? "<th>commonest class</th>" : "") +
            "<th>nearest the prototype</th></tr>\n";
    for (const int64_t c : level.order) {
      const auto& members = level.members[static_cast<size_t>(c)];
      if (members.empty()) continue;
      html += "<tr><td><a href=\"" + cluster_page(level.k, c) + "\">" + std::to_string(c) + "</a></td><td>" +
              std::to_string(members.size()) + "</td><td>" +
              score_text(level.phi.empty() ? 0.f : level.phi[static_cast<size_t>(c)]) + "</td>" +
              (labelled ? "<td>" + html_escape(majority_text(members)) + "</td>" : "") + "<td><div class=\"strip\">";
      for (size_t t = 0; t < members.size() && static_cast<int64_t>(t) < options.strip; ++t)
        html += "<a href=\"" + cluster_page(level.k, c) + "\"><img src=\"" + html_escape(thumb[static_cast<size_t>(members[t])]) +
                "\" alt=\"\"></a>";
      html += "</div></td></tr>\n";
    }
    html += "</table></section>\n";
  }
  html += page_tail();
  write_file_atomic(report.index_page, html);

  std::string list = page_head("could not be read");
  list += "<p>" + std::to_string(report.unreadable.size()) + " files were left out of the gallery.</p><ul>\n";
  for (const auto& name : report.unreadable) list += "<li>" + html_escape(name) + "</li>\n";
  list += "</ul>" + page_tail();
  write_file_atomic(out / "unreadable.html", list);
  report.pages = pages + 2;

  std::string csv = "file";
  for (const auto& level : levels) csv += ",k" + std::to_string(level.k);
  csv += "\n";
  std::vector<torch::Tensor> assignment_columns;
  for (const size_t m : by_k) assignment_columns.push_back(source.clusters.levels[m].assignments.to(torch::kLong).contiguous());
  for (int64_t i = 0; i < n; ++i) {
    csv += csv_field(dataset.name(static_cast<size_t>(i)));
    for (const auto& column : assignment_columns)
      csv += "," + std::to_string(shown[static_cast<size_t>(i)] ? column.data_ptr<int64_t>()[i] : int64_t{-1});
    csv += "\n";
  }
  write_file_atomic(out / "assignments.csv", csv);
  return report;
}

}  // namespace protoclr::search
