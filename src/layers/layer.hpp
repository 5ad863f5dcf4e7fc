// Layer contract. A Layer is configuration + shape logic (no storage); build() makes a LayerExec
// for one batch size: its oneDNN primitives and memories, created once and reused every step.
//
// Contract of a LayerExec (what forward stores for backward, what backward writes):
//  - forward() reads `src` (the previous layer's dst) and the parameters; writes `dst`. Layers
//    that need more for backward (pooling's workspace, dropout's mask) keep it inside the exec.
//  - backward_weights() reads the bound diff_dst and OVERWRITES the parameter gradients (never
//    accumulates; accumulation across chunks is the trainer's job); backward_data() writes
//    diff_src. backward(need_diff_src) runs the first, then the second when asked.
//  - Non-trainable state (batch norm's running statistics) lives in the Network's state buffer
//    (BuildArgs::state, one pointer per StateSpec); training-mode forward() may update it, the
//    optimizer never sees it.
//  - Activations use fixed layouts (NHWC for images, NC for vectors: dnnl/context.hpp), so
//    consecutive layers never need a reorder between them. Parameters and gradients live in the
//    Network's contiguous buffers in canonical row-major order (OIHW, OI, X); a primitive that
//    prefers another weight layout gets a LayoutBridge (one small reorder per step).
#pragma once
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/shape.hpp"
#include "optim/optimizer.hpp"

namespace sgdbench {

struct ParamSpec {
  std::string name;           // "weight" or "bias"
  std::vector<int64_t> dims;  // canonical dims, as PyTorch stores them ({O,I,KH,KW}, {O,I}, {O})
  int64_t fan_in = 0, fan_out = 0;
  bool is_bias = false;
  // Parameter group: weight decay applies when `decay` (weights), not to biases or batch-norm
  // scale/shift, unless the optimizer says weight_decay_on = all.
  bool decay = true;
  // Initial value regardless of the initialiser (batch norm: gamma 1, beta 0); NaN = initialiser.
  float fill = std::numeric_limits<float>::quiet_NaN();
  // Stored as O,H,W,C (a dense layer fed by a flattened image; dims are then {O, C, H, W}).
  // Network::read_param/write_param convert to and from the canonical row-major order.
  bool channels_last = false;
};

// Non-trainable per-layer state (running mean/var): a vector of `count` floats starting at `fill`.
struct StateSpec {
  std::string name;  // "running_mean"
  int64_t count = 0;
  float fill = 0.f;
};

struct BuildArgs {
  int64_t batch = 0;
  dnnl::memory src;            // previous layer's dst, in activation layout
  std::vector<float*> params;  // one pointer per ParamSpec, into the Network's buffer
  std::vector<float*> grads;   // same, into the gradient buffer
  std::vector<float*> state;   // one pointer per StateSpec, into the Network's state buffer
  bool training = true;        // training-mode forward + backward primitives
  bool dropout = true;         // false: dropout layers are the identity even in training
  Rng* dropout_rng = nullptr;
  // ReLU fusion (Network::plan, when a ReLU directly follows a layer that can_fuse_relu()):
  // relu_after: this layer's forward applies the ReLU as a oneDNN post-op, so its dst holds the
  // ReLU's output. fused_relu: this ReLU's forward already ran in the layer before; it keeps no
  // memory of its own and its backward reads that dst (ReLU'(x) = [relu(x) > 0]).
  bool relu_after = false;
  bool fused_relu = false;
  // A ReLU directly before a max pool (Network::plan, training, with fusion on): maxpool(relu(x))
  // = relu(maxpool(x)), so the pool masks its incoming gradient with [its output > 0] before its
  // own backward (relu_grad_in_pool, on the pool: a tensor a window's size smaller) and the
  // ReLU's backward does nothing (relu_grad_moved, on the ReLU). Same bits: each input position's
  // gradient comes from windows whose maximum it is, so its mask [relu(x) > 0] is theirs.
  bool relu_grad_moved = false;
  bool relu_grad_in_pool = false;
  // A two-lane training plan (Plan::two_lanes): the weight-gradient pass of a conv or dense
  // layer runs on the second thread, so it takes its scratchpads from lane 1 of the plan's arena
  // (dnnl_ctx::ScratchLane) and the two threads never share one.
  bool weights_lane = false;
};

class LayerExec {
 public:
  virtual ~LayerExec() = default;
  virtual void forward() = 0;
  // Called once, after the whole network is built, in reverse layer order.
  virtual void bind_backward(const dnnl::memory& diff_dst) = 0;
  virtual void backward_weights() {}
  virtual void backward_data() = 0;
  void backward(bool need_diff_src) {
    backward_weights();
    if (need_diff_src) backward_data();
  }
  // True when backward_weights() may run on another thread at the same time as backward_data()
  // of this layer and of the layers below it: it reads only its input and the bound diff_dst
  // (neither written by those), writes only its gradients and buffers of its own, its
  // scratchpads in lane 1 (BuildArgs::weights_lane). False by default (batch norm computes
  // its input gradient in backward_weights; the fused dense pass updates the weights).
  virtual bool weights_beside_data() const { return false; }
  // backward(need_diff_src) with the SGD update of this layer's weight applied in the same pass
  // (dense_fused.hpp): returns the weight's pointer into the parameter buffer when it did, nullptr
  // when this layer does not fuse (it then did nothing: call backward()). The bias and any other
  // parameter are left to the optimizer; their gradients are written as backward() writes them.
  virtual const float* backward_fused(bool /*need_diff_src*/, const FusedSgd& /*sgd*/) { return nullptr; }
  // Set by a split plan for its second and later sub-batches of one step (Plan::for_each_sub):
  // the weights have not changed since this exec last copied them into its primitives' layouts,
  // so it may skip those copies. Cleared when the step's sub-batches are done. Wrappers pass it
  // on to the exec they wrap.
  virtual void set_weights_unchanged(bool on) { weights_unchanged_ = on; }
  dnnl::memory dst;
  dnnl::memory diff_src;

