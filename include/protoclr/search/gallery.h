#pragma once
/// The learned prototypes in front of a person (`protoclr clusters`): a static HTML gallery
/// of the clusters at every granularity, opened from disk with no server, with a PNG contact
/// sheet per cluster and assignments.csv for use outside a browser.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "protoclr/cluster/e_step.h"
#include "protoclr/data/dataset.h"
#include "protoclr/features/extract.h"

namespace protoclr::search {

/// The clusters a gallery shows, with what it needs to order their images.
struct ClusterSource {
  std::shared_ptr<const data::Dataset> dataset;
  features::DatasetFeatures features;  ///< unit rows of the readable images, with their dataset rows
  cluster::EStepResult clusters;       ///< every level's assignments over dataset rows (-1: unreadable)
  std::string description;             ///< "the E-step of epoch 20" or "k-means afresh at K = 10,100"
  int64_t image_size = 0;              ///< the crop size the images were embedded at
};

/// Which clusters of a run (`protoclr clusters` flags).
struct ClusterSourceOptions {
  std::string data;             ///< images to cluster afresh (empty: the run's training images)
  std::string split = "train";  ///< split of `data` for IDX and CIFAR binaries
  std::vector<int64_t> ks;      ///< granularities to cluster at (empty: the run's --num-clusters)
  int64_t image_size = 0;       ///< embedding crop size (0: the run's --image-size, as its E-step)
  features::ExtractOptions extract;  ///< batch, threads, device; the layer and size are set from the above
  uint64_t seed = 0;            ///< k-means
};

/// A run's clusters: with no `data` and no `ks`, its last E-step on its own training images
/// (the checkpoint's, as the M-step used them); otherwise the images clustered afresh, embedded
/// by the momentum encoder on centre crops as the E-step embeds them. Throws Error naming what
/// is missing (a checkpoint without an E-step and no --k, K larger than the images).
ClusterSource clusters_of_run(const std::string& run, const ClusterSourceOptions& options);

struct GalleryOptions {
  int64_t nearest = 12;  ///< images nearest the prototype, first on each page and on the sheet
  int64_t sample = 24;   ///< then a seeded sample of the other members
  int64_t strip = 6;     ///< thumbnails beside each cluster on the index
  int thumbnail = 128;   ///< a thumbnail's longer side, pixels (never enlarged)
  int threads = 0;       ///< thumbnail threads (0 = all)
  uint64_t seed = 0;
};

/// What a gallery holds.
struct GalleryReport {
  std::vector<int64_t> ks;             ///< levels, coarse to fine
  std::vector<double> purity;          ///< per level: members of each cluster's commonest class / labelled images; empty when unlabeled
  int64_t images = 0;                  ///< images shown (readable)
  int64_t thumbnails_made = 0;
  int64_t thumbnails_cached = 0;       ///< found from an earlier gallery in the same folder
  int64_t pages = 0;                   ///< HTML pages written
  std::vector<std::string> unreadable; ///< on unreadable.html
  std::filesystem::path index_page;
};

/// Writes into `out`: index.html (every level, coarse to fine, clusters largest first with
/// size, phi and the images nearest their prototype), k<K>/c<id>.html per cluster (nearest
/// first, then a sample of the rest; the coarser clusters it belongs to and the finer ones
/// it is made of), sheets/k<K>_c<id>.png, assignments.csv (file, then one cluster id per
/// level), unreadable.html, and thumbs/: one small JPEG per image, named by the file's path,
/// size and time, so a second gallery in the same folder makes only the new ones.
GalleryReport write_gallery(const std::filesystem::path& out, const ClusterSource& source,
                            const GalleryOptions& options = {});

}  // namespace protoclr::search
