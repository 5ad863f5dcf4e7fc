// Network construction (shape validation, parameter layout) and Plan execution.
#include "model/network.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "core/env.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "dnnl/context.hpp"

namespace sgdbench {

namespace ctx = dnnl_ctx;

namespace {
// A count for an error message: exact below 2^63, else "1.84e+19".
std::string count_str(double n) {
  if (n < 9e18) return std::to_string(int64_t(n));
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", n);
  return b;
}
}  // namespace

Network::Network(std::string model, Shape input, int64_t classes, std::vector<std::unique_ptr<Layer>> layers,
                 std::vector<std::string> where)
    : model_(std::move(model)), input_(std::move(input)), classes_(classes), layers_(std::move(layers)) {
  SGD_CHECK(input_.rank() == 3 || input_.rank() == 1, Model, "model '", model_, "': input shape ", input_.str(),
            " must be CxHxW");
  for (auto d : input_.dims)
    SGD_CHECK(d > 0, Model, "model '", model_, "': input shape ", input_.str(), " has an empty dim");
  SGD_CHECK(classes_ >= 2, Model, "model '", model_, "': needs at least 2 classes, got ", classes_);
  Shape s = input_;
  Shape mem = input_;  // the shape of the memory feeding the layer: flatten moves no data
  size_t offset = 0, state_offset = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Shape out;
    try {
      for (auto& st : layers_[i]->state(s)) {
        state_refs_.push_back(StateRef{layers_[i]->name() + "." + st.name, i, st, state_offset});
        state_offset += size_t(st.count);
      }
      for (auto p : layers_[i]->params(s, mem)) {
        ParamRef r{layers_[i]->name() + "." + p.name, i, p, offset, 0};
        double count = 1;  // in double: a 2^20 x 2^44 dense layer overflows int64
        for (auto d : p.dims) count *= double(d);
        SGD_CHECK(count + double(offset) <= kMaxParams, Model, "layer '", layers_[i]->name(), "' brings the model to ",
                  count_str(count + double(offset)), " parameters, more than the limit of ", count_str(kMaxParams),
                  " (1 GiB)");
        r.count = int64_t(count);
        offset += (r.count + 15) / 16 * 16;
        refs_.push_back(std::move(r));
      }
      out = layers_[i]->output_shape(s);
      double n = 1;
      for (auto d : out.dims) n *= double(d);
      SGD_CHECK(n <= kMaxSampleFloats, Model, "layer '", layers_[i]->name(), "' gives ", out.str(), " = ", count_str(n),
                " values per sample, more than the limit of ", count_str(kMaxSampleFloats), " (1 GiB)");
    } catch (const Error& e) {
      std::string at = i < where.size() ? where[i] + ": " : "";
      throw Error(e.kind(), at + "model '" + model_ + "' on input " + input_.str() + ": " + e.what());
    }
    shapes_.push_back(out);
    s = out;
    if (!layers_[i]->aliases_input()) mem = out;
  }
  SGD_CHECK(!layers_.empty(), Model, "model '", model_, "' has no layers");
  SGD_CHECK(s == Shape{classes_}, Model, where.empty() ? "" : where.back() + ": ", "model '", model_, "' on input ",
            input_.str(), ": the last layer gives ", s.str(), ", expected ", classes_,
            " logits (one per class; a last dense layer with \"out\": \"classes\" always fits)");
  params_ = Tensor(Shape{int64_t(offset)});
  grads_ = Tensor(Shape{int64_t(offset)});
  state_ = Tensor(Shape{int64_t(std::max<size_t>(state_offset, 1))});
  reset_state();
}

void Network::reset_state() {
  for (auto& r : state_refs_) std::fill(state_.data() + r.offset, state_.data() + r.offset + r.spec.count, r.spec.fill);
}

nlohmann::json Network::description() const {
  nlohmann::json l = nlohmann::json::array();
  for (auto& layer : layers_) l.push_back(layer->description());
  return {{"name", model_}, {"layers", l}};
}

