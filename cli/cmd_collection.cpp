// `protoclr clusters`, `index`, `search`, `dedupe`: a run's clusters as a gallery, and a photo
// collection made searchable by a trained network, searched by example, checked for
// near-duplicates.
#include <sys/resource.h>

#include <filesystem>
#include <iostream>
#include <optional>

#include "commands.h"
#include "eval_common.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"
#include "protoclr/data/image.h"
#include "protoclr/data/unreadable.h"
#include "protoclr/search/build.h"
#include "protoclr/run/environment.h"
#include "protoclr/search/dedupe.h"
#include "protoclr/search/gallery.h"
#include "protoclr/search/pages.h"

namespace protoclr::cli {
namespace fs = std::filesystem;
namespace {

/// The process's peak resident memory so far, in MiB.
double peak_resident_mib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

/// The network flags an index was made with, so a query is embedded the same way.
EvalFlags flags_of(const nlohmann::json& recipe, const EvalFlags& runtime) {
  EvalFlags f = runtime;  // device, threads, workers, batch size: this machine's choice
  const auto& net = recipe.at("network");
  f.checkpoint = net.at("checkpoint").get<std::string>();
  f.random_init = net.at("random_init").get<bool>();
  f.encoder = net.at("encoder").get<std::string>();
  f.arch = net.at("arch").get<std::string>();
  f.cifar_stem = net.at("cifar_stem").get<bool>();
  f.seed = net.value("seed", uint64_t{0});
  f.layer = net.at("layer").get<std::string>();
  f.image_size = net.at("image_size").get<int64_t>();
  return f;
}

/// Flags of this machine (not of the index) for search: where and how fast to embed queries.
void add_runtime_flags(CLI::App* cmd, EvalFlags& f) {
  cmd->add_option("--threads", f.threads, "Compute threads (0 = all)")->check(non_negative());
  cmd->add_option("--device", f.device, "cpu or cuda[:N]")->capture_default_str();
}

void add_index_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("index", "Embed a folder of images into an index for `search` and `dedupe`");
  auto f = std::make_shared<EvalFlags>();
  auto out = std::make_shared<std::string>();
  auto update = std::make_shared<bool>(false);
  auto options = std::make_shared<search::IndexOptions>();
  add_eval_flags(cmd, *f, Splits::kOne, "embedding");
  cmd->add_option("--out", *out, "Index folder (index.json, files, embeddings, search structure)")->required();
  cmd->add_flag("--update", *update, "Embed only the files new or changed since --out was made (same network flags)");
  cmd->add_option("--exact-up-to", options->exact_up_to,
                  "Exact search up to this many images; HNSW (approximate, log-time) above")
      ->check(non_negative())->capture_default_str();
  cmd->callback([f, out, update, options] {
    auto s = make_eval_setup(*f, Splits::kOne);
    auto network = s.header["network"];
    if (!network["checkpoint"].get<std::string>().empty())
      network["checkpoint"] = search::collection_path(network["checkpoint"].get<std::string>());
    nlohmann::json recipe = {{"network", network}, {"data", s.header["data"]}};
    std::optional<search::CollectionIndex> previous;
    if (*update && fs::exists(fs::path(*out) / "index.json")) {
      previous = search::CollectionIndex::load(*out);
      if (previous->recipe().value("network", nlohmann::json()) != recipe["network"])
        throw UsageError("--update: '" + *out + "' was made with the network " +
                         previous->recipe().value("network", nlohmann::json()).dump() +
                         "; give the same network flags, or leave out --update to rebuild it");
    }
    const auto build = search::build_index(s.net.encoder, s.extract, s.test, recipe, *options,
                                           previous ? &*previous : nullptr);
    build.index.save(*out);
    EvalReport report{"index: " + f->layer + " embeddings"};
    report.add("index", *out + "  " + std::to_string(build.index.size()) + " images, " +
                            std::to_string(build.index.dim()) + "-d");
    report.add("embedded", std::to_string(build.embedded) + " images in " + fixed(build.seconds, 1) + " s" +
                               (build.seconds > 0 ? " (" + fixed(build.embedded / build.seconds, 1) + " img/s)" : ""));
    if (previous) report.add("kept", std::to_string(build.kept) + " unchanged, " + std::to_string(build.removed) + " removed");
    report.add("search", build.index.structure_reason());
    if (!build.unreadable.empty())
      report.add("left out", std::to_string(build.unreadable.size()) + " unreadable images (named above)");
    report.add("peak memory", fixed(peak_resident_mib(), 0) + " MiB");
    report.json = {{"protocol", "index"},
                   {"out", *out},
                   {"images", build.index.size()},
                   {"dim", build.index.dim()},
                   {"embedded", build.embedded},
                   {"kept", build.kept},
                   {"removed", build.removed},
                   {"unreadable", build.unreadable},
                   {"structure", build.index.structure() == search::SearchStructure::kExact ? "exact" : "hnsw"},
                   {"seconds", build.seconds},
                   {"peak_resident_mib", peak_resident_mib()}};
    emit(s, report, f->json);
  });
}

void add_search_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("search", "The images of an index nearest to example images, with cosine scores");
  auto index_dir = std::make_shared<std::string>();
  auto queries = std::make_shared<std::vector<std::string>>();
  auto top = std::make_shared<int64_t>(10);
  auto json = std::make_shared<bool>(false);
  auto html = std::make_shared<std::string>();
  auto runtime = std::make_shared<EvalFlags>();
  cmd->add_option("index", *index_dir, "Index folder made by `protoclr index`")->required();
  cmd->add_option("images", *queries, "Query images: files inside or outside the collection")->required();
  cmd->add_option("--top", *top, "Neighbours per query")->check(positive())->capture_default_str();
  cmd->add_flag("--json", *json, "Print one JSON object on stdout instead of the table");
  cmd->add_option("--html", *html, "Also write the results as an HTML page to this file");
  add_runtime_flags(cmd, *runtime);
  cmd->callback([=] {
    const auto index = search::CollectionIndex::load(*index_dir);
    std::vector<search::QueryResult> results(queries->size());
    std::vector<int64_t> exclude(queries->size(), -1);
    std::vector<size_t> outside;
    std::vector<std::string> unreadable;
    for (size_t i = 0; i < queries->size(); ++i) {
      results[i].query = (*queries)[i];
      const auto row = index.row_of(search::collection_path((*queries)[i]));
      results[i].in_collection = row.has_value();
      if (row) {
        exclude[i] = *row;
        continue;
      }
      try {  // a query that cannot be read is named and skipped; the others are answered
        data::decode_image_file((*queries)[i]);
        outside.push_back(i);
      } catch (const Error& e) {
        data::report_unreadable((*queries)[i], e.what());
        unreadable.push_back((*queries)[i]);
      }
    }
    // Queries in the collection use their stored embeddings; the others go through the
    // index's own network, preprocessing and layer.
    torch::Tensor embedded;
    std::vector<int64_t> embedded_row(queries->size(), -1);
    if (!outside.empty()) {
      std::vector<std::string> paths;
      for (size_t i : outside) paths.push_back((*queries)[i]);
      EvalSetup s = make_network_setup(flags_of(index.recipe(), *runtime));
      auto options = s.extract;
      options.progress_label = "queries";
      const auto features = features::extract_features(s.net.encoder, data::image_files(paths), options);
      embedded = features.features;
      std::vector<uint8_t> read(outside.size(), 0);
      for (int64_t r = 0; r < features.rows.numel(); ++r) {
        const auto k = static_cast<size_t>(features.rows[r].item<int64_t>());
        embedded_row[outside[k]] = r;
        read[k] = 1;
      }
      for (size_t k = 0; k < outside.size(); ++k)
        if (!read[k]) unreadable.push_back(paths[k]);
    }
    std::vector<search::QueryResult> answered;
    for (size_t i = 0; i < queries->size(); ++i) {
      torch::Tensor q;
      if (exclude[i] >= 0) q = index.embeddings()[exclude[i]];
      else if (embedded_row[i] >= 0) q = embedded[embedded_row[i]];
      else continue;
      results[i].neighbours = index.search(q.unsqueeze(0), *top, {exclude[i]})[0];
      answered.push_back(results[i]);
    }
    if (!html->empty()) search::write_search_page(*html, index, answered);
    if (*json) {
      nlohmann::ordered_json j;
      j["index"] = *index_dir;
      j["queries"] = nlohmann::json::array();
      for (const auto& r : answered) {
        nlohmann::ordered_json q{{"query", r.query}, {"in_collection", r.in_collection}};
        q["neighbours"] = nlohmann::json::array();
        for (const auto& nb : r.neighbours)
          q["neighbours"].push_back({{"path", index.files()[static_cast<size_t>(nb.row)].path}, {"score", nb.score}});
        j["queries"].push_back(q);
      }
      j["unreadable"] = unreadable;
      std::cout << j.dump() << "\n";
    } else {
      for (const auto& r : answered) {
        std::cout << r.query << (r.in_collection ? "  (in the collection)" : "") << "\n";
        for (size_t k = 0; k < r.neighbours.size(); ++k)
          std::cout << "  " << k + 1 << "  " << fixed(r.neighbours[k].score, 4) << "  "
                    << index.files()[static_cast<size_t>(r.neighbours[k].row)].path << "\n";
      }
      if (!html->empty()) std::cout << "page: " << *html << "\n";
    }
    if (!unreadable.empty()) throw ExitStatus{1};  // each was named when it failed to decode
  });
}

