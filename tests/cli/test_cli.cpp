// The command line as users run it: the protoclr binary, as a child process, on folders of
// real image files. Covers what only the binary can show: exit statuses, the one-line
// messages, the preset/flag/resume resolution as typed, preemption by signals, and a folder
// with broken files passing through every command.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/cli_run.h"
#include "support/temp_dir.h"

namespace fs = std::filesystem;

using namespace protoclr::test_support;

namespace {

class CliTest : public ::testing::Test {
 protected:
  protoclr::test_support::TempDir tmp_;
};

}  // namespace

// Catches: a broken file that fails a command, gives a zero feature row or a -1 label to a
// figure, or is named again and again. The folder holds a JPEG cut after its header (readable
// size, fails to decode), a zero-byte PNG and a text file named .jpg.
TEST_F(CliTest, AFolderWithBrokenFilesPassesThroughEveryCommand) {
  const auto data = image_folder(tmp_.path() / "photos", 12);
  const auto good = jpeg(24, 24, 0, 99);
  write_bytes(data / "cat" / "cut.jpg", std::vector<unsigned char>(good.begin(), good.begin() + good.size() / 3));
  write_bytes(data / "dog" / "empty.png", {});
  std::ofstream(data / "dog" / "notes.jpg") << "not an image\n";
  const std::vector<std::string> broken = {"cut.jpg", "empty.png", "notes.jpg"};
  const auto expect_named_once = [&](const Finished& f, const std::string& what) {
    for (const auto& name : broken) EXPECT_EQ(count_of(f.err, name), 1u) << what << " names " << name << ":\n" << f.err;
  };

  const auto run = tmp_.path() / "run";
  const auto train = run_command(tmp_.path(), tiny_train(data, run, 2));
  ASSERT_EQ(train.status, 0) << train.err;
  expect_named_once(train, "train --val");
  const auto records = metrics(run);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_TRUE(records[1]["knn_top1"].is_number()) << records[1];
  EXPECT_TRUE(records[1]["acc_proto"].is_number()) << records[1];

  const auto features = tmp_.path() / "features";
  const auto extract = run_command(tmp_.path(), {"extract", "--checkpoint", run.string(), "--data", data.string(),
                                                 "--out", features.string(), "--threads", "2", "--workers", "2"});
  ASSERT_EQ(extract.status, 0) << extract.err;
  expect_named_once(extract, "extract");
  const auto info = nlohmann::json::parse(read_text(features / "info.json"));
  EXPECT_EQ(info["features"]["shape"][0], 24) << info;
  ASSERT_EQ(info["unreadable"].size(), 1u) << info;
  EXPECT_NE(info["unreadable"][0].get<std::string>().find("cut.jpg"), std::string::npos);

  const std::vector<std::string> common = {"--checkpoint", run.string(), "--threads", "2", "--workers", "2", "--json"};
  const std::vector<std::vector<std::string>> protocols = {
      {"eval", "knn", "--train", data.string(), "--test", data.string(), "--k", "5"},
      {"eval", "cluster", "--data", data.string()},
      {"eval", "linear", "--train", data.string(), "--test", data.string(), "--epochs", "2"},
      {"eval", "svm", "--train", data.string(), "--test", data.string(), "--cost", "1", "--cost-select", "test-max"},
      {"eval", "tsne", "--data", data.string(), "--iterations", "50", "--perplexity", "5", "--out",
       (tmp_.path() / "tsne.png").string()},
      {"eval", "finetune", "--train", data.string(), "--test", data.string(), "--epochs", "1", "--label-fraction", "1",
       "--train-batch", "8"},
  };
  for (auto args : protocols) {
    args.insert(args.end(), common.begin(), common.end());
    const auto f = run_command(tmp_.path(), args);
    ASSERT_EQ(f.status, 0) << args[1] << ":\n" << f.err;
    expect_named_once(f, args[1]);
    const auto result = nlohmann::json::parse(f.out);
    // 24 readable images in every figure: none of the three broken files counts.
    for (const char* key : {"test_samples", "samples", "points"})
      if (result.contains(key)) {
        EXPECT_EQ(result[key], 24) << args[1] << ": " << result;
      }
  }
}