int64_t Network::param_count() const {
  int64_t n = 0;
  for (auto& r : refs_) n += r.count;
  return n;
}

double Network::forward_flops() const {
  double f = 0;
  for (size_t i = 0; i < layers_.size(); ++i) f += layers_[i]->forward_flops(layer_input(i));
  return f;
}

double Network::train_flops() const {
  const size_t first = first_param_layer();
  double f = 0;
  for (size_t i = 0; i < layers_.size(); ++i)
    f += layers_[i]->forward_flops(layer_input(i)) * (1.0 + (has_params(i) ? 1.0 : 0.0) + (i > first ? 1.0 : 0.0));
  return f;
}

bool Network::has_params(size_t layer) const {
  for (auto& r : refs_)
    if (r.layer == layer) return true;
  return false;
}

bool Network::relu_fused(size_t layer) const {
  return fuse_relu_ && layer > 0 && layers_[layer]->is_relu() && layers_[layer - 1]->can_fuse_relu();
}

bool Network::relu_grad_in_pool(size_t layer) const {
  return fuse_relu_ && layer + 1 < layers_.size() && layers_[layer]->is_relu() && layers_[layer + 1]->is_max_pool();
}

const ParamRef& Network::param(const std::string& name) const {
  for (auto& r : refs_)
    if (r.name == name) return r;
  SGD_THROW(Model, "model '", model_, "' has no parameter '", name, "'");
}

namespace {
// Copies one parameter between its stored layout and canonical row-major order.
void convert(const ParamRef& r, const float* from, float* to, bool to_canonical) {
  if (!r.spec.channels_last) {
    std::copy(from, from + r.count, to);
    return;
  }
  auto& eng = ctx::engine();
  dnnl::memory::dims d(r.spec.dims.begin(), r.spec.dims.end());
  dnnl::memory stored({d, ctx::dt::f32, ctx::tag::acdb}, eng, const_cast<float*>(to_canonical ? from : to));
  dnnl::memory canon({d, ctx::dt::f32, ctx::tag::abcd}, eng, const_cast<float*>(to_canonical ? to : from));
  auto& src = to_canonical ? stored : canon;
  auto& dst = to_canonical ? canon : stored;
  dnnl::reorder(src, dst).execute(ctx::stream(), src, dst);
  ctx::stream().wait();
}
}  // namespace

void Network::read_param(const std::string& name, float* canonical) const {
  auto& r = param(name);
  convert(r, params_.data() + r.offset, canonical, true);
}
void Network::read_grad(const std::string& name, float* canonical) const {
  auto& r = param(name);
  convert(r, grads_.data() + r.offset, canonical, true);
}
void Network::write_param(const std::string& name, const float* canonical) {
  auto& r = param(name);
  convert(r, canonical, params_.data() + r.offset, false);
}

void Network::set_dropout(bool enabled) {
  if (enabled != dropout_) plans_.clear();
  dropout_ = enabled;
}

void Network::set_relu_fusion(bool enabled) {
  if (enabled != fuse_relu_) plans_.clear();
  fuse_relu_ = enabled;
}

int64_t Network::activation_bytes_per_sample() const {
  int64_t floats = input_.numel();
  for (auto& s : shapes_) floats += s.numel();
  return 2 * int64_t(sizeof(float)) * floats;  // values and their gradients
}

using ctx::ThreadScope;

double Network::layer_work(size_t layer, int64_t batch) const {
  const Shape& in = layer_input(layer);
  const double flops = layers_[layer]->forward_flops(in);
  return double(batch) * (flops > 0 ? flops : kElementWork * double(in.numel()));
}

int64_t Network::split_size(int64_t batch, bool training) const {
  if (!training || !state_refs_.empty()) return 0;
  const int64_t max_sub = max_sub_batch(kActivationBudget);
  return batch > max_sub ? max_sub : 0;
}

