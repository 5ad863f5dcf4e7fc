// Synthetic data set: per class a smooth random pattern (a few 2-D cosines per channel), each
// sample = pattern + Gaussian pixel noise, quantised to uint8 like a real image. Seeded, any
// C x H x W, any size; learnable (noise 0.5 is easy, 2 is hard).
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"

namespace sgdbench {

void make_synthetic(const DataConfig& cfg, Dataset& ds) {
  const Shape& sh = cfg.synthetic_shape;
  SGD_CHECK(sh.rank() == 3 && sh.numel() > 0, Data, "synthetic: shape must be CxHxW, got ", sh.str());
  SGD_CHECK(cfg.synthetic_classes >= 2 && cfg.synthetic_classes <= 1000, Data,
            "synthetic: classes must be in [2, 1000]");
  SGD_CHECK(cfg.synthetic_train > 0 && cfg.synthetic_test > 0, Data,
            "synthetic: train and test sizes must be positive");
  SGD_CHECK(cfg.synthetic_noise >= 0, Data, "synthetic: noise must be >= 0");
  const int64_t C = sh[0], H = sh[1], W = sh[2], K = cfg.synthetic_classes, P = sh.numel();
  Rng rng(cfg.synthetic_seed, RngPurpose::Data);
  std::vector<float> proto(size_t(K * P));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      double fy[3], fx[3], ph[3];
      for (int t = 0; t < 3; ++t)
        fy[t] = rng.uniform(0.5, 3.0), fx[t] = rng.uniform(0.5, 3.0), ph[t] = rng.uniform(0, 6.283);
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          double v = 0;
          for (int t = 0; t < 3; ++t)
            v += std::cos(6.283 * (fy[t] * double(y) / double(H) + fx[t] * double(x) / double(W)) + ph[t]);
          proto[size_t(k * P + (c * H + y) * W + x)] = float(v / 3.0);
        }
    }
  auto fill = [&](Split& s, int64_t n, uint64_t stream) {
    Rng r(cfg.synthetic_seed, RngPurpose::Data, stream);
    s.labels.resize(size_t(n));
    s.images.resize(size_t(n * P));
    for (int64_t i = 0; i < n; ++i) {
      int32_t k = int32_t(i % K);  // balanced classes
      s.labels[size_t(i)] = k;
      for (int64_t j = 0; j < P; ++j) {
        double v = 127.5 + 63.75 * (double(proto[size_t(k * P + j)]) + cfg.synthetic_noise * r.normal());
        s.images[size_t(i * P + j)] = uint8_t(std::lround(std::clamp(v, 0.0, 255.0)));
      }
    }
  };
  fill(ds.train, cfg.synthetic_train, 1);
  fill(ds.test, cfg.synthetic_test, 2);
  ds.shape = sh;
  ds.classes = K;
  ds.source = "synthetic";
}

}  // namespace sgdbench