// Catches: a bad value accepted (and failing later, after data was read), a message that does
// not name the flag and its value, a traceback, or a status other than the usage error's 2.
TEST_F(CliTest, BadFlagValuesExitWithStatusTwoAndOneLine) {
  const std::string missing = (tmp_.path() / "no_such_folder").string();
  struct Case {
    std::vector<std::string> args;
    std::string flag, value;
  };
  const std::vector<Case> cases = {
      {{"train", "--epochs", "0"}, "--epochs", "0"},
      {{"train", "--epochs", "two"}, "--epochs", "two"},
      {{"train", "--lr", "-0.1"}, "--lr", "-0.1"},
      {{"train", "--batch-size", "0"}, "--batch-size", "0"},
      {{"train", "--moco-m", "1.5"}, "--moco-m", "1.5"},
      {{"train", "--crop-scale", "0"}, "--crop-scale", "0"},
      {{"train", "--image-size", "4"}, "--image-size", "4"},
      {{"train", "--num-clusters", "10,1"}, "--num-clusters", "1"},
      {{"train", "--kmeans-iterations", "0"}, "--kmeans-iterations", "0"},
      {{"train", "--kmeans-redo", "0"}, "--kmeans-redo", "0"},
      {{"train", "--knn-k", "0"}, "--knn-k", "0"},
      {{"train", "--neg-prototypes", "0"}, "--neg-prototypes", "0"},
      {{"train", "--arch", "resnet7"}, "--arch", "resnet7"},
      {{"train", "--aug", "mocov9"}, "--aug", "mocov9"},
      {{"train", "--kmeans-backend", "gpu"}, "--kmeans-backend", "gpu"},
      {{"train", "--schedule", "120,abc"}, "--schedule", "abc"},
      {{"train", "--data", missing, "--batch-size", "12", "--bn-splits", "8"}, "--bn-splits", "8"},
      {{"train", "--data", missing, "--device", "tpu"}, "--device", "tpu"},
      {{"eval", "knn", "--k", "0"}, "--k", "0"},
      {{"eval", "knn", "--temperature", "0"}, "--temperature", "0"},
      {{"eval", "cluster", "--redo", "0"}, "--redo", "0"},
      {{"eval", "linear", "--epochs", "0"}, "--epochs", "0"},
      {{"eval", "linear", "--momentum", "2"}, "--momentum", "2"},
      {{"eval", "svm", "--folds", "1"}, "--folds", "1"},
      {{"eval", "svm", "--cost", "0"}, "--cost", "0"},
      {{"eval", "tsne", "--perplexity", "-1"}, "--perplexity", "-1"},
      {{"eval", "finetune", "--label-fraction", "1.5"}, "--label-fraction", "1.5"},
      {{"eval", "finetune", "--train-batch", "0"}, "--train-batch", "0"},
      {{"eval", "knn", "--encoder", "both"}, "--encoder", "both"},
      {{"extract", "--out", missing, "--batch-size", "0"}, "--batch-size", "0"},
      {{"quickstart", "--epochs", "-1"}, "--epochs", "-1"},
      {{"data", "inspect", missing, "--limit", "-3"}, "--limit", "-3"},
      {{"import", missing, "--out", missing, "--arch", "vgg"}, "--arch", "vgg"},
  };
  for (const auto& c : cases) {
    const auto f = run_command(tmp_.path(), c.args);
    std::string text;
    for (const auto& a : c.args) text += a + " ";
    EXPECT_EQ(f.status, 2) << text << "\n" << f.err;
    EXPECT_EQ(count_of(f.err, "\n"), 1u) << text << ": one line expected:\n" << f.err;
    EXPECT_NE(f.err.find(c.flag), std::string::npos) << text << ": " << f.err;
    EXPECT_NE(f.err.find(c.value), std::string::npos) << text << ": " << f.err;
    EXPECT_EQ(f.err.find("Exception"), std::string::npos) << text << ": " << f.err;
  }
  // Usage errors are not the only errors: a missing folder exits 1, naming it.
  const auto f = run_command(tmp_.path(), {"data", "inspect", missing});
  EXPECT_EQ(f.status, 1) << f.err;
  EXPECT_NE(f.err.find(missing), std::string::npos) << f.err;
}

// Catches: a resume that ignores the saved configuration, flags that do not override it, and
// --init that does not take the model's shape from the checkpoint.
TEST_F(CliTest, ResumeReusesTheSavedConfigurationAndFlagsOverrideIt) {
  const auto data = image_folder(tmp_.path() / "photos", 8);
  const auto run = tmp_.path() / "run";
  ASSERT_EQ(run_command(tmp_.path(), tiny_train(data, run, 1)).status, 0);
  const auto resumed = run_command(tmp_.path(), {"train", "--resume", run.string(), "--epochs", "2", "--threads", "2"});
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  const auto config = nlohmann::json::parse(read_text(run / "config.json"));
  EXPECT_EQ(config["epochs"], 2);
  EXPECT_EQ(config["low_dim"], 16);       // from the saved run, not the preset's 128
  EXPECT_EQ(config["image_size"], 16);
  EXPECT_EQ(config["num_clusters"], nlohmann::json::array({4, 6}));
  EXPECT_EQ(metrics(run).size(), 2u);

  // --init: a new run from those weights; the shape flags must agree with the checkpoint.
  auto args = tiny_train(data, tmp_.path() / "from_init", 1);
  args.insert(args.end(), {"--init", run.string()});
  const auto init = run_command(tmp_.path(), args);
  EXPECT_EQ(init.status, 0) << init.err;
  args = tiny_train(data, tmp_.path() / "bad_init", 1);
  *(std::find(args.begin(), args.end(), "--low-dim") + 1) = "32";
  args.insert(args.end(), {"--init", run.string()});
  const auto bad = run_command(tmp_.path(), args);
  EXPECT_EQ(bad.status, 1) << bad.err;
  EXPECT_NE(bad.err.find("shape"), std::string::npos) << bad.err;
  EXPECT_EQ(count_of(bad.err, "error:"), 1u) << bad.err;
}

