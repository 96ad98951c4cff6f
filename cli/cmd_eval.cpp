// `protoclr eval <protocol>`: each protocol parses its flags, calls the library and prints
// its figures (eval_common.h does the shared part).
#include <cmath>

#include "commands.h"
#include "eval_common.h"
#include "protoclr/cluster/kmeans.h"
#include "protoclr/core/error.h"
#include "protoclr/plot/png_writer.h"
#include "protoclr/core/log.h"
#include "protoclr/eval/cluster_metrics.h"
#include "protoclr/eval/finetune.h"
#include "protoclr/features/knn.h"
#include "protoclr/eval/linear_probe.h"
#include "protoclr/eval/low_shot.h"
#include "protoclr/plot/plot.h"
#include "protoclr/eval/svm.h"
#include "protoclr/eval/tsne.h"

namespace protoclr::cli {
namespace {

void add_knn(CLI::App* eval) {
  auto* cmd = eval->add_subcommand("knn", "Weighted kNN classification (InstDisc): top-1 / top-5");
  auto f = std::make_shared<EvalFlags>();
  auto o = std::make_shared<features::KnnOptions>();
  add_eval_flags(cmd, *f, Splits::kTrainTest, "embedding");
  cmd->add_option("--k", o->k, "Neighbours")->check(positive())->capture_default_str();
  cmd->add_option("--temperature", o->temperature, "tau of the vote weights exp(s / tau)")
      ->check(positive())->capture_default_str();
  cmd->callback([f, o] {
    auto s = make_eval_setup(*f, Splits::kTrainTest);
    const auto bank = extract(s, s.train, "train");
    const auto test = extract(s, s.test, "test");
    o->num_classes = static_cast<int64_t>(s.train->classes().size());
    const auto r = features::knn_classify(bank.features, bank.labels, test.features, test.labels, *o);
    EvalReport report{"eval knn: weighted kNN, k = " + std::to_string(o->k) + ", tau = " + fixed(o->temperature, 3)};
    report.add("top-1", percent(r.top1));
    report.add("top-5", percent(r.top5));
    report.add("test images", std::to_string(r.samples));
    report.json = {{"protocol", "knn"}, {"k", o->k}, {"temperature", o->temperature}, {"top1", r.top1},
                   {"top5", r.top5}, {"test_samples", r.samples}};
    emit(s, report, f->json);
  });
}

void add_cluster(CLI::App* eval) {
  auto* cmd = eval->add_subcommand("cluster", "k-means on the embeddings: AMI, NMI, ARI and purity against the labels");
  auto f = std::make_shared<EvalFlags>();
  auto o = std::make_shared<eval::ClusteringOptions>();
  add_eval_flags(cmd, *f, Splits::kOne, "embedding");
  cmd->add_option("--k", o->k, "Clusters (0 = the number of classes)")->check(non_negative())->capture_default_str();
  cmd->add_option("--redo", o->redo, "k-means restarts (best objective kept)")->check(positive())->capture_default_str();
  cmd->callback([f, o] {
    auto s = make_eval_setup(*f, Splits::kOne);
    const auto features = extract(s, s.test, "data");
    o->seed = f->seed;
    const auto r = eval::evaluate_clustering(features.features, features.labels, *o);
    EvalReport report{"eval cluster: k-means with K = " + std::to_string(r.k) + " against the labels"};
    report.add("AMI", fixed(r.agreement.ami, 4));
    report.add("NMI", fixed(r.agreement.nmi, 4));
    report.add("ARI", fixed(r.agreement.ari, 4));
    report.add("purity", percent(100.0 * r.agreement.purity));
    report.add("images", std::to_string(features.features.size(0)));
    report.json = {{"protocol", "cluster"}, {"k", r.k}, {"ami", r.agreement.ami}, {"nmi", r.agreement.nmi},
                   {"ari", r.agreement.ari}, {"purity", r.agreement.purity}, {"objective", r.objective},
                   {"samples", features.features.size(0)}};
    emit(s, report, f->json);
  });
}

void add_linear(CLI::App* eval) {
  auto* cmd = eval->add_subcommand("linear", "Linear classifier on frozen pooled features (MoCo's lincls)");
  auto f = std::make_shared<EvalFlags>();
  auto o = std::make_shared<eval::LinearProbeOptions>();
  auto augment = std::make_shared<bool>(false);
  add_eval_flags(cmd, *f, Splits::kTrainTest, "pool");
  cmd->add_option("--epochs", o->epochs, "Epochs")->check(positive())->capture_default_str();
  cmd->add_option("--lr", o->lr, "Learning rate (MoCo's lincls: 30, with --standardize false)")
      ->check(positive())->capture_default_str();
  cmd->add_option("--standardize", o->standardize,
                  "Standardise features (BatchNorm without affine, as MAE); false = raw (MoCo)")->capture_default_str();
  cmd->add_option("--wd", o->weight_decay, "Weight decay")->check(non_negative())->capture_default_str();
  cmd->add_option("--momentum", o->momentum, "SGD momentum")->check(between(0, 1))->capture_default_str();
  cmd->add_option("--probe-batch", o->batch_size, "Samples per SGD step")->check(positive())->capture_default_str();
  add_schedule_option(cmd, o->schedule, o->milestones, "cosine, or step milestones (x0.1 at each)")->default_str("60,80");
  cmd->add_flag("--augment", *augment, "Train on crop-flip views through the frozen backbone every epoch (slow)");
  cmd->callback([f, o, augment] {
    auto s = make_eval_setup(*f, Splits::kTrainTest);
    const std::string schedule = o->schedule == "cosine" ? "cosine" : comma_list(o->milestones);
    o->seed = f->seed;
    o->device = s.device;
    o->num_classes = static_cast<int64_t>(s.train->classes().size());
    const auto test = extract(s, s.test, "test");
    eval::LinearProbeResult r;
    if (*augment) {
      PROTOCLR_CHECK(f->layer == "pool", "--augment trains on the pooled features: drop --layer ", f->layer);
      eval::AugmentedProbeOptions a{s.extract.image_size, f->workers, f->channels_last, f->bf16};
      r = eval::linear_probe_augmented(s.net.encoder, s.train, test.features, test.labels, *o, a);
    } else {
      const auto bank = extract(s, s.train, "train");
      r = eval::linear_probe(bank.features, bank.labels, test.features, test.labels, *o);
    }
    EvalReport report{"eval linear: " + std::string(*augment ? "augmented" : "cached") + " features, " +
                      std::to_string(o->epochs) + " epochs, lr " + number(o->lr) + " (" + schedule + ")" +
                      (o->standardize ? ", standardised" : ", raw")};
    report.add("top-1", percent(r.top1));
    report.add("top-5", percent(r.top5));
    report.add("train top-1", percent(r.train_top1) + " (last epoch)");
    report.add("train loss", fixed(r.final_loss, 4));
    report.add("train / test images", std::to_string(r.train_samples) + " / " + std::to_string(r.test_samples));
    report.json = {{"protocol", "linear"}, {"augment", *augment}, {"epochs", o->epochs}, {"lr", o->lr},
                   {"weight_decay", o->weight_decay}, {"standardize", o->standardize}, {"schedule", schedule}, {"top1", r.top1}, {"top5", r.top5},
                   {"train_top1", r.train_top1}, {"train_loss", r.final_loss}, {"train_samples", r.train_samples},
                   {"test_samples", r.test_samples}, {"seconds", r.seconds}};
    emit(s, report, f->json);
  });
}

void add_finetune(CLI::App* eval) {
  auto* cmd = eval->add_subcommand("finetune", "Semi-supervised fine-tuning of the whole network on a label fraction");
  auto f = std::make_shared<EvalFlags>();
  auto o = std::make_shared<eval::FinetuneOptions>();
  auto fraction = std::make_shared<double>(0.01);
  add_eval_flags(cmd, *f, Splits::kTrainTest, "pool");
  cmd->add_option("--label-fraction", *fraction, "Labelled fraction of the training split, balanced per class")
      ->check(between(0, 1))->capture_default_str();
  cmd->add_option("--epochs", o->epochs, "Epochs")->check(positive())->capture_default_str();
  cmd->add_option("--lr-backbone", o->lr_backbone, "Learning rate of the pretrained layers")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--lr-head", o->lr_head, "Learning rate of the new classifier")->check(positive())->capture_default_str();
  cmd->add_option("--wd", o->weight_decay, "Weight decay")->check(non_negative())->capture_default_str();
  cmd->add_option("--schedule", o->milestones, "Step milestones (x0.2 at each)")
      ->delimiter(',')->check(positive())->default_str("12,16");
  cmd->add_option("--train-batch", o->batch_size, "Images per SGD step")->check(positive())->capture_default_str();
  cmd->add_option("--aug", o->augmentation, "Training augmentation: crop-flip, mocov1, mocov2")->capture_default_str();
  cmd->callback([f, o, fraction] {
    PROTOCLR_CHECK(*fraction > 0 && *fraction <= 1, "--label-fraction must be in (0, 1], got ", *fraction);
    auto s = make_eval_setup(*f, Splits::kTrainTest);
    const int64_t labelled = std::max<int64_t>(
        static_cast<int64_t>(s.train->classes().size()),
        static_cast<int64_t>(std::llround(*fraction * static_cast<double>(s.train->size()))));
    auto subset = data::balanced_subset(s.train, labelled, f->seed);
    o->image_size = s.extract.image_size;
    o->workers = f->workers;
    o->channels_last = f->channels_last;
    o->bf16 = f->bf16;
    o->seed = f->seed;
    o->device = s.device;
    const auto r = eval::finetune(s.net.encoder, subset, s.test, *o);
    EvalReport report{"eval finetune: " + fixed(100.0 * *fraction, 1) + "% of the labels, " +
                      std::to_string(o->epochs) + " epochs"};
    report.add("top-1", percent(r.top1));
    report.add("top-5", percent(r.top5));
    report.add("train top-1", percent(r.train_top1) + " (last epoch, augmented)");
    report.add("labelled / test images", std::to_string(r.train_samples) + " / " + std::to_string(r.test_samples));
    report.json = {{"protocol", "finetune"}, {"label_fraction", *fraction}, {"epochs", o->epochs},
                   {"lr_backbone", o->lr_backbone}, {"lr_head", o->lr_head}, {"top1", r.top1}, {"top5", r.top5},
                   {"train_top1", r.train_top1}, {"train_loss", r.final_loss}, {"train_samples", r.train_samples},
                   {"test_samples", r.test_samples}, {"seconds", r.seconds}};
    emit(s, report, f->json);
  });
}

void add_svm(CLI::App* eval) {
  auto* cmd = eval->add_subcommand("svm", "Linear SVMs (LIBLINEAR) on frozen pooled features; low-shot with --low-shot");
  auto f = std::make_shared<EvalFlags>();
  auto o = std::make_shared<eval::SvmOptions>();
  auto shots = std::make_shared<std::vector<int64_t>>();
  auto runs = std::make_shared<int>(5);
  auto ignore_difficult = std::make_shared<bool>(false);
  add_eval_flags(cmd, *f, Splits::kTrainTest, "pool");
  cmd->add_option("--cost", o->costs, "Costs C to sweep, e.g. 0.01,0.1,1,10 (default: the reference's 26 from 1e-7 to 100)")
      ->delimiter(',')->check(positive());
  const std::map<std::string, eval::CostSelection> selections = {{"cv", eval::CostSelection::kCrossValidation},
                                                                 {"test-max", eval::CostSelection::kTestMax}};
  cmd->add_option("--cost-select", o->selection, "cv (k-fold cross-validation on the training split) or test-max (the reference)")
      ->transform(CLI::CheckedTransformer(selections))->default_str("cv");
  cmd->add_option("--folds", o->folds, "Cross-validation folds")->check(at_least(2))->capture_default_str();
  cmd->add_option("--positive-weight", o->positive_weight, "Class weight of the positives (multi-label)")
      ->check(positive())->capture_default_str();
  cmd->add_flag("--ignore-difficult", *ignore_difficult,
                "VOC: leave difficult objects out (VOC devkit) instead of counting them as negatives (reference)");
  cmd->add_option("--low-shot", *shots, "k training images per class, e.g. 1,2,4,8,16 (default: all)")
      ->delimiter(',')->check(positive());
  cmd->add_option("--runs", *runs, "Low-shot draws per k (different seeds)")->check(positive())->capture_default_str();
  cmd->callback([f, o, shots, runs, ignore_difficult] {
    if (*ignore_difficult) o->difficult = eval::DifficultPolicy::kIgnore;
    o->seed = f->seed;
    o->threads = f->threads;
    auto s = make_eval_setup(*f, Splits::kTrainTest);
    const auto bank = extract(s, s.train, "train");
    const auto test = extract(s, s.test, "test");
    const auto train_targets = eval::svm_targets(*s.train, bank.labels, bank.rows);
    const auto test_targets = eval::svm_targets(*s.test, test.labels, test.rows);
    EvalReport report;
    if (shots->empty()) {
      const auto r = eval::svm_evaluate(bank.features, train_targets, test.features, test_targets, *o);
      report.title = "eval svm: one-vs-rest linear SVMs, " + std::to_string(r.classes) + " classes, " +
                     std::to_string(o->costs.size()) + " costs";
      report.add(r.metric == "mAP" ? "mAP" : "top-1", percent(r.value) + " at C = " + number(r.selected_cost));
      report.add("cost selection", r.selection_text);
      nlohmann::ordered_json per_cost = nlohmann::json::array();
      for (const auto& c : r.per_cost) {
        report.add("  C = " + number(c.cost),
                   "test " + percent(c.test) + (std::isnan(c.cross_validation) ? "" : "   cv " + percent(c.cross_validation)));
        per_cost.push_back({{"cost", c.cost}, {"test", c.test},
                            {"cross_validation", std::isnan(c.cross_validation) ? nlohmann::json() : nlohmann::json(c.cross_validation)}});
      }
      report.add("train / test images", std::to_string(r.train_samples) + " / " + std::to_string(r.test_samples));
      report.json = {{"protocol", "svm"}, {"metric", r.metric}, {"value", r.value}, {"selected_cost", r.selected_cost},
                     {"cost_select", eval::cost_selection_name(r.selection)}, {"selection", r.selection_text},
                     {"per_cost", per_cost}, {"per_class_ap", r.per_class_ap}, {"train_samples", r.train_samples},
                     {"test_samples", r.test_samples}, {"seconds", r.seconds}};
    } else {
      const auto r = eval::svm_low_shot(bank.features, train_targets, test.features, test_targets, *shots, *runs, *o);
      report.title = "eval svm: low-shot, " + std::to_string(*runs) + " runs per k, " + std::to_string(r.classes) +
                     " classes, " + std::to_string(o->costs.size()) + " costs";
      nlohmann::ordered_json rows = nlohmann::json::array();
      for (const auto& s : r.shots) {
        std::string costs_text;
        for (double c : s.selected_costs) costs_text += (costs_text.empty() ? "" : ",") + number(c);
        report.add("k = " + std::to_string(s.shots), r.metric + " " + fixed(s.mean, 2) + " +- " + fixed(s.stddev, 2) +
                                                          "   (C = " + costs_text + "; " + s.selection_text + ")");
        nlohmann::ordered_json per_cost = nlohmann::json::array();
        for (const auto& c : s.per_cost)
          per_cost.push_back({{"cost", c.cost}, {"test", c.test},
                              {"cross_validation", std::isnan(c.cross_validation) ? nlohmann::json() : nlohmann::json(c.cross_validation)}});
        rows.push_back({{"k", s.shots}, {"mean", s.mean}, {"std", s.stddev}, {"runs", s.runs},
                        {"selected_costs", s.selected_costs}, {"cost_select", eval::cost_selection_name(s.selection)},
                        {"selection", s.selection_text}, {"per_cost", per_cost}, {"train_samples", s.train_samples}});
      }
      report.add("test images", std::to_string(r.test_samples));
      report.json = {{"protocol", "svm"}, {"metric", r.metric}, {"low_shot", rows}, {"runs", *runs},
                     {"test_samples", r.test_samples}, {"seconds", r.seconds}};
    }
    emit(s, report, f->json);
  });
}

void add_tsne(CLI::App* eval) {
  auto* cmd = eval->add_subcommand("tsne", "2-D t-SNE of the embeddings as a PNG, coloured by class (or by k-means cluster)");
  auto f = std::make_shared<EvalFlags>();
  auto o = std::make_shared<eval::TsneOptions>();
  auto max_points = std::make_shared<int64_t>(2000);
  auto out = std::make_shared<std::string>("tsne.png");
  auto color_by = std::make_shared<std::string>("class");
  auto clusters = std::make_shared<int64_t>(10);
  add_eval_flags(cmd, *f, Splits::kOne, "embedding");
  cmd->add_option("--max-points", *max_points, "Images drawn (a class-balanced, seeded subset)")
      ->check(positive())->capture_default_str();
  cmd->add_option("--perplexity", o->perplexity, "t-SNE perplexity")->check(positive())->capture_default_str();
  cmd->add_option("--iterations", o->iterations, "Gradient steps")->check(positive())->capture_default_str();
  cmd->add_option("--out", *out, "PNG file")->capture_default_str();
  cmd->add_option("--color-by", *color_by, "class, or cluster (k-means; the default for unlabeled data)")
      ->check(CLI::IsMember({"class", "cluster"}))->capture_default_str();
  cmd->add_option("--k", *clusters, "Clusters for --color-by cluster")->check(at_least(2))->capture_default_str();
  cmd->callback([f, o, max_points, out, color_by, clusters] {
    auto s = make_eval_setup(*f, Splits::kOne);
    if (static_cast<int64_t>(s.test->size()) > *max_points) s.test = data::balanced_subset(s.test, *max_points, f->seed);
    const auto features = extract(s, s.test, "data");
    o->seed = f->seed;
    const auto r = eval::tsne(features.features, *o);
    const bool by_class = *color_by == "class" && !s.test->classes().empty();
    torch::Tensor colours = features.labels;
    std::vector<std::string> names = s.test->classes();
    if (!by_class) {
      cluster::KMeansOptions k;
      k.k = std::min<int64_t>(*clusters, features.features.size(0));
      k.seed = f->seed;
      colours = cluster::kmeans_train(features.features, k).assignments;
      names.clear();
    }
    plot::ScatterOptions so;
    so.title = "t-SNE of " + f->layer + " features: " + s.net.config.arch + ", " +
               (s.net.random_init ? std::string("random init") : "epoch " + std::to_string(s.net.epoch)) + ", " +
               std::to_string(features.features.size(0)) + " images";
    if (!by_class) so.fallback_name = "cluster ";
    plot::write_png(*out, plot::scatter_plot(r.embedding, colours, names, so));
    EvalReport report("eval tsne: perplexity " + number(r.perplexity) + ", " + std::to_string(r.iterations) +
                      " iterations (" + (r.barnes_hut ? "Barnes-Hut" : "exact") + ")");
    report.add("picture", *out);
    report.add("points", std::to_string(features.features.size(0)) + ", coloured by " + (by_class ? "class" : "cluster"));
    report.add("KL divergence", fixed(r.kl, 4));
    report.add("seconds", fixed(r.seconds, 1));
    report.json = {{"protocol", "tsne"}, {"out", *out}, {"points", features.features.size(0)},
                   {"color_by", by_class ? "class" : "cluster"}, {"perplexity", r.perplexity},
                   {"iterations", r.iterations}, {"kl", r.kl}, {"barnes_hut", r.barnes_hut}, {"seconds", r.seconds}};
    emit(s, report, f->json);
  });
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* eval = app.add_subcommand("eval", "Evaluate a checkpoint (or a random init) with the paper's protocols");
  eval->require_subcommand(1);
  add_linear(eval);
  add_svm(eval);
  add_knn(eval);
  add_cluster(eval);
  add_tsne(eval);
  add_finetune(eval);
}

}  // namespace protoclr::cli
