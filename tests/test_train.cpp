// Trainer: full-batch GD equals the one-batch gradient, determinism, divergence, budgets and
// stop rules, logging, and a behaviour check (momentum beats plain SGD on synthetic data).
#include "core/error.hpp"
#include "dnnl/context.hpp"
#include "helpers.hpp"
#include "layers/dense_fused.hpp"
#include "layers/softmax_cross_entropy.hpp"
#include "model/zoo.hpp"
#include "train/trainer.hpp"

using namespace sgdbench;

namespace {
DataConfig synthetic(int64_t train = 600, int64_t test = 200, double noise = 1.0) {
  DataConfig d;
  d.name = "synthetic";
  d.synthetic_train = train;
  d.synthetic_test = test;
  d.synthetic_shape = Shape{1, 16, 16};
  d.synthetic_noise = noise;
  return d;
}
TrainConfig base(const std::string& model = "keras_mnist_mlp") {
  TrainConfig c;
  c.model = model;
  c.data = synthetic();
  c.batch_size = 32;
  c.lr = 0.05;
  c.epochs = 2;
  c.seed = 3;
  return c;
}
}  // namespace

TEST_CASE("full-batch GD: the chunk-accumulated gradient equals the one-batch gradient", "[train][gd]") {
  const std::string model = GENERATE("lenet", "keras_mnist_mlp");
  CAPTURE(model);
  auto data = load_dataset(synthetic(300, 10));
  auto net = build_model(model, data.shape, data.classes);
  initialize(*net, zoo_entry(model).init, 5);
  net->set_dropout(false);  // dropout masks differ between chunkings by design
  std::vector<float> chunked(net->buffer_size());
  double loss_chunked = full_batch_gradient(*net, data.train, data.pre, 64, chunked.data());  // 64*4 + 44
  std::vector<float> whole(net->buffer_size());
  double loss_whole = full_batch_gradient(*net, data.train, data.pre, 300, whole.data());
  CHECK_THAT(loss_chunked, Catch::Matchers::WithinRel(loss_whole, 1e-6));
  double num = 0, den = 0;
  for (size_t i = 0; i < whole.size(); ++i) {
    num = std::max(num, double(std::fabs(chunked[i] - whole[i])));
    den = std::max(den, double(std::fabs(whole[i])));
  }
  INFO("max-norm relative difference " << num / den);
  CHECK(num / den <= 1e-5);
  CHECK(den > 0);
}

TEST_CASE("GD takes one step per epoch, SGD and mini-batch count steps and samples", "[train]") {
  auto data = load_dataset(synthetic(100, 20));
  auto c = base();
  c.data = synthetic(100, 20);
  c.epochs = 3;
  c.batch_size = 0;
  c.chunk = 30;
  auto gd = train(c, data);
  CHECK(gd.status == RunStatus::Completed);
  CHECK(gd.steps == 3);
  CHECK(gd.samples == 300);
  c.batch_size = 1;
  c.epochs = 1;
  auto sgd = train(c, data);
  CHECK(sgd.steps == 100);
  c.batch_size = 32;  // 3 full batches + one of 4 (kept)
  auto mb = train(c, data);
  CHECK(mb.steps == 4);
  CHECK(mb.samples == 100);
  c.drop_last = true;
  CHECK(train(c, data).samples == 96);
}

TEST_CASE("determinism: same config, same threads, identical history", "[train][determinism]") {
  auto c = base("lenet");
  c.optimizer.momentum = 0.9;
  c.log_every_steps = 5;
  auto data = load_dataset(c.data);
  auto a = train(c, data), b = train(c, data);
  REQUIRE(a.history.size() == b.history.size());
  REQUIRE(a.history.size() > 3);
  for (size_t i = 0; i < a.history.size(); ++i) {
    // the starting point has no mini-batch loss yet (NaN)
    CHECK((a.history[i].train_loss == b.history[i].train_loss || (i == 0 && std::isnan(b.history[i].train_loss))));
    CHECK(a.history[i].test_loss == b.history[i].test_loss);
    CHECK(a.history[i].test_acc == b.history[i].test_acc);
  }
  // The final-state hash (parameters + running statistics) says the same: equal for the same
  // config and threads, different for another seed; and it is the hash of what was trained.
  REQUIRE(a.final_state_hash.size() == 16);
  CHECK(a.final_state_hash == b.final_state_hash);
  c.seed = 4;
  auto other = train(c, data);
  CHECK(other.history.back().test_loss != a.history.back().test_loss);
  CHECK(other.final_state_hash != a.final_state_hash);
  auto fresh = build_network(c.model, data.shape, data.classes);
  CHECK(state_hash(*fresh) != a.final_state_hash);  // untrained weights (zeros) hash differently
}