void Network::check_batch(int64_t batch, bool training, const std::string& what, bool whole_input) const {
  const int64_t sub = split_size(batch, training);
  int64_t b = sub > 0 ? sub : batch;
  double largest = double(input_.numel());
  for (auto& s : shapes_) largest = std::max(largest, double(s.numel()));
  if (sub > 0 && whole_input) {  // a split plan still holds the whole batch's input and logits
    const double whole = double(std::max(input_.numel(), classes_));
    if (double(batch) * whole > double(b) * largest) b = batch, largest = whole;
  }
  const double bytes = double(b) * largest * double(sizeof(float));
  SGD_CHECK(bytes <= kMaxTensorBytes, Model, what, " ", batch, ": model '", model_, "' would hold a tensor of ", count_str(bytes),
            " bytes (", b, " samples x ", count_str(largest), " values), more than the limit of ",
            count_str(kMaxTensorBytes), " (4 GiB): use a smaller ", what);
}

namespace {
std::atomic<bool> g_batch_parallel{env_switch("SGDBENCH_BATCH_PARALLEL", true)};
std::atomic<bool> g_two_lanes{env_switch("SGDBENCH_TWO_LANES", false)};
int64_t env_sub_batch_bytes() {
  const char* e = std::getenv("SGDBENCH_SUB_BATCH_KIB");
  if (!e) return Network::kSubBatchBytes;
  char* end = nullptr;
  errno = 0;
  const long long k = std::strtoll(e, &end, 10);
  if (end != e && *end == '\0' && errno == 0 && k > 0 && k <= (1LL << 30)) return int64_t(k) << 10;
  std::fprintf(stderr, "sgdbench: SGDBENCH_SUB_BATCH_KIB='%s' is not a whole number of KiB in 1..%lld: using %lld\n", e,
               1LL << 30, static_cast<long long>(Network::kSubBatchBytes >> 10));
  return Network::kSubBatchBytes;
}
std::atomic<int64_t> g_sub_batch_bytes{env_sub_batch_bytes()};
}  // namespace

void Network::set_sub_batch_bytes(int64_t bytes) { g_sub_batch_bytes = bytes > 0 ? bytes : kSubBatchBytes; }
int64_t Network::sub_batch_bytes() { return g_sub_batch_bytes; }

void Network::set_two_lanes(bool on) { g_two_lanes = on; }
bool Network::two_lanes() { return g_two_lanes; }

void Network::set_batch_parallel(bool on) { g_batch_parallel = on; }
bool Network::batch_parallel() { return g_batch_parallel; }

int Network::team_size(int64_t batch, bool training) const {
  if (!training || !state_refs_.empty() || !batch_parallel()) return 0;
  if (3.0 * forward_flops() * double(batch) < kSmallStepFlops) return 0;  // a tiny step: one thread
  const int T = ctx::threads();
  if (T < 2 || batch < int64_t(T) * kMinMemberBatch) return 0;
  const double member = double(batch / T);
  return member * train_flops() >= kMinFlopsPerGradient * double(buffer_size()) ? T : 0;
}

int64_t Network::max_sub_batch(int64_t budget) const {
  const int64_t A = activation_bytes_per_sample();
  const int64_t cap = std::max(kMinSubBatch, budget / A);
  const double W = double(buffer_size() * sizeof(float));
  if (W > kWeightHeavySamples * double(A)) return cap;  // weight-heavy: the budget alone
  // Weight traffic per sub-batch (read by each primitive, the gradient accumulated) amortised:
  const auto amortised = int64_t(std::ceil(kSubBatchWeightFactor * W / double(A)));
  return std::min(cap, std::max({kMinSmallSubBatch, sub_batch_bytes() / A, amortised}));
}

