// Models as data: the zoo files round-trip (description -> Network -> description), user
// descriptions parse with defaults filled, and every bad description is one Error(Model) naming
// the file, the JSON path and the layer.
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "exp/spec.hpp"
#include "helpers.hpp"
#include "layers/registry.hpp"
#include "model/zoo.hpp"

using namespace sgdbench;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {
std::string model_error(const std::string& text, const Shape& in = Shape{1, 28, 28}) {
  try {
    auto d = parse_model(json::parse(text), "models/x.json", "");
    build_network(d, in, 10);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Model);
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("zoo descriptions round-trip through a Network", "[model][desc]") {
  REQUIRE(zoo().size() >= 5);
  for (auto& e : zoo()) {
    CAPTURE(e.name);
    auto net = build_network(e.desc, e.default_input, 10);
    json back = net->description();
    CHECK(back["name"] == e.name);
    CHECK(back["layers"] == e.desc.layers);
    // Parsing the canonical form again gives the same canonical form.
    auto again = parse_model(e.desc.canonical(), "(canonical)", "");
    CHECK(again.canonical() == e.desc.canonical());
    // And the rebuilt network has the same parameters in the same places.
    auto net2 = build_network(again, e.default_input, 10);
    REQUIRE(net2->param_refs().size() == net->param_refs().size());
    for (size_t i = 0; i < net->param_refs().size(); ++i) {
      CHECK(net2->param_refs()[i].name == net->param_refs()[i].name);
      CHECK(net2->param_refs()[i].offset == net->param_refs()[i].offset);
    }
  }
}

TEST_CASE("a user description gets defaults, generated names, and the class count", "[model][desc]") {
  auto d = parse_model(json::parse(R"({"name": "my_net", "init": "glorot_uniform", "layers": [
      {"conv": {"out": 8, "kernel": 3, "padding": "same"}}, {"relu": {}}, {"max_pool": {"kernel": 2}},
      {"conv": {"out": 4, "kernel": 3, "bias": false}}, {"relu": null}, {"flatten": {}}, {"dense": {"out": "classes"}}]})"),
                       "my.json", "");
  CHECK(d.name == "my_net");
  CHECK(d.layers[0]["conv"]["name"] == "conv1");
  CHECK(d.layers[0]["conv"]["stride"] == 1);
  CHECK(d.layers[0]["conv"]["bias"] == true);
  CHECK(d.layers[3]["conv"]["name"] == "conv2");
  CHECK(d.layers[4]["relu"]["name"] == "relu2");
  CHECK(d.layers[2]["max_pool"]["stride"] == 0);
  auto net = build_network(d, Shape{1, 28, 28}, 7);
  // conv 8 3x3 same on 28x28 -> pool 14x14 -> conv 4 3x3 valid -> 12x12 -> 576 -> 7
  CHECK(net->output_shapes()[2] == (Shape{8, 14, 14}));
  CHECK(net->output_shapes()[3] == (Shape{4, 12, 12}));
  CHECK(net->output_shapes().back() == Shape{7});
  // weights 8*1*9 + 8 bias, 4*8*9 (no bias), dense 576*7 + 7
  CHECK(net->param_count() == 72 + 8 + 288 + 576 * 7 + 7);
  // Batch norm and bias-free parameters are not decayed; weights are.
  for (auto& r : net->param_refs()) CHECK(r.spec.decay == !r.spec.is_bias);
}