// Catches: SIGTERM that kills the run without a checkpoint, loses the steps of the epoch, or
// resumes into other numbers; SIGUSR1 that stops the run or perturbs it; kill -9 that leaves a
// checkpoint that does not resume exactly.
TEST_F(CliTest, PreemptedRunsResumeToTheSameFinalMetrics) {
  const auto data = image_folder(tmp_.path() / "photos", 48);  // 12 steps per epoch
  const auto reference = tmp_.path() / "reference";
  ASSERT_EQ(run_command(tmp_.path(), tiny_train(data, reference, 3)).status, 0);
  const auto expected = metrics(reference);
  ASSERT_EQ(expected.size(), 3u);

  // Signals once the first epoch is recorded and saved: the run is then in epoch 2 or 3.
  const auto interrupted = [&](const fs::path& run, int signal) {
    Command c(tmp_.path(), tiny_train(data, run, 3));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while ((finished_epochs(run) == 0 || !fs::exists(run / "checkpoint.pt")) &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (signal == SIGUSR1) {
      c.send(SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      c.send(SIGUSR1);
    } else {
      c.send(signal);
    }
    const int status = c.wait();
    return std::make_pair(status, c.err());
  };

  const auto term = tmp_.path() / "term";
  const auto [term_status, term_err] = interrupted(term, SIGTERM);
  ASSERT_EQ(term_status, 128 + SIGTERM) << "the run ended before the signal?\n" << term_err;
  EXPECT_NE(term_err.find("stopped by SIGTERM"), std::string::npos) << term_err;
  EXPECT_NE(term_err.find("--resume " + term.string()), std::string::npos) << term_err;
  EXPECT_LT(metrics(term).size(), 3u);

  const auto killed = tmp_.path() / "killed";
  const auto [kill_status, kill_err] = interrupted(killed, SIGKILL);
  ASSERT_EQ(kill_status, 128 + SIGKILL) << kill_err;

  const auto usr1 = tmp_.path() / "usr1";
  const auto [usr1_status, usr1_err] = interrupted(usr1, SIGUSR1);
  EXPECT_EQ(usr1_status, 0) << usr1_err;
  EXPECT_NE(usr1_err.find("saved a checkpoint at epoch"), std::string::npos) << usr1_err;

  for (const auto& run : {term, killed}) {
    const auto resumed = run_command(tmp_.path(), {"train", "--resume", run.string()});
    ASSERT_EQ(resumed.status, 0) << run << ":\n" << resumed.err;
  }
  for (const auto& run : {term, killed, usr1}) {
    const auto got = metrics(run);
    ASSERT_EQ(got.size(), 3u) << run;
    for (size_t e = 0; e < 3; ++e) EXPECT_EQ(without_timing(got[e]), without_timing(expected[e])) << run << " epoch " << e + 1;
  }
}

// Catches: a run folder that cannot be written failing late, with a trace, or with no name.
TEST_F(CliTest, AnUnwritableRunFolderIsOneLineNamingIt) {
  const auto data = image_folder(tmp_.path() / "photos", 8);
  std::ofstream(tmp_.path() / "a_file") << "x";
  const auto f = run_command(tmp_.path(), tiny_train(data, tmp_.path() / "a_file" / "run", 1));
  EXPECT_EQ(f.status, 1) << f.err;
  EXPECT_EQ(count_of(f.err, "error:"), 1u) << f.err;
  EXPECT_NE(f.err.find("a_file"), std::string::npos) << f.err;
}

// Catches: quickstart broken end to end (it is the README's first command). On the built-in
// Fashion-MNIST (Debian's dataset-fashion-mnist, which the set-up installs) at a tiny budget.
TEST_F(CliTest, QuickstartRunsOnATinyBudget) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto f = run_command(tmp_.path(), {"quickstart", "--out", (tmp_.path() / "qs").string(), "--epochs", "1",
                                           "--train-images", "512", "--test-images", "200", "--threads", "2"});
  ASSERT_EQ(f.status, 0) << f.err;
  EXPECT_NE(f.out.find("quickstart: pcl-v2"), std::string::npos) << f.out;
  EXPECT_EQ(metrics(tmp_.path() / "qs").size(), 1u);
}