Plan& Network::plan(int64_t batch, bool training, bool whole) {
  SGD_CHECK(batch > 0, Internal, "batch size must be positive, got ", batch);
  check_batch(batch, training && !whole, training ? "batch size" : "evaluation batch", true);
  // The kind is decided here, once, and build_plan builds it: whole (the key every plan that
  // runs its batch as one shares, so plan(b, true) and plan(b, true, true) are one plan then),
  // split, or batch-parallel with T members (T in the key: a thread count or switch change
  // builds the plan it asks for).
  const int team = whole ? 0 : team_size(batch, training);
  const bool split = !whole && !team && split_size(batch, training) > 0;
  // One thread for a small step run whole (kWholeStepOneThreadFlops): its own key (-1), so that
  // a sub-plan or an explicit whole plan of the same batch keeps every thread.
  const bool one = !whole && training && !team && !split && ctx::threads() > 1 &&
                   3.0 * forward_flops() * double(batch) < kWholeStepOneThreadFlops;
  auto key = std::make_tuple(batch, training, one ? -1 : team ? 1 + team : split ? 1 : 0);
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  BuildOpts opts{grads_.data(), &dropout_rng_, false, kActivationBudget, team};
  opts.one_thread = one;
  auto p = build_plan(batch, training, !team && !split, opts);
  auto& ref = *p;
  plans_.emplace(key, std::move(p));
  return ref;
}

