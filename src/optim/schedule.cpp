// Schedule formulas (e = fractional epoch, lr0 = base lr after batch-size scaling):
//   constant lr0 | step lr0*gamma^floor(e/step_size) | multistep lr0*gamma^#{m <= e}
//   exponential lr0*gamma^e | inverse_time lr0/(1+decay*e)
//   cosine lr_min + (lr0-lr_min)*(1+cos(pi*min(e,T)/T))/2 | polynomial lr_min + (lr0-lr_min)*(1-min(e,T)/T)^power
//   warm-up (e < W): schedule(e) * (s + (1-s)*e/W)
#include "optim/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "core/bind.hpp"
#include "core/error.hpp"

namespace sgdbench {

namespace {

using B = Bound<ScheduleConfig>;
using C = ScheduleConfig;
constexpr double kMaxEpochs = 1e6;

B gamma(const char* doc) { return {FieldDecl::number("gamma", 0.1, 0, 1, doc, true), &C::gamma}; }
B lr_min() { return {FieldDecl::number("lr_min", 0.0, 0, 1e6, "the rate's floor"), &C::lr_min}; }
B horizon() {
  return {FieldDecl::number("horizon", 0.0, 0, kMaxEpochs, "epochs to reach lr_min (0 = the run's epoch budget)"),
          &C::horizon};
}

struct SchedDecl {
  KindDecl decl;
  Bindings<C> fields;
};

// Every schedule also takes the warm-up and batch-size scaling fields (common()).
const std::vector<SchedDecl>& schedule_table() {
  static const Bindings<C> common{
      {FieldDecl::number("warmup_epochs", 0.0, 0, kMaxEpochs, "linear warm-up length in epochs (0 = none)"),
       &C::warmup_epochs},
      {FieldDecl::number("warmup_start", 0.0, 0, 1, "the warm-up starts at lr * warmup_start"), &C::warmup_start},
      {FieldDecl::word("scaling", "none", {"none", "linear", "sqrt"},
                       "batch-size scaling of the base lr: lr * (batch/base_batch) or its square root"),
       &C::scaling},
      {FieldDecl::number("base_batch", 32.0, 0, 1e9, "the batch size the base lr is for (scaling)", true),
       &C::base_batch}};
  auto make = [&](std::string name, std::string doc, Bindings<C> f) {
    f.insert(f.end(), common.begin(), common.end());
    KindDecl k = kind_decl<C>(std::move(name), "", std::move(doc), f);
    return SchedDecl{std::move(k), std::move(f)};
  };
  static const std::vector<SchedDecl> t{
      make("constant", "lr0", {}),
      make("step", "lr0 * gamma^floor(epoch / step_size)",
           {gamma("factor per decay"),
            {FieldDecl::number("step_size", 1.0, 0, kMaxEpochs, "epochs between decays", true), &C::step_size}}),
      make("multistep", "lr0 * gamma^(milestones passed)",
           {gamma("factor per milestone"),
            {FieldDecl::list("milestones", nlohmann::json::array(), false, 0, 0, kMaxEpochs,
                             "epochs at which lr *= gamma"),
             &C::milestones}}),
      make("exponential", "lr0 * gamma^epoch", {gamma("factor per epoch")}),
      make("inverse_time", "lr0 / (1 + decay * epoch)",
           {{FieldDecl::number("decay", 1.0, 0, 1e6, "decay per epoch"), &C::decay}}),
      make("cosine", "lr_min + (lr0 - lr_min) * (1 + cos(pi * min(epoch, T) / T)) / 2", {lr_min(), horizon()}),
      make("polynomial", "lr_min + (lr0 - lr_min) * (1 - min(epoch, T) / T)^power",
           {lr_min(), horizon(), {FieldDecl::number("power", 1.0, 0, 1e3, "exponent", true), &C::power}}),
  };
  return t;
}

const SchedDecl* find_schedule(const std::string& name) { return find_by_name(schedule_table(), name); }

}  // namespace

const std::vector<KindDecl>& schedule_decls() {
  static const std::vector<KindDecl> d = decls_of(schedule_table());
  return d;
}

ScheduleConfig ScheduleConfig::from_json(const nlohmann::json& j, const std::string& where, const std::string& path,
                                         const PathNamer& shown) {
  ScheduleConfig c;
  read_named(c, &C::name, j, schedule_decls(), [](const std::string& n) -> const Bindings<C>& {
    return find_schedule(n)->fields;
  }, "schedule", where, path, shown);
  return c;
}

nlohmann::json ScheduleConfig::to_json() const {
  nlohmann::json j = {{"name", name}};
  if (const SchedDecl* d = find_schedule(name)) j.update(write_bound(*this, d->fields));
  return j;
}

void ScheduleConfig::validate(double epochs_budget) const {
  const SchedDecl* d = find_schedule(name);
  if (!d) find_kind(schedule_decls(), name, "schedule", "schedule", "name", ErrorKind::Spec);
  nlohmann::json fields = to_json();
  fields.erase("name");
  resolve_fields(d->decl, fields, "schedule", "", ErrorKind::Spec);  // configs built in code
  if (name == "cosine" || name == "polynomial")
    SGD_CHECK(horizon > 0 || epochs_budget > 0, Spec, "schedule.horizon: ", name,
              " needs a horizon in epochs (or an epoch budget)");
}

Schedule::Schedule(const ScheduleConfig& c, double base_lr, double batch, double epochs_budget) : c_(c) {
  double f = 1;
  if (c.scaling == "linear") f = batch / c.base_batch;
  if (c.scaling == "sqrt") f = std::sqrt(batch / c.base_batch);
  base_ = base_lr * f;
  horizon_ = c.horizon > 0 ? c.horizon : epochs_budget;
}

double Schedule::lr(double e) const {
  double lr = base_;
  const double T = horizon_ > 0 ? horizon_ : 1;
  const double pi = 3.141592653589793;
  if (c_.name == "step")
    lr = base_ * std::pow(c_.gamma, std::floor(e / c_.step_size + 1e-9));
  else if (c_.name == "multistep")
    lr = base_ * std::pow(c_.gamma, double(std::count_if(c_.milestones.begin(), c_.milestones.end(),
                                                         [&](double m) { return m <= e + 1e-9; })));
  else if (c_.name == "exponential")
    lr = base_ * std::pow(c_.gamma, e);
  else if (c_.name == "inverse_time")
    lr = base_ / (1 + c_.decay * e);
  else if (c_.name == "cosine")
    lr = c_.lr_min + (base_ - c_.lr_min) * (1 + std::cos(pi * std::min(e, T) / T)) / 2;
  else if (c_.name == "polynomial")
    lr = c_.lr_min + (base_ - c_.lr_min) * std::pow(1 - std::min(e, T) / T, c_.power);
  if (c_.warmup_epochs > 0 && e < c_.warmup_epochs)
    lr *= c_.warmup_start + (1 - c_.warmup_start) * e / c_.warmup_epochs;
  return lr;
}

}  // namespace sgdbench
