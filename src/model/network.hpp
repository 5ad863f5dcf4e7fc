// Network: a sequential stack of layers for one input shape and class count, with all parameters
// in one contiguous buffer and all gradients in another (layers hold views), so one optimizer
// pass (and later one allreduce) covers the whole model. Plan: the executable form for one batch
// size (primitives + activations), cached per (batch, mode); built once, reused every step.
#pragma once
#include <map>
#include <tuple>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "dnnl/context.hpp"
#include "layers/layer.hpp"
#include "layers/softmax_cross_entropy.hpp"

namespace sgdbench {

struct ParamRef {
  std::string name;  // "conv1.weight"
  size_t layer = 0;  // index into layers()
  ParamSpec spec;
  size_t offset = 0;  // in floats, into params()/grads(); 64-byte aligned
  size_t count = 0;
};

// Non-trainable state of one layer (batch norm's running statistics) in the state buffer.
struct StateRef {
  std::string name;  // "bn1.running_mean"
  size_t layer = 0;
  StateSpec spec;
  size_t offset = 0;  // in floats, into state()
};

class Network;

class Plan {
 public:
  int64_t batch() const { return batch_; }
  bool training() const { return training_; }
  // Input batch, N x C x H x W row-major (NCHW), and its labels: write both before forward_loss().
  float* input() { return static_cast<float*>(user_in_.get_data_handle()); }
  int32_t* labels() { return labels_.data(); }
  // The training step's first half: forward + softmax cross-entropy against labels(); returns the
  // mean loss and the correct count. A training plan also stores d(loss)/d(logits) scaled by
  // grad_scale (default 1/batch: the gradient of the batch mean) for backward().
  LossResult forward_loss(double grad_scale = -1);
  // The second half: backward through every layer; OVERWRITES the network's gradients.
  // A split plan (split() > 0, see Network::plan) computes the gradients inside forward_loss,
  // sub-batch by sub-batch, and backward() has nothing left to do: call both, as always.
  void backward();
  // backward() with plain SGD's update applied by the layers that can (a large dense layer at
  // batch 1, dense_fused.hpp) in their backward pass: returns the weights they updated (pointers
  // into the parameter buffer) for Optimizer::finish_fused to leave out. Gradients are written
  // as backward() writes them. A split or batch-parallel plan fuses nothing (returns none).
  const std::vector<const float*>& backward(const FusedSgd* sgd);
  // Sub-batch size of a split training plan, 0 when the batch runs whole.
  int64_t split() const { return sub_batch_; }
  // Members of a batch-parallel training plan (see Network::plan), 0 for every other plan.
  size_t team() const { return team_.size(); }
  const Plan& member(size_t t) const { return *team_.at(t); }
  // Threads this plan runs with: 1 for tiny steps (Network::kSmallStepFlops) and small training
  // steps run whole (kWholeStepOneThreadFlops), else 0 = the caller's. A two-lane plan's backward
  // uses a second thread beside the one (two_lanes()).
  int threads() const { return threads_; }
  // A training plan on one thread whose backward runs in two lanes when the caller has two or
  // more threads (Network::kTwoLaneMinFlops): the input gradients on this thread, the weight
  // gradients of the layers that allow it (LayerExec::weights_beside_data) on a second, each as
  // soon as the first lane has made its diff_dst. Same numbers as one lane: each pass runs alone
  // on one thread, as it was created.
  bool two_lanes() const { return !lane1_.empty(); }
  // Forward only (inference, benchmarks of the forward pass); logits: N x classes row-major.
  void forward();
  const float* logits() const;
  // The layers' executables, for benchmarks of single layers (index = layer index).
  size_t layers() const { return execs_.size(); }
  LayerExec& exec(size_t i) { return *execs_.at(i); }
  // Threads layer i's primitives were created for and run with (1, or threads()); run them alone
  // inside a ThreadScope of this count.
  int layer_threads(size_t i) const { return layer_threads_.at(i); }  // whole plans only (split() == 0, team() == 0)

