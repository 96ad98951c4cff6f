#pragma once
/// Datasets: one interface over image folders, flat folders, list files, IDX (MNIST,
/// Fashion-MNIST) and CIFAR binary batches. The format is detected from the path.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protoclr/data/image.h"

namespace protoclr::data {

/// The built-in default: Debian's dataset-fashion-mnist.
inline constexpr const char* kDefaultDataset = "/usr/share/datasets/fashion-mnist";

/// One image with its label (-1 when unlabeled) and its index in the dataset.
struct Sample {
  cv::Mat image;  ///< CV_8UC3 RGB
  int64_t label = -1;
  int64_t index = 0;
};

/// A dataset. All const methods are safe to call from several threads at once.
class Dataset {
 public:
  virtual ~Dataset() = default;
  /// Number of images.
  virtual size_t size() const = 0;
  /// Class names, in label order; empty for unlabeled data.
  virtual const std::vector<std::string>& classes() const = 0;
  /// Label of image i, in [0, classes().size()), or -1 when unlabeled or multi-label.
  virtual int64_t label(size_t i) const = 0;
  /// True when each image carries a set of labels (VOC07) instead of one: label(i) is then -1
  /// and label_set(i) holds the labels.
  virtual bool multi_label() const { return false; }
  /// Per class, in classes() order: 1 present, 0 difficult (present only as VOC "difficult"
  /// objects), -1 absent. The default derives it from label(i) (all -1 when unlabeled).
  virtual std::vector<int8_t> label_set(size_t i) const;
  /// Decodes image i as 8-bit RGB; `plan` may allow a reduced-scale decode.
  /// Throws protoclr::Error naming the file when the image cannot be decoded.
  virtual DecodedImage load(size_t i, const ScalePlan& plan = {}) const = 0;
  /// A name for image i in messages: its file path, or "<file>#<i>" for packed formats.
  virtual std::string name(size_t i) const = 0;
  /// "image-folder", "flat-folder", "list-file", "idx", "cifar10", "cifar100", "voc"; a subset
  /// (balanced_subset) reports its parent's format.
  virtual std::string format() const = 0;
  /// Names of images found unreadable when the dataset was opened (they are not part of
  /// the dataset); empty for packed formats.
  virtual const std::vector<std::string>& skipped() const { static const std::vector<std::string> none; return none; }

  /// load(i) with its label and index.
  Sample get(size_t i) const;
  /// All labels, in index order.
  std::vector<int64_t> labels() const;
  /// All label sets, row-major [size(), classes().size()], in index order.
  std::vector<int8_t> label_sets() const;
};

struct DatasetOptions {
  /// For formats that hold both splits in one place (IDX, CIFAR folders): "train" or "test";
  /// for a VOC devkit also "val" and "trainval" (PCL trains on trainval, tests on test).
  std::string split = "train";
  /// When > 0, keep a class-balanced subset of about this many images (limit / classes
  /// per class), chosen by `seed`; never simply the first N.
  int64_t limit = 0;
  uint64_t seed = 0;
  /// Check each image file's header when a folder is opened and skip (with one counted
  /// warning) those that cannot be read; the loader still survives images that fail later.
  bool verify_headers = true;
};

/// Opens the dataset at `path` (empty: kDefaultDataset), detecting its format:
/// - a folder of class folders (torchvision ImageFolder: classes and files sorted, only
///   image endings) -> "image-folder";
/// - a folder of images -> "flat-folder" (label -1);
/// - a folder or file with `*-idx3-ubyte[.gz]` (+ `*-idx1-ubyte[.gz]` labels) -> "idx";
/// - a folder with CIFAR-10 `data_batch_*.bin`/`test_batch.bin`, or CIFAR-100
///   `train.bin`/`test.bin` (also inside `cifar-10-batches-bin/`) -> "cifar10"/"cifar100";
/// - a VOC devkit year folder with `JPEGImages/` and `ImageSets/Main/` (also when given its
///   parent `VOCdevkit/` or the folder above that) -> "voc": multi-label over the 20 VOC
///   classes in the standard order, split `options.split` (train, val, trainval or test),
///   images from `ImageSets/Main/<split>.txt` (else the first class file), labels from
///   `ImageSets/Main/<class>_<split>.txt` lines `<id> <1|0|-1>` (see label_set);
/// - a text file of `relative/path label` lines (paths relative to the file) -> "list-file".
/// Throws protoclr::Error with one line naming the path and what to do when it cannot.
std::shared_ptr<Dataset> open_dataset(const std::string& path, const DatasetOptions& options = {});

/// A class-balanced subset of about n images, chosen by seed (for unlabeled and multi-label
/// data: a uniformly random subset). Indices are kept in the parent's order; the subset
/// forwards multi_label() and label_set().
std::shared_ptr<Dataset> balanced_subset(std::shared_ptr<const Dataset> parent, int64_t n, uint64_t seed);

/// Rows `indices` of `parent`, in that order (the new files an index update embeds).
std::shared_ptr<const Dataset> rows_of(std::shared_ptr<const Dataset> parent, std::vector<size_t> indices);

/// Image files named one by one, unlabeled ("files"): a search's query images. Not checked
/// here; a file that cannot be read fails where it is loaded, naming it.
std::shared_ptr<const Dataset> image_files(std::vector<std::string> paths);

/// Rows [begin, end) of `parent`, in order (one rank's shard of a dataset); the parent
/// itself when that is every row.
std::shared_ptr<const Dataset> row_range(std::shared_ptr<const Dataset> parent, int64_t begin, int64_t end);

/// What `protoclr data inspect` reports.
struct DatasetReport {
  std::string path;
  std::string format;
  size_t images = 0;
  std::vector<std::string> classes;
  std::vector<int64_t> class_counts;  ///< per class; empty when unlabeled
  int min_width = 0, max_width = 0, min_height = 0, max_height = 0;
  double mean_width = 0, mean_height = 0;
  std::vector<std::string> unreadable;  ///< every file that failed to decode (incl. skipped at open)
};

/// Decodes every image (with `threads` threads; 0 = all hardware threads) and collects
/// the report.
DatasetReport inspect_dataset(const Dataset& dataset, const std::string& path, int threads = 0);

}  // namespace protoclr::data