std::unique_ptr<Plan> Network::build_plan(int64_t batch, bool training, bool whole, const BuildOpts& o) {
  auto p = std::make_unique<Plan>();
  p->batch_ = batch;
  p->training_ = training;
  p->net_ = this;
  p->grads_ = o.grads;
  p->rng_ = o.rng;
  // Tiny steps on one thread: below kSmallStepFlops the fork/join and the threads' cache
  // traffic cost more than the second core gives (measured in issue 11). Primitives are created
  // and run with the same count.
  const double step_flops = (training ? 3.0 : 1.0) * forward_flops() * double(batch);
  p->threads_ = o.member || o.one_thread || step_flops < kSmallStepFlops ? 1 : 0;
  // Two lanes run oneDNN primitives inside a parallel region, as batch-parallel members do: only
  // for models without batch statistics (oneDNN 2.6's batch norm waited there for threads it was
  // not given, a hang).
  const bool lanes =
      training && !o.member && p->threads_ == 1 && state_refs_.empty() && ctx::threads() >= 2 && two_lanes();
  ThreadScope scope(p->threads_);
  p->classes_ = classes_;
  p->first_param_layer_ = first_param_layer();
  p->labels_.assign(size_t(batch), 0);
  auto& eng = ctx::engine();
  std::vector<int64_t> in_dims = input_.batched(batch).dims;
  // The input buffer is the plan's own Tensor, lent to the memory: a memory that allocated its
  // buffer itself frees it at its first set_data_handle (read_input_from), which left a sub-plan
  // or member run on its own after a split or batch-parallel step writing to freed memory.
  p->own_in_buf_ = Tensor(input_.batched(batch));
  p->user_in_ = dnnl::memory(ctx::plain_md(in_dims), eng, p->own_in_buf_.data());
  p->own_in_ = p->own_in_buf_.data();
  const bool may_divide = training && !whole && state_refs_.empty();
  const int T = o.team;
  if (T > 0) {
    p->team_rng_.assign(size_t(T), Rng(0, RngPurpose::Dropout));
    p->team_loss_.resize(size_t(T));
    p->team_grads_.reserve(size_t(T - 1));
    int64_t off = 0;
    for (int t = 0; t < T; ++t) {
      const int64_t b = batch / T + (t < batch % T ? 1 : 0);
      float* g = o.grads;
      if (t > 0) {
        p->team_grads_.emplace_back(Shape{int64_t(buffer_size())});
        g = p->team_grads_.back().data();
      }
      p->team_off_.push_back(off);
      p->team_.push_back(build_plan(b, true, false, BuildOpts{g, &p->team_rng_[size_t(t)], true, o.budget / T, 0}));
      off += b;
    }
    p->logits_all_.assign(size_t(batch * classes_), 0.f);
    return p;
  }
  // Split into k equal sub-batches of at most max_sub samples (k = 1: whole). Batch norm's
  // statistics are per batch, so a model with state never splits.
  const int64_t max_sub = max_sub_batch(o.budget);
  if (may_divide && batch > max_sub) {
    const int64_t k = (batch + max_sub - 1) / max_sub;
    p->sub_batch_ = (batch + k - 1) / k;
    const int64_t last = batch - (k - 1) * p->sub_batch_;
    auto sub = [&](int64_t b) -> Plan* {
      if (!o.member) return &plan(b, true, true);
      p->owned_.push_back(build_plan(b, true, true, o));
      return p->owned_.back().get();
    };
    p->sub_ = sub(p->sub_batch_);
    p->sub_last_ = last == p->sub_batch_ ? p->sub_ : sub(last);
    p->acc_.assign(buffer_size(), 0.f);
    p->logits_all_.assign(size_t(batch * classes_), 0.f);
    return p;
  }
  ctx::ScratchArena arena;  // this plan's primitives share one scratchpad
  auto act_md = ctx::activation_md(in_dims);
  if (act_md == p->user_in_.get_desc() || (in_dims.size() == 4 && in_dims[1] == 1)) {
    // Same bytes (vectors, or single-channel images where NCHW == NHWC): alias, no copy.
    p->net_in_ = dnnl::memory(act_md, eng, p->user_in_.get_data_handle());
  } else {
    p->net_in_ = dnnl::memory(act_md, eng);
    p->in_reorder_ = ctx::Reorder(p->user_in_, p->net_in_);
    p->reorder_in_ = true;
  }

  dnnl::memory src = p->net_in_;
  size_t r = 0;
  for (auto& layer : layers_) {
    const size_t li = size_t(&layer - &layers_[0]);
    BuildArgs a;
    a.fused_relu = relu_fused(li);
    a.relu_after = li + 1 < layers_.size() && relu_fused(li + 1);
    a.relu_grad_moved = relu_grad_in_pool(li);
    a.relu_grad_in_pool = li > 0 && relu_grad_in_pool(li - 1);
    a.batch = batch;
    a.src = src;
    a.training = training;
    a.dropout = dropout_;
    a.dropout_rng = o.rng;
    a.weights_lane = lanes;
    for (; r < refs_.size() && refs_[r].layer == li; ++r) {
      a.params.push_back(params_.data() + refs_[r].offset);
      a.grads.push_back(o.grads + refs_[r].offset);
    }
    for (auto& s : state_refs_)
      if (s.layer == li) a.state.push_back(state_.data() + s.offset);
    p->layer_threads_.push_back(p->threads_ == 0 && layer_work(li, batch) < kSmallLayerWork ? 1 : p->threads_);
    ThreadScope layer_scope(p->layer_threads_.back());  // primitives run as they were created
    p->execs_.push_back(layer->build(a));
    src = p->execs_.back()->dst;
  }
  if (training) {
    p->diff_logits_ = dnnl::memory(ctx::activation_md({batch, classes_}), eng);
    dnnl::memory diff = p->diff_logits_;
    for (auto e = p->execs_.rbegin(); e != p->execs_.rend(); ++e) {
      (*e)->bind_backward(diff);
      diff = (*e)->diff_src;
    }
    // Lane 1 takes every weight gradient that allows it (those built for it: weights_lane), and
    // runs only when those of the layers above the first come to kTwoLaneMinFlops: the first
    // layer's can only start when lane 0 is done, so it overlaps nothing (keras_mnist_cnn, with
    // only a 128 x 10 dense layer above its first, and keras_mnist_mlp, whose large layers fuse,
    // were 10-17% slower with two lanes). Computing the first layer's on lane 0 instead was
    // slower, and so was giving each pass a scratchpad of its own instead of lane 1's shared
    // buffer. See Network::set_two_lanes for why it is off by default.
    double overlap_flops = 0;
    for (size_t i = p->execs_.size(); lanes && i-- > p->first_param_layer_;)
      if (p->execs_[i]->weights_beside_data()) {
        p->lane1_.push_back(i);
        if (i > p->first_param_layer_) overlap_flops += layer_work(i, batch);
      }
    if (overlap_flops < kTwoLaneMinFlops) p->lane1_.clear();
  }
  p->scratch_ = arena.close();
  return p;
}

