// Test helpers: random tensors, moving values in and out of oneDNN memories in any layout,
// closeness checks that report the worst element, and a rig that runs one layer by itself.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/rng.hpp"
#include "dnnl/context.hpp"
#include "layers/layer.hpp"
#include "reference/reference.hpp"

namespace sgdbench::test {

inline ref::T random_t(std::vector<int64_t> dims, Rng& rng, double lo = -1, double hi = 1) {
  ref::T t(std::move(dims));
  for (auto& v : t.v) v = double(float(rng.uniform(lo, hi)));  // exactly representable in float
  return t;
}

// Values on a grid of 1/16 in [-1, 1]: products and sums of up to ~10^5 of them are exact in
// float, so comparing oneDNN against the double reference checks indexing and layouts exactly,
// independent of summation order. (Rounding is exercised by the PyTorch goldens.)
inline ref::T random_grid(std::vector<int64_t> dims, Rng& rng) {
  ref::T t(std::move(dims));
  for (auto& v : t.v) v = double(int64_t(rng.below(33)) - 16) / 16.0;
  return t;
}

// Values of `t` (row-major) into a new memory of descriptor md (reordered when md is not plain).
inline dnnl::memory to_memory(const ref::T& t, const dnnl::memory::desc& md) {
  auto& eng = dnnl_ctx::engine();
  dnnl::memory plain(dnnl_ctx::plain_md(t.dims), eng);
  float* p = static_cast<float*>(plain.get_data_handle());
  for (size_t i = 0; i < t.size(); ++i) p[i] = float(t[i]);
  dnnl::memory m(md, eng);
  dnnl::reorder(plain, m).execute(dnnl_ctx::stream(), plain, m);
  dnnl_ctx::stream().wait();
  return m;
}

inline ref::T from_memory(const dnnl::memory& m) {
  auto d = m.get_desc().dims();
  ref::T t(std::vector<int64_t>(d.begin(), d.end()));
  auto& eng = dnnl_ctx::engine();
  dnnl::memory plain(dnnl_ctx::plain_md(t.dims), eng);
  dnnl::reorder(m, plain).execute(dnnl_ctx::stream(), const_cast<dnnl::memory&>(m), plain);
  dnnl_ctx::stream().wait();
  const float* p = static_cast<const float*>(plain.get_data_handle());
  for (size_t i = 0; i < t.size(); ++i) t[i] = p[i];
  return t;
}

inline ref::T from_floats(const float* p, std::vector<int64_t> dims) {
  ref::T t(std::move(dims));
  for (size_t i = 0; i < t.size(); ++i) t[i] = p[i];
  return t;
}

// Every element within rel*|expected| or abs of expected; reports the worst element.
inline void require_close(const std::string& what, const ref::T& actual, const ref::T& expected, double rel,
                          double abs) {
  REQUIRE(actual.size() == expected.size());
  size_t worst = 0, bad = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    double d = std::fabs(actual[i] - expected[i]);
    double tol = std::max(abs, rel * std::fabs(expected[i]));
    if (!(d <= tol)) ++bad;
    double excess = d / tol;
    if (excess > worst_excess || std::isnan(d)) worst_excess = excess, worst = i;
  }
  INFO(what << ": " << bad << " of " << actual.size() << " elements out of tolerance (rel " << rel << ", abs " << abs
            << "); worst at " << worst << ": " << actual[worst] << " vs " << expected[worst]);
  CHECK(bad == 0);
}

// Largest |a-e| over the tensor divided by the largest |e| (relative error in max-norm).
inline double max_norm_rel_error(const ref::T& a, const ref::T& e) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - e[i]));
    den = std::max(den, std::fabs(e[i]));
  }
  return den > 0 ? num / den : num;
}

