#include <cstdio>
#include <iostream>

#include "commands.h"
#include "protoclr/core/progress.h"
#include "protoclr/recipes/quickstart.h"

namespace protoclr::cli {

void add_quickstart_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quickstart", "Train pcl-v2 on the built-in Fashion-MNIST for a few minutes, then compare with random init");
  auto o = std::make_shared<recipes::QuickstartOptions>();
  cmd->add_option("--data", o->data, "Dataset (default: built-in Fashion-MNIST)");
  cmd->add_option("--out", o->out, "Run folder")->capture_default_str();
  cmd->add_option("--threads", o->threads, "Compute threads (0 = all)")->check(non_negative());
  cmd->add_option("--seed", o->seed, "Seed")->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Epochs (0 = the built-in budget)")->check(non_negative());
  cmd->add_option("--train-images", o->train_images, "Training subset size (0 = the built-in budget)")
      ->check(non_negative());
  cmd->add_option("--test-images", o->test_images, "Test subset size (0 = the built-in budget)")->check(non_negative());
  cmd->add_option("--bf16", o->bf16, "bf16 autocast (true/false)")->capture_default_str();
  cmd->callback([o] {
    const auto r = recipes::run_quickstart(*o);
    std::printf("\nquickstart: pcl-v2, %s%s, %lld epochs on %lld training images, %s\n", r.config.arch.c_str(),
                r.config.cifar_stem ? " (CIFAR stem)" : "", static_cast<long long>(r.config.epochs),
                static_cast<long long>(r.config.limit), format_duration(r.seconds).c_str());
    std::printf("evaluated on %lld test images\n\n", static_cast<long long>(r.test_images));
    std::printf("  %-28s %12s %10s\n", "", "random init", "trained");
    std::printf("  %-28s %11.2f%% %9.2f%%\n", "kNN top-1 (k=200, tau=0.07)", r.random_init.knn_top1, r.trained.knn_top1);
    std::printf("  %-28s %12.4f %10.4f\n", "k-means AMI (K = classes)", r.random_init.ami, r.trained.ami);
    std::printf("  %-28s %12.4f %10.4f\n", "k-means NMI", r.random_init.nmi, r.trained.nmi);
    std::printf("\nrun folder: %s (metrics.jsonl, checkpoint.pt)\n", r.config.out.c_str());
  });
}

}  // namespace protoclr::cli
