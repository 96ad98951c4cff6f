// open_dataset: detects a dataset's format from its path (see include/protoclr/data/dataset.h)
// and hands it to that format's opener; also the Dataset base-class methods.
#include <filesystem>

#include "formats.h"
#include "protoclr/core/error.h"
#include "protoclr/core/fs.h"

namespace protoclr::data {
namespace fs = std::filesystem;

Sample Dataset::get(size_t i) const {
  Sample s;
  s.image = load(i).rgb;
  s.label = label(i);
  s.index = static_cast<int64_t>(i);
  return s;
}

std::vector<int8_t> Dataset::label_set(size_t i) const {
  std::vector<int8_t> out(classes().size(), -1);
  const int64_t l = label(i);
  if (l >= 0 && static_cast<size_t>(l) < out.size()) out[static_cast<size_t>(l)] = 1;
  return out;
}

std::vector<int64_t> Dataset::labels() const {
  std::vector<int64_t> out(size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = label(i);
  return out;
}

std::vector<int8_t> Dataset::label_sets() const {
  const size_t c = classes().size();
  std::vector<int8_t> out;
  out.reserve(size() * c);
  for (size_t i = 0; i < size(); ++i) {
    const std::vector<int8_t> set = label_set(i);
    PROTOCLR_CHECK(set.size() == c, name(i), ": label set of ", set.size(), " classes, the dataset has ", c);
    out.insert(out.end(), set.begin(), set.end());
  }
  return out;
}

std::shared_ptr<Dataset> open_dataset(const std::string& path_in, const DatasetOptions& options) {
  using namespace detail;  // the format openers (formats.h)
  std::string path = path_in;
  std::error_code ec;
  if (path.empty()) {
    path = kDefaultDataset;
    PROTOCLR_CHECK(fs::exists(path, ec), "the default dataset '", path,
                   "' is missing: install Debian's dataset-fashion-mnist (scripts/setup.sh does) or pass a dataset "
                   "path");
  }
  PROTOCLR_CHECK(fs::exists(path, ec), "dataset path '", path, "' does not exist (check the path)");
  std::shared_ptr<Dataset> ds;
  if (fs::is_directory(path, ec)) {
    bool any_idx = false;
    if (const fs::path voc = find_voc_root(path); !voc.empty()) {
      ds = open_voc(voc, options);
    } else if (!(ds = try_cifar_folder(path, options))) {
      const std::string idx = find_idx_images(path, options, &any_idx);
      if (!idx.empty()) ds = open_idx_file(idx);
      else ds = open_folder(path, options);
    }
  } else {
    const std::string name = fs::path(path).filename().string();
    if (contains(name, "idx3-ubyte")) {
      ds = open_idx_file(path);
    } else if (contains(name, "idx1-ubyte")) {
      throw Error("'" + path + "' is an IDX labels file: pass the images file (*-images-idx3-ubyte) or its folder");
    } else if (name == "test_batch.bin" || (name.rfind("data_batch_", 0) == 0 && lower_extension(name) == ".bin")) {
      ds = open_cifar(false, {path}, fs::path(path).parent_path());
    } else if (name == "train.bin" || name == "test.bin") {
      ds = open_cifar(true, {path}, fs::path(path).parent_path());
    } else if (is_image_file(name)) {
      throw Error("'" + path + "' is a single image: pass the folder that holds the images");
    } else {
      ds = open_list_file(path, options);
    }
  }
  if (options.limit > 0) return balanced_subset(std::move(ds), options.limit, options.seed);
  return ds;
}

}  // namespace protoclr::data