 private:
  friend class Network;
  int64_t batch_ = 0;
  bool training_ = false;
  dnnl::memory user_in_, net_in_;
  dnnl_ctx::Reorder in_reorder_;
  std::shared_ptr<void> scratch_;  // the primitives' shared scratchpad (dnnl_ctx::ScratchArena)
  float* grads_ = nullptr;         // where backward writes the gradients (the network's, or a member's own)
  Rng* rng_ = nullptr;             // the generator dropout masks are drawn from
  bool reorder_in_ = false;
  std::vector<std::unique_ptr<LayerExec>> execs_;
  dnnl::memory diff_logits_;
  std::vector<int32_t> labels_;
  int64_t classes_ = 0;
  // Split plans: the plans of a full and of the last sub-batch, the gradients' accumulator and
  // the gathered logits.
  Network* net_ = nullptr;
  int threads_ = 0;
  std::vector<int> layer_threads_;  // per layer: 1 (small, Network::kSmallLayerWork) or threads_
  size_t first_param_layer_ = 0;  // backward() stops here (no gradient is needed below it)
  std::vector<size_t> lane1_;     // two-lane plans: the layers whose weight gradient runs on lane 1, top down
  void backward_layer(size_t i, const FusedSgd* sgd, bool weights);
  void backward_two_lanes(const FusedSgd* sgd);
  int64_t sub_batch_ = 0;
  Plan* sub_ = nullptr;
  Plan* sub_last_ = nullptr;
  std::vector<float> acc_, logits_all_;
  std::vector<const float*> fused_;  // backward(const FusedSgd*)'s answer
  std::vector<std::unique_ptr<Plan>> owned_;  // a member's sub-plans (not in the network's cache)
  // Batch-parallel plans: one member plan per thread, each on one thread with its own share of the
  // batch, gradient buffer (member 0 writes the network's) and dropout generator.
  std::vector<std::unique_ptr<Plan>> team_;
  std::vector<Tensor> team_grads_;
  std::vector<Rng> team_rng_;
  std::vector<LossResult> team_loss_;  // per member, in forward_loss
  std::vector<int64_t> team_off_;
  template <class F>
  void for_each_sub(F f);
  template <class F>
  void run_team(F f, bool reduce);
  template <class Plans>
  struct RestoreInputs;
  // Reads its input from p (a split plan's sub-batch, in place) instead of its own buffer;
  // nullptr: its own buffer again.
  void read_input_from(float* p);
  Tensor own_in_buf_;
  void* own_in_ = nullptr;
  // Every layer's LayerExec::set_weights_unchanged (for_each_sub).
  void set_weights_unchanged(bool on) {
    for (auto& e : execs_) e->set_weights_unchanged(on);
  }
};

class Network {
 public:
  // Validates every layer's shape; throws Error(Model) naming the model and the layer that cannot fit.
  // where: per layer, its place in the model description ("models/x.json: layers[3].conv"), put
  // in front of shape errors.
  Network(std::string model, Shape input, int64_t classes, std::vector<std::unique_ptr<Layer>> layers,
          std::vector<std::string> where = {});
  // {"name", "layers": [{kind: {"name", fields...}}]}: the layers as a model description.
  nlohmann::json description() const;
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const std::string& model() const { return model_; }
  const Shape& input_shape() const { return input_; }
  int64_t classes() const { return classes_; }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const std::vector<Shape>& output_shapes() const { return shapes_; }  // per layer, one sample
  const std::vector<ParamRef>& param_refs() const { return refs_; }
  const Shape& layer_input(size_t layer) const { return layer == 0 ? input_ : shapes_[layer - 1]; }
  bool has_params(size_t layer) const;
  // The first layer with parameters (0 when there are none): no gradient is needed below it.
  size_t first_param_layer() const { return refs_.empty() ? 0 : refs_.front().layer; }
  // True when `layer` is a ReLU that the conv or dense layer before it applies as a post-op in
  // this network's plans (set_relu_fusion).
  bool relu_fused(size_t layer) const;
  // True when `layer` is a ReLU right before a max pool whose backward applies the ReLU's
  // gradient mask on its smaller output (BuildArgs::relu_grad_moved; with set_relu_fusion).
  bool relu_grad_in_pool(size_t layer) const;
  int64_t param_count() const;   // logical (no alignment gaps)
  double forward_flops() const;  // per sample
  // FLOPs one training step really executes per sample: each conv/dense layer's forward, its
  // weight gradient, and its input gradient unless it is the first layer with parameters (Plan::
  // backward skips that one). The anchors' nominal count is 3 x forward_flops().
  double train_flops() const;

