#pragma once
/// Counter-based seeding: a sample's randomness depends only on (seed, epoch, index), never
/// on which thread drew it or in what order, so runs repeat whatever the thread count.
#include <cstdint>
#include <random>

namespace protoclr {

/// SplitMix64 finaliser: a good 64-bit mix of one word (Steele et al., 2014).
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// One stream seed from a seed and any number of coordinates (epoch, index, view...).
template <typename... Ts>
uint64_t stream_seed(uint64_t seed, Ts... coords) {
  uint64_t h = mix64(seed);
  ((h = mix64(h ^ static_cast<uint64_t>(coords))), ...);
  return h;
}

/// The generator used everywhere in protoclr.
using Rng = std::mt19937_64;

/// Uniform double in [lo, hi) from 53 random bits (independent of libstdc++'s distributions,
/// whose algorithms are implementation-defined).
inline double uniform(Rng& rng, double lo = 0.0, double hi = 1.0) {
  return lo + (hi - lo) * (static_cast<double>(rng() >> 11) * 0x1.0p-53);
}
/// Uniform integer in [0, n), n > 0 (Lemire's multiply-shift, bias < 2^-32 for n < 2^32).
inline uint64_t uniform_index(Rng& rng, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}
inline bool bernoulli(Rng& rng, double p) { return uniform(rng) < p; }

}  // namespace protoclr
