// The zoo: parses the embedded models/*.json once (see zoo.hpp). The files are checked by the
// same parser as users' models; a broken zoo file is a bug (Internal) naming the file.
#include "model/zoo.hpp"

#include "core/decl.hpp"
#include "core/error.hpp"
#include "core/file.hpp"
#include "sgdbench/zoo_models.hpp"  // generated: kZooFiles[] = {{"models/x.json", "<text>"}, ...}

namespace sgdbench {

const std::vector<ZooEntry>& zoo() {
  static const std::vector<ZooEntry> z = [] {
    std::vector<ZooEntry> v;
    for (auto& f : kZooFiles) {
      try {
        ModelDesc d = parse_model(nlohmann::json(parse_json(f.text, f.path, ErrorKind::Model)), f.path, "");
        SGD_CHECK(d.input.rank() == 3, Model, f.path, ": a zoo model gives its tutorial \"input\"");
        v.push_back(ZooEntry{d.name, d.summary, d.input, init_from_string(d.init), d});
      } catch (const Error& e) {
        throw Error(ErrorKind::Internal, std::string("zoo file broken: ") + e.what());
      }
    }
    return v;
  }();
  return z;
}

std::vector<std::string> zoo_names() {
  std::vector<std::string> n;
  for (auto& e : zoo()) n.push_back(e.name);
  return n;
}

const ZooEntry& zoo_entry(const std::string& name) {
  for (auto& e : zoo())
    if (e.name == name) return e;
  SGD_THROW(Model, "unknown model '", name, "'", did_you_mean(name, zoo_names()),
            " (known: ", join(zoo_names()), "; or a model description: see README 'Defining your own model')");
}

ModelDesc zoo_model(const std::string& name) { return zoo_entry(name).desc; }

std::unique_ptr<Network> build_model(const std::string& name, const Shape& input, int64_t classes) {
  return build_network(zoo_model(name), input, classes);
}

}  // namespace sgdbench