void Plan::read_input_from(float* p) {
  void* h = p ? static_cast<void*>(p) : own_in_;
  user_in_.set_data_handle(h);
  if (!reorder_in_ && net_in_) net_in_.set_data_handle(h);  // the first layer reads the input itself (a split plan has none)
}

// Sub-plans and members read their input where it lies in the caller's batch; they are kept and
// reused: give them their own buffers back however the step ends.
template <class Plans>
struct Plan::RestoreInputs {
  const Plans& plans;
  ~RestoreInputs() {
    for (auto& q : plans) try {  // Plan* or unique_ptr<Plan>
        q->set_weights_unchanged(false);
        q->read_input_from(nullptr);
      } catch (...) {  // set_data_handle on a CPU memory does not fail; never throw from here
      }
  }
};

// Split plans: f(sub-plan, offset, size) for each sub-batch in order, the sub-plan reading its
// input in place (no copy: 2.5 MB per 205-image lenet_cifar sub-batch) and its labels copied.
// The weights cannot change between sub-batches, so a sub-plan's second and later runs keep the
// weight copies in its primitives' layouts that its first made (keras_cifar_cnn at batch 128:
// 11 sub-batches of 11, each saving 4 reorders of 37k-74k floats).
template <class F>
void Plan::for_each_sub(F f) {
  const int64_t P = net_->input_shape().numel();
  float* in = input();
  Plan* const subs[2] = {sub_, sub_last_};
  RestoreInputs<decltype(subs)> restore{subs};  // also clears weights_unchanged
  for (int64_t off = 0; off < batch_; off += sub_batch_) {
    const int64_t b = std::min(sub_batch_, batch_ - off);
    Plan& q = b == sub_batch_ ? *sub_ : *sub_last_;
    // The first sub-batch is a full one (sub_batch_ < batch_), so a full one after it finds
    // sub_'s copies made; a shorter last one runs sub_last_ once.
    q.set_weights_unchanged(off > 0 && b == sub_batch_);
    q.read_input_from(in + off * P);
    std::copy_n(labels_.data() + off, b, q.labels());
    f(q, off, b);
    std::copy_n(q.logits(), b * classes_, logits_all_.data() + off * classes_);
  }
}

