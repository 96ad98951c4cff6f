#include "protoclr/cluster/prototype_sampler.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include "protoclr/core/error.h"

namespace protoclr::cluster {

NegativePrototypeSampler::NegativePrototypeSampler(int64_t k) : k_(k) {
  PROTOCLR_CHECK(k >= 1, "negative prototype sampler: K=", k, " must be at least 1");
  perm_.resize(static_cast<size_t>(k));
  std::iota(perm_.begin(), perm_.end(), int64_t{0});
  positive_.assign(static_cast<size_t>(k), 0);
}

void NegativePrototypeSampler::set_permutation(std::vector<int64_t> perm) {
  PROTOCLR_CHECK(static_cast<int64_t>(perm.size()) == k_, "negative prototype sampler: a saved state of ",
                 perm.size(), " ids for K=", k_, " (a checkpoint of another --num-clusters?)");
  std::vector<uint8_t> seen(perm.size(), 0);
  for (int64_t id : perm) {
    PROTOCLR_CHECK(id >= 0 && id < k_ && !seen[static_cast<size_t>(id)],
                   "negative prototype sampler: the saved state is not a permutation of [0, ", k_, ")");
    seen[static_cast<size_t>(id)] = 1;
  }
  perm_ = std::move(perm);
}

std::vector<int64_t> NegativePrototypeSampler::sample(const int64_t* positives, size_t n_positives,
                                                      int64_t r, Rng& rng) {
  PROTOCLR_CHECK(r >= 0, "negative prototype sampler: r=", r, " must be >= 0");
  // Mark the distinct positives.
  int64_t distinct = 0;
  for (size_t i = 0; i < n_positives; ++i) {
    const int64_t id = positives[i];
    if (id < 0 || id >= k_) {
      for (size_t j = 0; j < i; ++j) positive_[positives[j]] = 0;  // leave the markers clean
      throw Error(detail::concat("negative prototype sampler: positive id ", id, " is outside [0, ",
                                 k_, ")"));
    }
    distinct += positive_[id] == 0;
    positive_[id] = 1;
  }
  const int64_t want = std::min(r, k_ - distinct);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(want));
  // Partial Fisher-Yates over the persistent permutation: position i gets a uniform pick of
  // the not-yet-drawn ids; drawn positives are skipped, so the non-positive picks are a
  // uniform random subset. At most want + distinct draws.
  for (int64_t i = 0; static_cast<int64_t>(out.size()) < want; ++i) {
    TORCH_INTERNAL_ASSERT(i < k_);
    const int64_t j = i + static_cast<int64_t>(uniform_index(rng, static_cast<uint64_t>(k_ - i)));
    std::swap(perm_[i], perm_[j]);
    if (!positive_[perm_[i]]) out.push_back(perm_[i]);
  }
  for (size_t i = 0; i < n_positives; ++i) positive_[positives[i]] = 0;
  return out;
}

}  // namespace protoclr::cluster
