// The zoo's layer lists (DEVELOPERS.md): lenet (PyTorch CIFAR-10 tutorial), keras_cifar_cnn,
// keras_mnist_mlp, keras_mnist_cnn (Keras examples: valid padding, logits out).
#include "model/zoo.hpp"

#include "core/error.hpp"
#include "layers/conv2d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/flatten.hpp"
#include "layers/max_pool2d.hpp"
#include "layers/relu.hpp"

namespace sgdbench {

const std::vector<ZooEntry>& zoo() {
  static const std::vector<ZooEntry> z = {
      {"lenet", "PyTorch CIFAR-10 tutorial net (conv6-pool-conv16-pool-120-84-10)", {3, 32, 32}, Init::PytorchDefault},
      {"keras_cifar_cnn",
       "Keras CIFAR-10 CNN tutorial (conv32-pool-conv64-pool-conv64-64-10)",
       {3, 32, 32},
       Init::GlorotUniform},
      {"keras_mnist_mlp", "Keras MNIST MLP (128 relu, dropout 0.2, 10)", {1, 28, 28}, Init::GlorotUniform},
      {"keras_mnist_cnn", "Keras MNIST CNN (conv32-pool-128-10)", {1, 28, 28}, Init::GlorotUniform},
  };
  return z;
}

const ZooEntry& zoo_entry(const std::string& name) {
  for (auto& e : zoo())
    if (e.name == name) return e;
  std::string known;
  for (auto& e : zoo()) known += (known.empty() ? "" : ", ") + e.name;
  SGD_THROW(Model, "unknown model '", name, "' (known: ", known, ")");
}

std::unique_ptr<Network> build_model(const std::string& name, const Shape& input, int64_t classes) {
  const auto& entry = zoo_entry(name);
  std::vector<std::unique_ptr<Layer>> L;
  auto add = [&](auto* l) { L.emplace_back(l); };
  if (name == "lenet") {
    add(new Conv2d("conv1", 6, 5));
    add(new Relu("relu1"));
    add(new MaxPool2d("pool1", 2));
    add(new Conv2d("conv2", 16, 5));
    add(new Relu("relu2"));
    add(new MaxPool2d("pool2", 2));
    add(new Flatten("flatten"));
    add(new Dense("fc1", 120));
    add(new Relu("relu3"));
    add(new Dense("fc2", 84));
    add(new Relu("relu4"));
    add(new Dense("fc3", classes));
  } else if (name == "keras_cifar_cnn") {
    add(new Conv2d("conv1", 32, 3));
    add(new Relu("relu1"));
    add(new MaxPool2d("pool1", 2));
    add(new Conv2d("conv2", 64, 3));
    add(new Relu("relu2"));
    add(new MaxPool2d("pool2", 2));
    add(new Conv2d("conv3", 64, 3));
    add(new Relu("relu3"));
    add(new Flatten("flatten"));
    add(new Dense("dense1", 64));
    add(new Relu("relu4"));
    add(new Dense("dense2", classes));
  } else if (name == "keras_mnist_mlp") {
    add(new Flatten("flatten"));
    add(new Dense("dense1", 128));
    add(new Relu("relu1"));
    add(new Dropout("dropout", 0.2));
    add(new Dense("dense2", classes));
  } else if (name == "keras_mnist_cnn") {
    add(new Conv2d("conv1", 32, 3));
    add(new Relu("relu1"));
    add(new MaxPool2d("pool1", 2));
    add(new Flatten("flatten"));
    add(new Dense("dense1", 128));
    add(new Relu("relu2"));
    add(new Dense("dense2", classes));
  }
  (void)entry;
  return std::make_unique<Network>(name, input, classes, std::move(L));
}

}  // namespace sgdbench
