// src/dnnl helpers: the tile weight copies (dnnl/tile_reorder.hpp) against oneDNN's own reorder,
// both directions, bit for bit, with the blocked side's padding.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "dnnl/context.hpp"
#include "dnnl/tile_reorder.hpp"

using namespace sgdbench;
using dnnl::memory;
using tag = memory::format_tag;

namespace {
struct Case {
  memory::dims dims;
  tag plain, blocked;
  bool handled;  // with AVX-512
};
}  // namespace

TEST_CASE("tile reorder: equals oneDNN's reorder both ways, padding zero", "[dnnl][reorder]") {
  // The layouts oneDNN 2.6 picks for the zoo's weights on AVX-512, padded shapes, channels-last
  // plain weights (a dense layer after a flatten), and layouts it leaves to oneDNN.
  auto c = GENERATE(Case{{64, 32, 3, 3}, tag::abcd, tag::ABcd16a16b, true},
                    Case{{64, 64, 3, 3}, tag::abcd, tag::ABcd16b16a, true},
                    Case{{64, 64, 3, 3}, tag::abcd, tag::Acdb64a, true},
                    Case{{32, 3, 3, 3}, tag::abcd, tag::Acdb32a, true},
                    Case{{32, 3, 3, 3}, tag::abcd, tag::ABcd16b16a, true},
                    Case{{33, 17, 3, 3}, tag::abcd, tag::ABcd16a16b, true},
                    Case{{6, 3, 5, 5}, tag::abcd, tag::ABcd16b16a, true},
                    Case{{16, 6, 5, 5}, tag::abcd, tag::Acdb16a, true},
                    Case{{10, 64}, tag::ab, tag::AB16b16a, true},
                    Case{{10, 70}, tag::ab, tag::AB16b64a, true},
                    Case{{40, 16, 5, 5}, tag::acdb, tag::Acdb32a, true},
                    Case{{64, 16, 5, 5}, tag::acdb, tag::ABcd16b16a, true},
                    Case{{120, 400}, tag::ab, tag::BA16a64b, false},     // X is the plain side's fast dim
                    Case{{64, 32, 3, 3}, tag::abcd, tag::ABcd8b8a, false},  // blocks of 8 (AVX2)
                    Case{{64, 32, 3, 3}, tag::abcd, tag::acdb, false});     // plain to plain
  CAPTURE(c.dims, int(c.blocked));
  auto& eng = dnnl_ctx::engine();
  memory::desc pmd(c.dims, memory::data_type::f32, c.plain), bmd(c.dims, memory::data_type::f32, c.blocked);
  auto t = dnnl_ctx::TileReorder::make(pmd, bmd);
  if (!dnnl_ctx::tile_reorder_enabled() || !c.handled) {
    REQUIRE_FALSE(t.has_value());
    return;
  }
  REQUIRE(t.has_value());
  memory p(pmd, eng), b_ref(bmd, eng), b(bmd, eng), p_back(pmd, eng);
  const size_t np = pmd.get_size() / 4, nb = bmd.get_size() / 4;
  auto* pv = static_cast<float*>(p.get_data_handle());
  for (size_t i = 0; i < np; ++i) pv[i] = float(i + 1);  // every value distinct and non-zero
  dnnl::reorder(p, b_ref).execute(dnnl_ctx::stream(), p, b_ref);
  dnnl_ctx::stream().wait();
  auto* bv = static_cast<float*>(b.get_data_handle());
  std::memset(bv, 0, nb * 4);
  t->to_blocked(pv, bv);
  const auto* rv = static_cast<const float*>(b_ref.get_data_handle());
  size_t differ = 0, nonzero = 0;
  for (size_t i = 0; i < nb; ++i) {
    differ += bv[i] != rv[i];
    nonzero += bv[i] != 0.f;
  }
  CHECK(differ == 0);
  CHECK(nonzero == np);  // each value once; the padding (nb - np floats) zero
  // Back: from oneDNN's blocked copy with garbage in its padding, which must not leak.
  for (size_t i = 0; i < nb; ++i)
    if (rv[i] == 0.f) const_cast<float*>(rv)[i] = -7.f;
  auto* qv = static_cast<float*>(p_back.get_data_handle());
  std::memset(qv, 0, np * 4);
  t->to_plain(rv, qv);
  CHECK(std::memcmp(qv, pv, np * 4) == 0);
}
