#pragma once
// The protoclr binary as a child process, and the small folders of real image files the
// command-line tests run it on (tests/cli).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/json_lines.h"

extern char** environ;

namespace protoclr::test_support {

namespace cli_fs = std::filesystem;

inline std::string read_text(const cli_fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// How many times `needle` occurs in `text`.
inline size_t count_of(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

/// One run of the binary: its arguments, then its status (128 + signal when a signal ended
/// it), stdout and stderr.
class Command {
 public:
  /// extra_env: NAME=value entries added to the test's environment (RANK=1, ...).
  Command(const cli_fs::path& dir, std::vector<std::string> args, std::vector<std::string> extra_env = {})
      : dir_(dir), args_(std::move(args)) {
    static int counter = 0;
    const std::string stem = "cmd" + std::to_string(counter++);
    out_path_ = dir_ / (stem + ".out");
    err_path_ = dir_ / (stem + ".err");
    std::vector<std::string> argv = {PROTOCLR_BINARY};
    argv.insert(argv.end(), args_.begin(), args_.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> env;
    for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
    for (auto& e : extra_env) env.push_back(e.data());
    env.push_back(nullptr);
    const int rc = posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
  }
  /// Waits for the end; the exit status, or 128 + the signal that ended it.
  int wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void send(int signal) const { ::kill(pid_, signal); }
  pid_t pid() const { return pid_; }
  std::string out() const { return read_text(out_path_); }
  std::string err() const { return read_text(err_path_); }
  std::string text() const {
    std::string s;
    for (const auto& a : args_) s += a + " ";
    return s;
  }

 private:
  cli_fs::path dir_;
  std::vector<std::string> args_;
  cli_fs::path out_path_, err_path_;
  pid_t pid_ = -1;
};

/// Runs and waits: the status, with the output kept for messages.
struct Finished {
  int status = 0;
  std::string out, err;
};
inline Finished run_command(const cli_fs::path& dir, std::vector<std::string> args) {
  Command c(dir, std::move(args));
  Finished f;
  f.status = c.wait();
  f.out = c.out();
  f.err = c.err();
  return f;
}

/// A w x h JPEG of a smooth pattern that depends on the class and the image.
inline std::vector<unsigned char> jpeg(int w, int h, int cls, int i) {
  std::vector<unsigned char> px(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      unsigned char* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = static_cast<unsigned char>((cls ? x * 12 : y * 12) + i * 3);
      p[1] = static_cast<unsigned char>(cls * 120 + (x + y) * 2);
      p[2] = static_cast<unsigned char>(255 - cls * 100 - x * y % 50);
    }
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  tjCompress2(tj, px.data(), w, 0, h, TJPF_RGB, &out, &size, TJSAMP_444, 90, 0);
  std::vector<unsigned char> bytes(out, out + size);
  tjFree(out);
  tjDestroy(tj);
  return bytes;
}

inline void write_bytes(const cli_fs::path& path, const std::vector<unsigned char>& bytes) {
  cli_fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

/// A labelled folder (ImageNet layout): two classes of `per_class` 24x24 JPEGs.
inline cli_fs::path image_folder(const cli_fs::path& root, int per_class) {
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < per_class; ++i)
      write_bytes(root / (c ? "dog" : "cat") / ("img" + std::to_string(i) + ".jpg"), jpeg(24, 24, c, i));
  return root;
}

/// The training flags of a run that takes seconds: ResNet-18 at 16 px, K = {4, 6}.
inline std::vector<std::string> tiny_train(const cli_fs::path& data, const cli_fs::path& out, int epochs) {
  return {"train", "--data", data.string(), "--val", data.string(), "--preset", "pcl-v2", "--arch", "resnet18",
          "--cifar-stem", "--image-size", "16", "--low-dim", "16", "--batch-size", "8", "--epochs",
          std::to_string(epochs), "--warmup-epochs", "1", "--num-clusters", "4,6", "--neg-prototypes", "3",
          "--queue-size", "16", "--bn-splits", "2", "--workers", "2", "--threads", "2", "--knn-k", "5",
          "--save-every", "1", "--out", out.string()};
}

/// Complete lines of RUN/metrics.jsonl so far (a run may be writing the next one).
inline size_t finished_epochs(const cli_fs::path& run) { return count_of(read_text(run / "metrics.jsonl"), "\n"); }


inline std::vector<nlohmann::json> metrics(const cli_fs::path& run) {
  return read_json_lines(run / "metrics.jsonl");
}

}  // namespace protoclr::test_support