// Batch-parallel plans: f(member) for every member, side by side on the caller's threads (up to
// one per member; with fewer, as OpenMP inside a parallel region or OMP_DYNAMIC may give, a
// thread runs several in turn), each member reading its share of the batch in place; then the
// members' gradients are summed into the network's (member 0 wrote there) by the same threads,
// and the logits gathered. The dropout masks of a step are drawn from one key of the network's
// generator, a stream per member: the same for a seed and a thread count.
template <class F>
void Plan::run_team(F f, bool reduce) {
  const size_t T = team_.size();
  const int64_t P = net_->input_shape().numel();
  float* in = input();
  RestoreInputs<decltype(team_)> restore{team_};
  if (rng_ && training_) {
    const uint64_t key = rng_->next();
    for (size_t t = 0; t < T; ++t) team_rng_[t] = Rng(key, RngPurpose::Dropout, t);
  }
  for (size_t t = 0; t < T; ++t) {
    Plan& m = *team_[t];
    m.read_input_from(in + team_off_[t] * P);
    std::copy_n(labels_.data() + team_off_[t], m.batch(), m.labels());
  }
  const size_t n = net_->buffer_size();
  std::exception_ptr error;
  const int want = int(std::min<size_t>(T, size_t(std::max(1, ctx::threads()))));
#pragma omp parallel num_threads(want)
  {
    const size_t k = size_t(omp_get_thread_num()), got = size_t(omp_get_num_threads());
    {
      ThreadScope one(1);
      for (size_t t = k; t < T; t += got) {
        try {
          f(*team_[t], t);
        } catch (...) {
#pragma omp critical(sgdbench_team_error)
          if (!error) error = std::current_exception();
        }
      }
    }
    if (reduce) {
#pragma omp barrier
      // Each thread sums one slice (whole 64-byte lines) of every member's gradient into member 0's.
      const size_t per = (n + got * 16 - 1) / (got * 16) * 16;
      const size_t lo = std::min(n, k * per), hi = std::min(n, lo + per);
      float* g0 = team_[0]->grads_;
      for (size_t t = 1; t < T; ++t) {
        const float* gt = team_[t]->grads_;
#pragma omp simd
        for (size_t j = lo; j < hi; ++j) g0[j] += gt[j];
      }
    }
  }
  if (error) std::rethrow_exception(error);
  for (size_t t = 0; t < T; ++t)
    std::copy_n(team_[t]->logits(), team_[t]->batch() * classes_, logits_all_.data() + team_off_[t] * classes_);
}

void Plan::forward() {
  if (!team_.empty()) {
    return run_team([](Plan& m, size_t) { m.forward(); }, false);
  }
  if (sub_batch_) return for_each_sub([](Plan& q, int64_t, int64_t) { q.forward(); });
  ThreadScope scope(threads_);
  if (reorder_in_) in_reorder_.execute(user_in_, net_in_);
  for (size_t i = 0; i < execs_.size(); ++i) {
    ThreadScope layer_scope(layer_threads_[i]);
    execs_[i]->forward();
  }
  ctx::stream().wait();
}

const float* Plan::logits() const {
  if (sub_batch_ || !team_.empty()) return logits_all_.data();
  return static_cast<const float*>(execs_.back()->dst.get_data_handle());
}

LossResult Plan::forward_loss(double grad_scale) {
  const double scale = grad_scale < 0 ? 1.0 / double(batch_) : grad_scale;
  if (!team_.empty()) {
    // Each member's gradient scaled by 1/batch (not 1/member batch), summed: the batch mean.
    auto& parts = team_loss_;  // sized when the plan was built: the step allocates nothing
    run_team([&](Plan& m, size_t t) {
      parts[t] = m.forward_loss(scale);
      m.backward();
    }, training_);
    LossResult r;
    for (size_t t = 0; t < parts.size(); ++t) {
      r.loss += parts[t].loss * double(team_[t]->batch());
      r.correct += parts[t].correct;
    }
    r.loss /= double(batch_);
    return r;
  }
  if (sub_batch_) {
    // Each sub-batch's gradient, scaled by 1/batch (not 1/sub-batch), summed: the batch mean.
    LossResult r;
    const size_t n = net_->buffer_size();
    float* acc = acc_.data();
    const float* g = grads_;
    for_each_sub([&](Plan& q, int64_t off, int64_t b) {
      LossResult l = q.forward_loss(scale);
      q.backward();
      if (off == 0) {
        std::copy_n(g, n, acc);
      } else {
        parallel_for(int64_t(n), n >= (size_t(1) << 16), [&](int64_t j) { acc[j] += g[j]; });
      }
      r.loss += l.loss * double(b);
      r.correct += l.correct;
    });
    std::copy_n(acc, n, grads_);
    r.loss /= double(batch_);
    return r;
  }
  forward();
  ThreadScope scope(threads_);
  float* diff = training_ ? static_cast<float*>(diff_logits_.get_data_handle()) : nullptr;
  return softmax_cross_entropy(logits(), labels_.data(), batch_, classes_, diff, scale);
}

void Plan::backward() { backward(nullptr); }