TEST_CASE("divergence: a huge learning rate ends the run with status diverged", "[train][divergence]") {
  auto c = base();
  c.lr = 1e4;
  auto data = load_dataset(c.data);
  auto r = train(c, data);
  CHECK(r.status == RunStatus::Diverged);
  CHECK(r.steps < 2 * 19);
  CHECK_FALSE(r.stop_reason.empty());
}

TEST_CASE("budgets and target stop rule", "[train][budget]") {
  auto c = base();
  auto data = load_dataset(c.data);
  c.max_steps = 7;
  auto r = train(c, data);
  CHECK(r.status == RunStatus::BudgetExhausted);
  CHECK(r.steps == 7);
  CHECK(r.history.back().step == 7);
  c.max_steps = 0;
  c.max_samples = 100;
  r = train(c, data);
  CHECK(r.status == RunStatus::BudgetExhausted);
  CHECK(r.samples == 128);  // stops after the step that crossed the budget
  c.max_samples = 0;
  c.epochs = 20;
  c.target_acc = 0.5;
  c.stop_at_target = true;
  c.log_every_steps = 2;
  r = train(c, data);
  CHECK(r.status == RunStatus::StoppedAtTarget);
  REQUIRE(r.target_step.has_value());
  CHECK(*r.target_step == r.steps);
  CHECK(r.history.back().test_acc >= 0.5);
}

TEST_CASE("logging: log-spaced points inside the first epoch, learning rate recorded", "[train][log]") {
  auto c = base();
  c.batch_size = 1;
  c.epochs = 1;
  c.log_points_per_decade = 2;  // steps 1, 3, 10, 32, 100, 316
  c.schedule.name = "exponential";
  c.schedule.gamma = 0.5;
  auto data = load_dataset(c.data);
  auto r = train(c, data);
  std::vector<int64_t> steps;
  for (auto& h : r.history) steps.push_back(h.step);
  CHECK(steps == std::vector<int64_t>{0, 1, 3, 10, 32, 100, 316, 600});
  CHECK_THAT(r.history.back().lr, Catch::Matchers::WithinRel(0.05 * 0.5, 1e-9));
  CHECK(r.history[0].kind == "epoch");
  CHECK(r.history[3].kind == "interval");
  for (size_t i = 1; i < r.history.size(); ++i) CHECK(r.history[i].train_seconds >= r.history[i - 1].train_seconds);
}

TEST_CASE("behaviour: momentum reaches the target in fewer steps than plain SGD at the same lr", "[train][behaviour]") {
  auto c = base();
  c.data = synthetic(1000, 300, 1.0);
  c.lr = 0.01;
  c.epochs = 15;
  c.target_acc = 0.8;
  c.stop_at_target = true;
  c.log_every_steps = 5;
  auto data = load_dataset(c.data);
  auto plain = train(c, data);
  c.optimizer.momentum = 0.9;
  auto mom = train(c, data);
  REQUIRE(mom.target_step.has_value());
  INFO("plain SGD: " << (plain.target_step ? std::to_string(*plain.target_step) : "not reached")
                     << " steps; momentum: " << *mom.target_step);
  CHECK((!plain.target_step || *mom.target_step < *plain.target_step));
}

TEST_CASE("trainer seam (a): a gradient hook runs between the gradient and the update", "[train][seams]") {
  auto data = load_dataset(synthetic(200, 50));
  auto c = base();  // keras_mnist_mlp (with dropout), plain SGD, batch 32
  c.lr = 0.05;
  auto plain = train(c, data);
  // Doubling the gradient in the hook at half the learning rate is the same update, bit for bit
  // (scaling by 2 is exact in float), dropout masks included.
  c.lr = 0.025;
  Trainer t(c, data);
  int64_t calls = 0;
  t.set_gradient_hook([&](Network& net, float* g, size_t n, int64_t step) {
    CHECK(g == net.grads());
    CHECK(n == net.buffer_size());
    CHECK(step == calls++);
    for (size_t i = 0; i < n; ++i) g[i] *= 2;
  });
  auto hooked = t.run();
  CHECK(calls == hooked.steps);
  REQUIRE(hooked.history.size() == plain.history.size());
  for (size_t i = 0; i < plain.history.size(); ++i) {
    CHECK(hooked.history[i].test_loss == plain.history[i].test_loss);
    if (i > 0) CHECK(hooked.history[i].train_loss == plain.history[i].train_loss);  // point 0: no steps yet
  }
  // A hook that zeroes the gradient freezes the model (plain SGD, no weight decay).
  Trainer frozen(c, data);
  frozen.set_gradient_hook([](Network&, float* g, size_t n, int64_t) { std::fill(g, g + n, 0.f); });
  auto fr = frozen.run();
  for (auto& h : fr.history) CHECK(h.test_loss == fr.history.front().test_loss);
  // GD: the hook sees the whole accumulated gradient.
  c.batch_size = 0;
  c.epochs = 2;
  Trainer gd(c, data);
  std::vector<int64_t> steps;
  gd.set_gradient_hook([&](Network& net, float* g, size_t n, int64_t step) {
    CHECK(g != net.grads());
    CHECK(n == net.buffer_size());
    steps.push_back(step);
  });
  gd.run();
  CHECK(steps == std::vector<int64_t>{0, 1});
}

