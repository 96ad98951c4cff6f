// Image folders: "image-folder", one subfolder per class with files in the order of
// torchvision.datasets.ImageFolder (DatasetFolder.make_dataset, followlinks=True), and
// "flat-folder", unlabeled images in one folder. Image endings: image.h's is_image_file.
#include <sys/stat.h>

#include <algorithm>
#include <set>
#include <utility>

#include "formats.h"
#include "protoclr/core/error.h"
#include "protoclr/core/log.h"

namespace protoclr::data::detail {
namespace fs = std::filesystem;
namespace {

bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

std::string no_images_message(const std::string& path) {
  return "no images found in '" + path + "': expected " + path + "/<class>/<image> or " + path +
         "/<image> with endings jpg, jpeg, png, bmp, webp, tif, tiff";
}

/// One folder level: non-hidden subfolders (symlinks followed) and image files, by name.
struct Listing {
  std::vector<std::string> dirs;
  std::vector<std::string> images;
  size_t others = 0;
};

Listing list_folder(const fs::path& dir) {
  Listing out;
  std::error_code ec;
  fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  PROTOCLR_CHECK(!ec, "cannot list '", dir.string(), "': ", ec.message(), " (check the path and permissions)");
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const std::string name = it->path().filename().string();
    if (hidden(name)) continue;
    std::error_code e2;
    if (it->is_directory(e2)) out.dirs.push_back(name);
    else if (is_image_file(name)) out.images.push_back(name);
    else ++out.others;
  }
  std::sort(out.dirs.begin(), out.dirs.end());
  std::sort(out.images.begin(), out.images.end());
  return out;
}

/// torchvision's `sorted(os.walk(dir, followlinks=True))` then `sorted(fnames)`: folders in
/// lexicographic order of their path, files by name within each folder. Hidden entries are
/// skipped and symlink cycles are visited once.
void walk_images(const fs::path& top, std::vector<std::string>& out) {
  std::vector<std::pair<std::string, std::vector<std::string>>> folders;  // (relative path, images)
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<std::string> stack = {""};
  while (!stack.empty()) {
    const std::string rel = stack.back();
    stack.pop_back();
    const fs::path dir = rel.empty() ? top : top / rel;
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) continue;
    if (!seen.insert({st.st_dev, st.st_ino}).second) continue;
    Listing l;
    try {
      l = list_folder(dir);
    } catch (const Error& e) {
      log::warn(e.what());
      continue;
    }
    for (const auto& d : l.dirs) stack.push_back(rel.empty() ? d : rel + "/" + d);
    folders.emplace_back(rel, std::move(l.images));
  }
  // Python compares the joined path strings: "a/b" < "a/b c" < "a/b/x".
  std::sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::string base = top.string();
  for (const auto& [rel, images] : folders)
    for (const auto& f : images) out.push_back(rel.empty() ? base + "/" + f : base + "/" + rel + "/" + f);
}

}  // namespace

std::shared_ptr<Dataset> open_folder(const std::string& path, const DatasetOptions& options) {
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  const Listing top = list_folder(root);
  std::vector<std::string> files, classes;
  std::vector<int64_t> labels;
  std::vector<std::vector<std::string>> per_class(top.dirs.size());
  size_t with_images = 0;
  for (size_t c = 0; c < top.dirs.size(); ++c) {
    walk_images(fs::path(root) / top.dirs[c], per_class[c]);
    if (!per_class[c].empty()) ++with_images;
  }
  std::string format;
  if (with_images > 0) {
    format = "image-folder";
    classes = top.dirs;
    std::vector<std::string> empty;
    for (size_t c = 0; c < classes.size(); ++c) {
      if (per_class[c].empty()) empty.push_back(classes[c]);
      for (auto& f : per_class[c]) {
        files.push_back(std::move(f));
        labels.push_back(static_cast<int64_t>(c));
      }
    }
    if (!empty.empty())
      log::warn("'", root, "': ", empty.size(), " class folder(s) hold no images: ", join_first(empty, 5),
                " (they keep their label; remove them to renumber the classes)");
    if (!top.images.empty())
      log::warn("'", root, "': ignored ", top.images.size(),
                " image(s) beside the class folders (move them into a class folder)");
  } else {
    format = "flat-folder";
    for (const auto& f : top.images) files.push_back(root + "/" + f);
    labels.assign(files.size(), -1);
  }
  PROTOCLR_CHECK(!files.empty(), no_images_message(root));
  std::vector<std::string> skipped;
  if (options.verify_headers) {
    skipped = verify_files(files, labels);
    PROTOCLR_CHECK(!files.empty(), "no readable images in '", root, "': all ", skipped.size(),
                   " image(s) failed to decode (first: ", skipped.front(), "); re-download the dataset");
  }
  return make_file_dataset(format, std::move(files), std::move(labels), std::move(classes), std::move(skipped));
}

}  // namespace protoclr::data::detail