const std::vector<const float*>& Plan::backward(const FusedSgd* sgd) {
  SGD_CHECK(training_, Internal, "backward() on an inference plan");
  fused_.clear();
  if (sub_batch_ || !team_.empty()) return fused_;  // done in forward_loss
  const int caller = ctx::threads();
  const bool lanes = !lane1_.empty() && caller >= 2;
  ThreadScope scope(threads_);
  if (lanes) {
    backward_two_lanes(sgd);
    ctx::stream().wait();
    return fused_;
  }
  // A fused pass (batch 1: the step's primitives on one thread) may spread its weight matrix over
  // the caller's threads: its column blocks are independent (dense_fused.hpp).
  FusedSgd spread;
  if (sgd) {
    spread = *sgd, spread.threads = caller;
    sgd = &spread;
  }
  // Layers before the first one with parameters need no gradient: the loop stops there, and
  // that layer computes its weight gradient only (keras_mnist_mlp's flatten -> dense1 would
  // otherwise compute a 784-wide input gradient nobody reads: a third of its step).
  for (size_t i = execs_.size(); i-- > first_param_layer_;) backward_layer(i, sgd, true);
  ctx::stream().wait();
  return fused_;
}

// Layer i's backward: its input gradient unless it is the first layer with parameters, and its
// weight gradient unless !weights (lane 1 computes it), fused with the SGD update where it can.
void Plan::backward_layer(size_t i, const FusedSgd* sgd, bool weights) {
  ThreadScope layer_scope(layer_threads_[i]);
  const bool need_diff_src = i > first_param_layer_;
  if (!weights) {
    if (need_diff_src) execs_[i]->backward_data();
    return;
  }
  if (sgd) {
    if (const float* w = execs_[i]->backward_fused(need_diff_src, *sgd)) {
      fused_.push_back(w);
      return;
    }
  }
  execs_[i]->backward(need_diff_src);
}

// Lane 0 walks down the layers as the one-lane loop does, leaving the weight gradients of lane1_
// to lane 1, and publishes how far it got: when it starts layer i, the diff_dst of every layer
// from i up is final (nothing below writes them: in-place layers write their own diff_dst, which
// is the input gradient of the layer above, never a weight pass's input). Lane 1 runs each of its
// layers once lane 0 has reached it. Neither lane writes what the other reads, so lane 0 never
// waits; lane 1 spins briefly, then yields (two processes side by side must not starve each other).
void Plan::backward_two_lanes(const FusedSgd* sgd) {
  std::atomic<size_t> reached{execs_.size()};
  std::atomic<bool> stop{false};
  std::exception_ptr error;
  auto fail = [&] {
#pragma omp critical(sgdbench_lane_error)
    if (!error) error = std::current_exception();
    stop = true;
  };
#pragma omp parallel num_threads(2)
  {
    ThreadScope one(1);
    if (omp_get_thread_num() == 0) {
      // Given one thread (OMP_DYNAMIC, or nested in another region), it computes every pass itself.
      const bool alone = omp_get_num_threads() < 2;
      try {
        size_t next = 0;
        for (size_t i = execs_.size(); i-- > first_param_layer_;) {
          reached.store(i, std::memory_order_release);
          const bool theirs = !alone && next < lane1_.size() && lane1_[next] == i;
          if (theirs) ++next;
          backward_layer(i, sgd, !theirs);
          if (stop.load(std::memory_order_relaxed)) break;
        }
      } catch (...) {
        fail();
      }
    } else {
      try {
        for (size_t j : lane1_) {
          for (unsigned spins = 0;
               reached.load(std::memory_order_acquire) > j && !stop.load(std::memory_order_relaxed);)
            if (++spins < 4096)
              _mm_pause();
            else
              std::this_thread::yield();
          if (stop.load(std::memory_order_relaxed)) break;
          ThreadScope layer_scope(layer_threads_[j]);
          execs_[j]->backward_weights();
        }
      } catch (...) {
        fail();
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace sgdbench
