#pragma once
// Private to src/data/datasets/: the opener of each dataset format (one file per format) and
// the helpers they share, defined in common.cpp. Not installed; not part of the public API.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "protoclr/data/dataset.h"

namespace protoclr::data::detail {

// Openers, one file per format ------------------------------------------------------------

/// image_folder.cpp: a folder of class folders ("image-folder") or of images ("flat-folder").
std::shared_ptr<Dataset> open_folder(const std::string& path, const DatasetOptions& options);

/// list_file.cpp: a text file of `relative/path label` lines ("list-file").
std::shared_ptr<Dataset> open_list_file(const std::string& path, const DatasetOptions& options);

/// idx.cpp: an IDX images file (raw or gzip) with its labels file beside it ("idx").
std::shared_ptr<Dataset> open_idx_file(const std::string& images_path);
/// The IDX images file in `dir` for the split, or "" when the folder holds no IDX data.
std::string find_idx_images(const std::string& dir, const DatasetOptions& options, bool* any_idx);

/// cifar.cpp: CIFAR-10 (`cifar100` false) or CIFAR-100 binary batch files; class names from
/// `meta_dir` when it holds them.
std::shared_ptr<Dataset> open_cifar(bool cifar100, const std::vector<std::string>& files,
                                    const std::filesystem::path& meta_dir);
/// CIFAR in `dir` (or its cifar-10-batches-bin / cifar-100-binary subfolder); null when none.
std::shared_ptr<Dataset> try_cifar_folder(const std::string& dir, const DatasetOptions& options);

/// voc.cpp: the devkit year folder (the one holding JPEGImages/ and ImageSets/Main/) at or
/// under `dir`; empty when none.
std::filesystem::path find_voc_root(const std::string& dir);
std::shared_ptr<Dataset> open_voc(const std::filesystem::path& root, const DatasetOptions& options);

// Shared helpers (common.cpp) -------------------------------------------------------------

/// Reads up to `limit` bytes of `path` (all when limit == 0) into `buf` (reused, grown only);
/// returns the byte count and the file's total size in *total.
size_t read_into(const std::string& path, std::vector<uint8_t>& buf, size_t limit, size_t* total);

/// A dataset of image files with one label each (-1: unlabeled): image-folder, flat-folder
/// and list-file.
std::shared_ptr<Dataset> make_file_dataset(std::string format, std::vector<std::string> paths,
                                           std::vector<int64_t> labels, std::vector<std::string> classes,
                                           std::vector<std::string> skipped);

/// Reads every file's header with several threads; drops the unreadable ones from paths and
/// labels, reports each (data/unreadable.h: named once per process) and returns their names.
std::vector<std::string> verify_files(std::vector<std::string>& paths, std::vector<int64_t>& labels);

/// The first k names, comma-separated, with ", ..." when there are more.
std::string join_first(const std::vector<std::string>& names, size_t k);

/// `s` without leading and trailing white space.
std::string trim(const std::string& s);

/// Non-empty, trimmed lines of `text`, with their 1-based line numbers (list files, class
/// names, VOC image sets).
std::vector<std::pair<size_t, std::string>> text_lines(const std::string& text);
/// text_lines of the file's contents.
std::vector<std::pair<size_t, std::string>> text_lines(const std::filesystem::path& file);

bool contains(const std::string& s, const std::string& part);

/// Throws unless options.split is "train" or "test" (the splits of IDX and CIFAR).
void check_split(const DatasetOptions& options);

/// Regular file / folder, false on any error.
bool is_file(const std::filesystem::path& p);
bool is_dir(const std::filesystem::path& p);

}  // namespace protoclr::data::detail