void add_dedupe_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("dedupe", "Groups of near-duplicate images in an index, as JSON and an HTML page");
  auto index_dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto options = std::make_shared<search::DedupeOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("index", *index_dir, "Index folder made by `protoclr index`")->required();
  cmd->add_option("--threshold", options->threshold, "Cosine at or above which two images are near-duplicates")
      ->check(between(-1, 1))->capture_default_str();
  cmd->add_option("--neighbours", options->neighbours, "Nearest neighbours examined per image")
      ->check(positive())->capture_default_str();
  cmd->add_option("--out", *out, "Folder for duplicates.json and duplicates.html (default: the index folder)");
  cmd->add_flag("--json", *json, "Print the groups as one JSON object on stdout");
  cmd->callback([=] {
    const auto index = search::CollectionIndex::load(*index_dir);
    const auto groups = search::near_duplicates(index, *options);
    const fs::path dir = out->empty() ? fs::path(*index_dir) : fs::path(*out);
    fs::create_directories(dir);
    nlohmann::ordered_json j{{"index", *index_dir}, {"threshold", options->threshold}, {"neighbours", options->neighbours}};
    j["groups"] = nlohmann::json::array();
    int64_t images = 0;
    for (const auto& g : groups) {
      nlohmann::ordered_json group{{"lowest_score", g.lowest}};
      group["files"] = nlohmann::json::array();
      for (const int64_t row : g.rows) group["files"].push_back(index.files()[static_cast<size_t>(row)].path);
      j["groups"].push_back(group);
      images += static_cast<int64_t>(g.rows.size());
    }
    write_file_atomic(dir / "duplicates.json", j.dump(2) + "\n");
    search::write_duplicates_page(dir / "duplicates.html", index, groups, *options);
    if (*json) {
      std::cout << j.dump() << "\n";
    } else {
      std::cout << groups.size() << " groups of near-duplicates (" << images << " of " << index.size()
                << " images) at cosine >= " << fixed(options->threshold, 3) << "\n";
      for (size_t i = 0; i < groups.size() && i < 10; ++i) {
        std::cout << "  " << groups[i].rows.size() << " images (weakest " << fixed(groups[i].lowest, 3) << "): "
                  << index.files()[static_cast<size_t>(groups[i].rows[0])].path << " ...\n";
      }
      std::cout << "json: " << (dir / "duplicates.json").string() << "\npage: " << (dir / "duplicates.html").string()
                << "\n";
    }
  });
}