TEST_CASE("bad model descriptions name the file, the JSON path and the layer", "[model][desc][bad]") {
  CHECK_THAT(
      model_error(R"({"name": "x", "layers": [{"conv": {"out": 4, "kernel": 3}}, {"rleu": {}}]})"),
      Contains("models/x.json: layers[1]") && Contains("unknown layer 'rleu'") && Contains("did you mean 'relu'"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"conv": {"out": 4}}]})"),
             Contains("models/x.json: layers[0].conv.kernel: missing"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"conv": {"out": -4, "kernel": 3}}]})"),
             Contains("layers[0].conv.out: expected integer in [1,") && Contains("got -4"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"conv": {"out": 4, "kernel": 2.5}}]})"),
             Contains("layers[0].conv.kernel"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"conv": {"out": 4, "kernel": 3, "kernal": 3}}]})"),
             Contains("layers[0].conv.kernal: unknown field") && Contains("did you mean 'kernel'"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"conv": {"out": 4, "kernel": 4, "padding": "same"}}]})"),
             Contains("layers[0].conv") && Contains("odd kernel"));
  // Kernel larger than the input: the layer's place, its name and both shapes.
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"max_pool": {"kernel": 2}},
      {"conv": {"name": "big", "out": 4, "kernel": 29}}, {"flatten": {}}, {"dense": {"out": 10}}]})"),
             Contains("models/x.json: layers[1].conv") && Contains("layer 'big'") && Contains("1x14x14"));
  // A list that does not end in the class count.
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"flatten": {}}, {"dense": {"out": 12}}]})"),
             Contains("models/x.json: layers[1].dense") && Contains("gives 12, expected 10 logits"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"conv": {"out": 4, "kernel": 3}}]})"),
             Contains("gives 4x26x26, expected 10"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"dense": {"out": 10}}]})"),
             Contains("layers[0].dense") && Contains("expects a vector"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": []})"), Contains("layers: expected a non-empty list"));
  CHECK_THAT(model_error(R"({"name": "x"})"), Contains("layers: missing"));
  CHECK_THAT(model_error(R"({"layers": [{"relu": {}}]})"), Contains("name: missing"));
  CHECK_THAT(model_error(R"({"name": "x", "layer": []})"), Contains("did you mean 'layers'"));
  CHECK_THAT(model_error(R"({"name": "x", "init": "he", "layers": [{"relu": {}}]})"),
             Contains("init") && Contains("unknown initialiser 'he'"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"relu": {}, "flatten": {}}]})"), Contains("one kind"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"relu": {"name": "a"}}, {"flatten": {"name": "a"}}]})"),
             Contains("layers[1].flatten.name") && Contains("used twice"));
  CHECK_THAT(model_error(R"({"name": "x", "layers": [{"dropout": {"rate": 1}}]})"),
             Contains("layers[0].dropout.rate: expected number in [0, 1)"));
}

TEST_CASE("a spec's model: zoo name, inline description, or a file relative to the spec", "[model][desc][spec]") {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() / ("sgdbench_models_" + std::to_string(::getpid()));
  fs::create_directories(dir / "models");
  const std::string mlp = R"({"name": "tiny_mlp", "layers": [{"flatten": {}}, {"dense": {"out": 16}}, {"relu": {}},
      {"dense": {"out": "classes"}}]})";
  std::ofstream(dir / "models" / "tiny.json") << mlp;
  const std::string data =
      R"("data": {"name": "synthetic", "synthetic": {"shape": [1, 8, 8], "train": 64, "test": 16}})";
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  auto file_spec =
      write("a.json", R"({"experiment": "a", "base": {"model": {"file": "models/tiny.json"}, )" + data + "}}");
  auto inline_spec = write("b.json", R"({"experiment": "b", "base": {"model": )" + mlp + ", " + data + "}}");
  auto ea = load_spec(file_spec), eb = load_spec(inline_spec);
  REQUIRE(ea.runs.size() == 1);
  CHECK(ea.runs[0].config["model_name"] == "tiny_mlp");
  CHECK(ea.runs[0].config["model"]["layers"].size() == 4);
  // The same description from a file or inline is the same run.
  CHECK(ea.runs[0].id == eb.runs[0].id);
  // A changed layer is another run.
  auto ec = load_spec(write("c.json", R"({"experiment": "c", "base": {"model": {"name": "tiny_mlp", "layers": [
      {"flatten": {}}, {"dense": {"out": 17}}, {"relu": {}}, {"dense": {"out": "classes"}}]}, )" +
                                          data + "}}"));
  CHECK(ec.runs[0].id != ea.runs[0].id);
  // Errors inside an inline description name the spec file and the path through the spec.
  try {
    load_spec(write("d.json", R"({"experiment": "d", "base": {)" + data + R"(}, "grid": {"variants": [{"model":
        {"name": "m", "layers": [{"flatten": {}}, {"dense": {"out": 0}}]}}]}})"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Model);
    CHECK_THAT(e.what(), Contains("d.json: grid.variants[0].model.layers[1].dense.out"));
  }
  // A missing model file is named.
  try {
    load_spec(write("e.json", R"({"experiment": "e", "base": {"model": {"file": "models/none.json"}}})"));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Model);
    CHECK_THAT(e.what(), Contains("models/none.json") && Contains("cannot read the model file"));
  }
  fs::remove_all(dir);
}

TEST_CASE("every layer kind is declared with documented fields", "[model][desc]") {
  for (auto& k : layer_kinds()) {
    CAPTURE(k.decl.name);
    CHECK(!k.decl.doc.empty());
    for (auto& f : k.decl.fields) CHECK(!f.doc.empty());
  }
}
