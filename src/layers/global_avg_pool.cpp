// GlobalAvgPool: oneDNN average pooling with one HxW window per channel; backward spreads
// diff_dst / (H*W) over the window.
#include "layers/global_avg_pool.hpp"

#include "layers/pool_exec.hpp"

namespace sgdbench {

Shape GlobalAvgPool::output_shape(const Shape& in) const {
  if (in.rank() != 3) shape_error(in, "expects a CxHxW image");
  return Shape{in[0], 1, 1};
}

std::unique_ptr<LayerExec> GlobalAvgPool::build(const BuildArgs& a) const {
  auto sd = a.src.get_desc().dims();
  // One HxW window per channel, no padding (include/exclude padding agree: every window averages
  // exactly H*W values); dst (N,C,1,1) nhwc is the same bytes as (N,C) nc for the flatten after it.
  return std::make_unique<PoolExec>(a, dnnl::algorithm::pooling_avg_include_padding,
                                    output_shape(Shape{sd[1], sd[2], sd[3]}), sd[2], sd[3], sd[2], sd[3], 0);
}

}  // namespace sgdbench