 protected:
  bool weights_unchanged_ = false;
};

class Layer {
 public:
  explicit Layer(std::string name) : name_(std::move(name)) {}
  virtual ~Layer() = default;
  const std::string& name() const { return name_; }
  // The layer kind as written in model descriptions ("conv", "dense", ...).
  virtual std::string kind() const = 0;
  // Human-readable configuration, e.g. "conv 6 5x5".
  virtual std::string describe() const = 0;
  // Output shape of one sample; throws Error(Model) naming this layer when `in` cannot fit.
  virtual Shape output_shape(const Shape& in) const = 0;
  // Parameters for a sample of shape `in` fed from a memory of logical shape `mem` (they differ
  // after a flatten, which moves no data: `in` is then a vector, `mem` still the CxHxW image).
  virtual std::vector<ParamSpec> params(const Shape& /*in*/, const Shape& /*mem*/) const { return {}; }
  virtual std::vector<StateSpec> state(const Shape& /*in*/) const { return {}; }
  // True when dst is the same memory as src (flatten): the next layer is fed the same memory.
  virtual bool aliases_input() const { return false; }
  // True when build() honours BuildArgs::relu_after (conv, dense); and for the ReLU itself,
  // is_relu() lets the planner find the pair.
  virtual bool can_fuse_relu() const { return false; }
  virtual bool is_relu() const { return false; }
  virtual bool is_max_pool() const { return false; }
  // Forward FLOPs per sample (2 x multiply-accumulates of conv and dense; 0 elsewhere).
  virtual double forward_flops(const Shape& /*in*/) const { return 0; }
  virtual std::unique_ptr<LayerExec> build(const BuildArgs& args) const = 0;

  // The layer as written in a model description, {kind: {"name": ..., fields...}} with every
  // field (defaults filled). The registry (layers/registry.hpp) records the fields at creation.
  nlohmann::json description() const;
  void set_fields(nlohmann::json fields) { fields_ = std::move(fields); }

 protected:
  [[noreturn]] void shape_error(const Shape& in, const std::string& why) const;

 private:
  std::string name_;
  nlohmann::json fields_ = nlohmann::json::object();
};

}  // namespace sgdbench