  // Contiguous buffers (with zero gaps for alignment); the optimizer may update them whole.
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  float* grads() { return grads_.data(); }
  const float* grads() const { return grads_.data(); }
  size_t buffer_size() const { return params_.size(); }
  const ParamRef& param(const std::string& name) const;
  // Non-trainable state (running statistics), contiguous; never touched by the optimizer.
  const std::vector<StateRef>& state_refs() const { return state_refs_; }
  float* state() { return state_.data(); }
  const float* state() const { return state_.data(); }
  size_t state_size() const { return state_refs_.empty() ? 0 : size_t(state_.shape().numel()); }
  void reset_state();  // every state vector back to its initial value
  // One parameter (or its gradient) in canonical row-major order (as PyTorch stores it), whatever
  // its stored layout (ParamSpec::channels_last).
  void read_param(const std::string& name, float* canonical) const;
  void read_grad(const std::string& name, float* canonical) const;
  void write_param(const std::string& name, const float* canonical);

  // Executable form for `batch` samples; training plans have backward primitives and dropout.
  // A training batch larger than max_sub_batch(kActivationBudget) runs as equal sub-batches
  // that accumulate the gradient (same mean gradient; large batches stay cache-friendly instead
  // of getting slower per image), unless the model has batch statistics (batch norm) or `whole`
  // is set (single-layer benchmarks, which need the layers' executables).
  Plan& plan(int64_t batch, bool training, bool whole = false);
  // The sub-batch size a training batch splits into, under `budget` bytes of activations (a
  // batch-parallel member: kActivationBudget / members). With A = activation_bytes_per_sample()
  // and W the parameter bytes, cap = max(kMinSubBatch, budget / A) (the activation budget):
  //  - weight-heavy models (W > kWeightHeavySamples x A: the MLP, 26; keras_mnist_cnn, 6.3): cap;
  //  - the others (the conv nets whose activations outweigh their weights: LeNet 1.7-1.9,
  //    keras_cifar_cnn 0.65): min(cap, max(kMinSmallSubBatch, kSubBatchBytes / A,
  //    ceil(kSubBatchWeightFactor x W / A))): sub-batches whose activations fit kSubBatchBytes,
  //    but not so small that each one's weight traffic (every primitive reads its weights, the
  //    gradient is accumulated) exceeds 1/kSubBatchWeightFactor of its activation traffic, and
  //    never under kMinSmallSubBatch samples (a model with more than kSubBatchBytes a sample).
  // So kMinSubBatch bounds only the cap. Measured (issue 11, bench_train_step, 5 interleaved
  // processes each way against the build before, medians): lenet_cifar and lenet_fmnist at batch
  // 1024 1.06-1.11x faster on 1 and 2 threads (best against best 1.08-1.15x; an earlier run
  // 1.12-1.21x), keras_cifar_cnn at 1024 1.04x and 1.11x; applied to the MLP the second rule made
  // its batch 1024 0.95-0.96x, hence the weight-heavy exception.
  int64_t max_sub_batch(int64_t budget) const;
  static constexpr int64_t kSubBatchBytes = int64_t(6) << 20, kMinSmallSubBatch = 8;
  static constexpr double kSubBatchWeightFactor = 16, kWeightHeavySamples = 4;
  // Bytes of activations and their gradients per training sample; the sub-batch budget.
  int64_t activation_bytes_per_sample() const;
  // Limits on what a model may ask for, checked before anything is allocated (Error(Model)):
  // parameters (kMaxParams floats, 1 GiB) and one layer's output per sample (kMaxSampleFloats,
  // 1 GiB) at construction; one tensor of a plan (kMaxTensorBytes, 4 GiB) by check_batch.
  static constexpr double kMaxParams = double(int64_t(1) << 28), kMaxSampleFloats = double(int64_t(1) << 28);
  static constexpr double kMaxTensorBytes = double(int64_t(1) << 32);
  // Error(Model) when a plan at this batch would hold a tensor over kMaxTensorBytes (training
  // plans are checked at their sub-batch size, as plan() splits them; with whole_input, as plan()
  // checks the batch it builds, also the whole batch's input and logits a split plan holds: not in
  // spec validation, whose batch_size and chunk the trainer caps at the training set's size).
  // `what` names the field.
  void check_batch(int64_t batch, bool training, const std::string& what, bool whole_input = false) const;
  static constexpr int64_t kActivationBudget = int64_t(32) << 20;
  static constexpr int64_t kMinSubBatch = 32;
  // A plan whose step (3 x forward FLOPs for training) is below this runs on one thread.
  static constexpr double kSmallStepFlops = 4.5e6;
  // A training step that plan() runs whole (not batch-parallel, not split) below this runs on
  // one thread too: there every primitive forks and joins on its own, and on the 2-vCPU Zen 5 VM
  // such steps ran 1.1-2.1x faster on one thread than on two (tools/compare_pytorch.py rows at
  // 140ef30, core-to-core latency slow; at 44d1844, fast, the same for keras_cifar_cnn and
  // keras_mnist_cnn at batch 1 and 4 and LeNet at 4). keras_mnist_cnn at 32 (170 MFLOP) ran
  // faster on two there, hence the limit. Not for sub-plans of a split step or explicit whole
  // plans (plan(b, true, true)), which keep every thread.
  static constexpr double kWholeStepOneThreadFlops = 120e6;
  // In a plan that uses every thread, a layer whose work for the batch is below kSmallLayerWork
  // runs on one thread (created and executed so): its forward FLOPs x batch for conv and dense,
  // kElementWork per input element x batch for the others (ReLU, pooling, dropout). Measured
  // with bench_layers at 1 and 2 threads (issue 11): below about 1 MFLOP, or 16k elements, a
  // second thread's fork/join costs more than it gives (a 64-wide dense layer 3-7x slower).
  static constexpr double kSmallLayerWork = 1e6, kElementWork = 64;
  // Batch-parallel training plans (issue 11): with T > 1 threads, a training batch of at least
  // T x kMinMemberBatch samples of a model without batch statistics runs as T member plans side
  // by side, one per thread, each with one-thread primitives on its share of the batch (split by
  // the activation budget / T when large), whose gradients are summed at the end. One fork/join
  // per step instead of one or more per primitive: on 2 vCPUs whose caches are 200+ ns apart,
  // oneDNN's per-primitive threading scaled keras_cifar_cnn 1.3-1.6x. Only when each member's
  // step computes at least kMinFlopsPerGradient FLOPs per gradient value it adds to the sum
  // (measured with bench_train_step, SGDBENCH_BATCH_PARALLEL=0|1, 2 threads: keras_mnist_mlp at
  // batch 32, 65 FLOPs per value, 0.70x; keras_mnist_cnn at 32, 114, 0.93x; keras_mnist_mlp at
  // 128, 260, 1.11x; the conv nets at 545-3400, 1.03-1.08x). Off: batch_parallel(false) or
  // SGDBENCH_BATCH_PARALLEL=0 (plans built from then on).
  // The member batch floor was 16; from 2 the FLOPs-per-gradient rule alone decides (2 threads,
  // bench_train_step, floor 16 vs 2 in alternating processes, 3 each: keras_cifar_cnn at batch 4
  // 660-673 -> 510-516 us; keras_mnist_cnn and LeNet at batch 4 unchanged: their steps fail that
  // rule or run on one thread; every batch-32 row within 2%). Measured on 2 threads only. Members
  // draw their own dropout masks, so a dropout model's numbers at a batch-parallel batch differ
  // from a whole plan's (same threads, same numbers still holds).
  static constexpr int64_t kMinMemberBatch = 2;
  static constexpr double kMinFlopsPerGradient = 200;
  // The sub-batch byte target (kSubBatchBytes unless SGDBENCH_SUB_BATCH_KIB is set, or
  // set_sub_batch_bytes; for side-by-side measurements): plans built from then on. It moves the
  // split, so the order of gradient sums: provenance.sub_batch_bytes records it.
  static void set_sub_batch_bytes(int64_t bytes);
  static int64_t sub_batch_bytes();
  static void set_batch_parallel(bool on);
  static bool batch_parallel();
  // Two-lane backward (Plan::two_lanes) for a training plan of a model without batch statistics
  // that runs whole on one thread while the caller has two or more, when the weight gradients
  // lane 1 computes above the first layer with parameters (conv and dense layers that do not
  // fuse their update) come to at least kTwoLaneMinFlops (forward FLOPs x batch; below it the
  // data's trip to the other core costs more than the overlap saves; measured in build_plan).
  // Off by default: on: set_two_lanes(true) or SGDBENCH_TWO_LANES=1 (plans built from then on).
  // Measured on the 2-vCPU Zen 5 VM with bench_train_step's BM_TrainStepLanes rows (2 threads,
  // lanes off and on interleaved in one process, medians of 3), the same binary within 10
  // minutes: first keras_cifar_cnn batch 1 212 -> 174 and 219 -> 184 us, lenet_cifar 81 -> 68
  // and 84 -> 70 us; then 211-214 -> 227-253 us and 79-82 -> 103-117 us, and keras_mnist_cnn at
  // batch 4 335 -> 821 us. The VM's second core was sometimes cheap to hand data to and
  // sometimes not; one core per lane on real hardware is what it needs. Measure your machine
  // (SGDBENCH_BENCH_LANES=1 bench_train_step) before turning it on.
  static constexpr double kTwoLaneMinFlops = 2e5;
  static void set_two_lanes(bool on);
  static bool two_lanes();
  double layer_work(size_t layer, int64_t batch) const;
  void set_dropout(bool enabled);  // drops cached plans
  // Conv/dense + ReLU fusion in plans built from now on (on by default: the ReLU runs as the
  // layer's post-op and its backward reads that output; off: every layer runs on its own, as the
  // test of the fusion compares). Drops cached plans.
  void set_relu_fusion(bool enabled);
  // stream > 0: another generator for the same seed (a data-parallel rank's masks).
  void reseed_dropout(uint64_t seed, uint64_t stream = 0) { dropout_rng_ = Rng(seed, RngPurpose::Dropout, stream); }
  Rng& dropout_rng() { return dropout_rng_; }  // the generator dropout masks are drawn from