// Central finite differences of a scalar function f at x (double): checks `analytic` = df/dx.
inline void require_fd_gradient(const std::string& what, ref::T x, const std::function<double(const ref::T&)>& f,
                                const ref::T& analytic, double eps = 1e-6, double rel = 1e-3) {
  ref::T num(x.dims);
  for (size_t i = 0; i < x.size(); ++i) {
    double keep = x[i];
    x[i] = keep + eps;
    double fp = f(x);
    x[i] = keep - eps;
    double fm = f(x);
    x[i] = keep;
    num[i] = (fp - fm) / (2 * eps);
  }
  // Relative to the gradient's scale: elements near zero are judged against the largest one.
  double scale = 0;
  for (auto v : analytic.v) scale = std::max(scale, std::fabs(v));
  require_close(what + " (finite differences)", analytic, num, rel, rel * scale + 1e-9);
}

inline double dot(const ref::T& a, const ref::T& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Runs one layer alone on batch x (row-major dims): parameters from ps (canonical order), state
// buffers (batch norm's running statistics) from `initial_state`, one vector per StateSpec.
struct LayerRig {
  std::vector<std::vector<float>> params, grads, state;
  std::unique_ptr<LayerExec> exec;
  dnnl::memory src, diff_dst;
  Rng dropout_rng{7, RngPurpose::Dropout};

  LayerRig(const Layer& L, const ref::T& x, const std::vector<ref::T>& ps, bool training,
           std::vector<std::vector<float>> initial_state = {}, bool relu_after = false)
      : state(std::move(initial_state)) {
    src = to_memory(x, dnnl_ctx::activation_md(x.dims));
    BuildArgs a;
    a.batch = x.dims[0];
    a.src = src;
    a.training = training;
    a.dropout_rng = &dropout_rng;
    a.relu_after = relu_after;
    for (auto& p : ps) {
      params.emplace_back(p.v.begin(), p.v.end());
      grads.emplace_back(p.size(), -7.f);  // garbage: backward must overwrite
    }
    for (size_t i = 0; i < ps.size(); ++i) {
      a.params.push_back(params[i].data());
      a.grads.push_back(grads[i].data());
    }
    for (auto& st : state) a.state.push_back(st.data());
    exec = L.build(a);
    if (training) {
      diff_dst = dnnl::memory(exec->dst.get_desc(), dnnl_ctx::engine());
      exec->bind_backward(diff_dst);
    }
  }
  ref::T forward() {
    exec->forward();
    dnnl_ctx::stream().wait();
    return from_memory(exec->dst);
  }
  ref::T backward(const ref::T& dy) {
    auto m = to_memory(dy, diff_dst.get_desc());
    std::memcpy(diff_dst.get_data_handle(), m.get_data_handle(), diff_dst.get_desc().get_size());
    exec->backward(true);
    dnnl_ctx::stream().wait();
    return from_memory(exec->diff_src);
  }
  ref::T grad(size_t i, const std::vector<int64_t>& dims) const { return from_floats(grads[i].data(), dims); }
};

// A PyTorch golden from tools/gen_reference.py: tests/data/golden_<name>.json (manifest: shapes
// and offsets) + .bin (float32 tensors back to back).
struct Golden {
  nlohmann::json manifest;
  std::vector<float> data;
  explicit Golden(const std::string& name) {
    std::string base = std::string(SGDBENCH_TEST_DATA) + "/golden_" + name;
    std::ifstream j(base + ".json");
    REQUIRE(j.good());
    j >> manifest;
    std::ifstream b(base + ".bin", std::ios::binary | std::ios::ate);
    REQUIRE(b.good());
    data.resize(size_t(b.tellg()) / 4);
    b.seekg(0);
    b.read(reinterpret_cast<char*>(data.data()), std::streamsize(data.size() * 4));
  }
  std::vector<float> floats(const std::string& name) const {
    auto& t = manifest.at("tensors").at(name);
    const float* p = data.data() + t.at("offset").get<size_t>();
    return std::vector<float>(p, p + t.at("count").get<size_t>());
  }
  ref::T get(const std::string& name) const {
    auto& t = manifest.at("tensors").at(name);
    std::vector<int64_t> dims = t.at("shape").get<std::vector<int64_t>>();
    if (dims.empty()) dims = {1};
    return from_floats(data.data() + t.at("offset").get<size_t>(), dims);
  }
  bool has(const std::string& name) const { return manifest.at("tensors").contains(name); }
};

}  // namespace sgdbench::test