TEST_CASE("trainer seam (b): the closure re-evaluates loss and gradient at the current parameters", "[train][seams]") {
  auto data = load_dataset(synthetic(200, 50));
  for (int64_t batch : {32, 0}) {  // mini-batch (with dropout) and GD
    CAPTURE(batch);
    auto c = base();
    c.batch_size = batch;
    c.epochs = batch == 0 ? 4 : 1;
    Trainer t(c, data);
    int64_t hook_calls = 0;
    double l1 = 0, l2 = 0;
    std::vector<float> g1;
    // Called from inside the hook (an optimizer's view: after the step's gradient), twice.
    t.set_gradient_hook([&](Network& net, float* g, size_t n, int64_t step) {
      ++hook_calls;
      if (step != 2) return;
      l1 = t.closure();
      g1.assign(g, g + n);
      l2 = t.closure();
      CHECK(l1 == l2);
      CHECK(std::equal(g1.begin(), g1.end(), g));
      // At other parameters the closure gives another loss.
      std::vector<float> keep(net.params(), net.params() + n);
      for (size_t i = 0; i < n; ++i) net.params()[i] *= 0.5f;
      CHECK(t.closure() != l1);
      std::copy(keep.begin(), keep.end(), net.params());
      CHECK(t.closure() == l1);
    });
    auto r = t.run();
    CHECK(hook_calls == r.steps);  // closures from inside the hook do not run it again
    CHECK(l1 > 0);
    // Outside the run the closure still works (the last step's batch) and is repeatable.
    CHECK(t.closure() == t.closure());
  }
}

TEST_CASE("trainer: the fused dense update changes no number of a run", "[train][fused]") {
  // keras_mnist_mlp on 28x28 images at batch 1: dense1 (784 x 128) takes its update in the
  // backward pass (dense_fused.hpp), the same bits as the optimizer's (test "fused dense update").
  auto c = base();
  c.data.synthetic_shape = Shape{1, 28, 28};
  c.data.synthetic_train = 150, c.data.synthetic_test = 30;
  c.batch_size = 1, c.lr = 0.01, c.epochs = 1, c.log_every_steps = 50;
  c.optimizer.momentum = 0.9, c.optimizer.nesterov = true;
  auto data = load_dataset(c.data);
  auto run = [&](bool fuse) {
    const bool was = fused_dense_available();
    set_fused_dense(fuse && was);
    Trainer t(c, data);
    auto r = t.run();
    set_fused_dense(was);
    return std::make_pair(r, t.fused_steps());
  };
  const auto [plain, plain_fused] = run(false);
  const auto [fused, fused_steps] = run(true);
  CHECK(plain_fused == 0);
  CHECK(fused_steps == (fused_dense_available() ? 150 : 0));  // AVX-512 only
  REQUIRE(plain.history.size() == fused.history.size());
  REQUIRE(plain.history.size() == 4);  // step 0, 50, 100, 150
  for (size_t i = 0; i < plain.history.size(); ++i) {
    CHECK(plain.history[i].test_loss == fused.history[i].test_loss);
    CHECK(plain.history[i].test_acc == fused.history[i].test_acc);
    if (i > 0) CHECK(plain.history[i].train_loss == fused.history[i].train_loss);
  }
  // A gradient hook sits between gradient and update: nothing fuses.
  Trainer hooked(c, data);
  hooked.set_gradient_hook([](Network&, float*, size_t, int64_t) {});
  hooked.run();
  CHECK(hooked.fused_steps() == 0);
}