 private:
  std::string model_;
  Shape input_;
  int64_t classes_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::vector<Shape> shapes_;
  std::vector<ParamRef> refs_;
  std::vector<StateRef> state_refs_;
  Tensor params_, grads_, state_;
  bool dropout_ = true;
  bool fuse_relu_ = true;
  Rng dropout_rng_{0, RngPurpose::Dropout};
  std::map<std::tuple<int64_t, bool, int>, std::unique_ptr<Plan>> plans_;  // (batch, training, kind)
  // Members of a batch-parallel plan for this batch at the caller's thread count, 0: none.
  int team_size(int64_t batch, bool training) const;
  // The sub-batch size (max_sub_batch(kActivationBudget)) a training batch of a model without
  // batch statistics would split into when not batch-parallel; 0: it runs whole.
  int64_t split_size(int64_t batch, bool training) const;
  struct BuildOpts {
    float* grads;
    Rng* rng;
    bool member;  // a batch-parallel member: one thread, its sub-plans owned, not cached
    int64_t budget;
    int team;  // > 0: build a batch-parallel plan of this many members (Network::plan decided it)
    bool one_thread = false;  // a training step run whole below kWholeStepOneThreadFlops
  };
  std::unique_ptr<Plan> build_plan(int64_t batch, bool training, bool whole, const BuildOpts& o);
};

}  // namespace sgdbench