void add_clusters_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("clusters", "A run's clusters at every granularity as an HTML gallery, PNG sheets and a CSV");
  auto run = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto source = std::make_shared<search::ClusterSourceOptions>();
  auto gallery = std::make_shared<search::GalleryOptions>();
  auto threads = std::make_shared<int>(0);
  auto device = std::make_shared<std::string>("cpu");
  auto json = std::make_shared<bool>(false);
  cmd->add_option("run", *run, "Run folder or checkpoint")->required();
  cmd->add_option("--out", *out, "Gallery folder (index.html; thumbnails kept for the next gallery there)")->required();
  cmd->add_option("--data", source->data, "Images to cluster afresh (default: the run's last E-step on its training images)");
  cmd->add_option("--split", source->split, "Split of --data for IDX / CIFAR binaries")->capture_default_str();
  cmd->add_option("--k", source->ks, "Cluster afresh at these granularities, e.g. 10,100 (default: the run's)")
      ->delimiter(',')->check(positive());
  cmd->add_option("--nearest", gallery->nearest, "Images nearest the prototype, first on each cluster's page")
      ->check(positive())->capture_default_str();
  cmd->add_option("--sample", gallery->sample, "Then a sample of this many of the others")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--thumbnail", gallery->thumbnail, "Thumbnail size, pixels (longer side)")
      ->check(at_least(16))->capture_default_str();
  cmd->add_option("--image-size", source->image_size, "Embedding crop size (0 = the run's)")->check(non_negative());
  cmd->add_option("--batch-size", source->extract.batch_size, "Images per forward pass")->check(positive())->capture_default_str();
  cmd->add_option("--threads", *threads, "Compute threads (0 = all)")->check(non_negative());
  cmd->add_option("--device", *device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--seed", source->seed, "Seed of k-means and of the samples")->capture_default_str();
  cmd->add_flag("--json", *json, "Print one JSON object on stdout");
  cmd->callback([=] {
    run::set_threads(*threads);
    source->extract.device = torch::Device(*device);
    gallery->seed = source->seed;
    const auto clusters = search::clusters_of_run(*run, *source);
    const auto report = search::write_gallery(*out, clusters, *gallery);
    nlohmann::ordered_json j{{"command", "clusters"}, {"source", clusters.description}, {"gallery", report.index_page.string()},
                             {"images", report.images}, {"image_size", clusters.image_size}, {"levels", report.ks}};
    if (!report.purity.empty()) j["purity"] = report.purity;
    j["pages"] = report.pages;
    j["thumbnails_made"] = report.thumbnails_made;
    j["thumbnails_cached"] = report.thumbnails_cached;
    j["unreadable"] = report.unreadable;
    if (*json) {
      std::cout << j.dump() << "\n";
      return;
    }
    std::cout << "clusters: " << clusters.description << "\n";
    for (size_t m = 0; m < report.ks.size(); ++m)
      std::cout << "  K = " << report.ks[m]
                << (report.purity.empty() ? std::string() : "  purity " + percent(report.purity[m])) << "\n";
    std::cout << "  " << report.images << " images, " << report.pages << " pages, thumbnails " << report.thumbnails_made
              << " made, " << report.thumbnails_cached << " reused"
              << (report.unreadable.empty() ? "" : ", " + std::to_string(report.unreadable.size()) + " unreadable")
              << "\ngallery: " << report.index_page.string() << "\n";
  });
}

}  // namespace

void add_collection_commands(CLI::App& app) {
  add_clusters_command(app);
  add_index_command(app);
  add_search_command(app);
  add_dedupe_command(app);
}

}  // namespace protoclr::cli
