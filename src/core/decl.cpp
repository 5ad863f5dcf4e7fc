// Field declarations: checking, defaults, descriptions (see decl.hpp).
#include "core/decl.hpp"

#include <algorithm>
#include <cmath>

namespace sgdbench {

using json = nlohmann::json;

std::string suggest(const std::string& s, const std::vector<std::string>& known) {
  std::string best;
  size_t best_d = std::max<size_t>(2, s.size() / 3) + 1;
  for (auto& k : known) {
    std::vector<size_t> prev(k.size() + 1), cur(k.size() + 1);
    for (size_t j = 0; j <= k.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= s.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= k.size(); ++j)
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (s[i - 1] == k[j - 1] ? 0 : 1)});
      std::swap(prev, cur);
    }
    if (prev[k.size()] < best_d) best_d = prev[k.size()], best = k;
  }
  return best;
}

std::string did_you_mean(const std::string& s, const std::vector<std::string>& known) {
  std::string m = suggest(s, known);
  return m.empty() ? "" : " (did you mean '" + m + "'?)";
}

std::string unknown_name(const std::string& what, const std::string& s, const std::vector<std::string>& known) {
  return "unknown " + what + " '" + s + "'" + did_you_mean(s, known) + "; known: " + join(known);
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

FieldDecl FieldDecl::integer(std::string name, json def, double min, double max, std::string doc) {
  FieldDecl f;
  f.name = std::move(name), f.type = Type::Int, f.def = std::move(def), f.min = min, f.max = max;
  f.doc = std::move(doc);
  return f;
}
FieldDecl FieldDecl::number(std::string name, json def, double min, double max, std::string doc, bool min_open,
                            bool max_open) {
  FieldDecl f;
  f.name = std::move(name), f.type = Type::Number, f.def = std::move(def), f.min = min, f.max = max;
  f.min_open = min_open, f.max_open = max_open, f.doc = std::move(doc);
  return f;
}
FieldDecl FieldDecl::boolean(std::string name, bool def, std::string doc) {
  FieldDecl f;
  f.name = std::move(name), f.type = Type::Bool, f.def = def, f.doc = std::move(doc);
  return f;
}
FieldDecl FieldDecl::word(std::string name, json def, std::vector<std::string> words, std::string doc) {
  FieldDecl f;
  f.name = std::move(name), f.type = Type::String, f.def = std::move(def), f.words = std::move(words);
  f.doc = std::move(doc);
  return f;
}
FieldDecl FieldDecl::int_or_word(std::string name, json def, double min, double max, std::vector<std::string> words,
                                 std::string doc) {
  FieldDecl f = integer(std::move(name), std::move(def), min, max, std::move(doc));
  f.type = Type::IntOrWord, f.words = std::move(words);
  return f;
}

FieldDecl FieldDecl::text(std::string name, json def, std::string doc) {
  FieldDecl f;
  f.name = std::move(name), f.type = Type::String, f.def = std::move(def), f.doc = std::move(doc);
  return f;
}
FieldDecl FieldDecl::list(std::string name, json def, bool integers, size_t length, double min, double max,
                          std::string doc) {
  FieldDecl f = number(std::move(name), std::move(def), min, max, std::move(doc));
  f.type = integers ? Type::IntList : Type::NumberList, f.length = length;
  return f;
}
FieldDecl FieldDecl::nested(std::string name, std::shared_ptr<const KindDecl> object, std::string doc) {
  FieldDecl f;
  f.name = std::move(name), f.type = Type::Object, f.def = json::object(), f.object = std::move(object);
  f.doc = std::move(doc);
  return f;
}

namespace {
std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char b[32];
  if (v == std::floor(v) && std::fabs(v) < 1e16)
    std::snprintf(b, sizeof b, "%.0f", v);  // integers in full: 9007199254740991, not 9.007e+15
  else
    std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}
}  // namespace

std::string FieldDecl::range() const {
  const bool ints = type == Type::Int || type == Type::IntOrWord || type == Type::IntList;
  std::string what = ints ? "integer" : "number";
  std::string r;
  bool lo = std::isfinite(min), hi = std::isfinite(max);
  if (type == Type::Bool) return "true or false";
  if (type == Type::String) return words.empty() ? "a string" : "one of " + join(words);
  if (type == Type::Object) return "an object with fields " + join(object->field_names());
  if (type == Type::IntList || type == Type::NumberList) {
    FieldDecl e = *this;
    e.type = ints ? Type::Int : Type::Number;
    const std::string each = e.range().substr(what.size());  // " in [1, 4096]", " >= 0" or ""
    return "a list of " + (length ? std::to_string(length) + " " : std::string()) + what + "s" +
           (each.empty() ? "" : "," + each.substr(0, 1) + "each" + each);
  }
  if (lo && hi)
    r = what + " in " + (min_open ? "(" : "[") + num(min) + ", " + num(max) + (max_open ? ")" : "]");
  else if (lo)
    r = what + (min_open ? " > " : " >= ") + num(min);
  else if (hi)
    r = what + (max_open ? " < " : " <= ") + num(max);
  else
    r = what;
  if (type == Type::IntOrWord) r += " or one of " + join(words);
  return r;
}

json FieldDecl::describe() const {
  static const char* types[] = {"integer",        "number",         "boolean", "string",
                                "integer_or_string", "integer_list", "number_list", "object"};
  json j = {{"name", name}, {"type", types[int(type)]}, {"required", def.is_null()}, {"range", range()}, {"doc", doc}};
  if (!def.is_null() && type != Type::Object) j["default"] = def;
  if (length) j["length"] = length;
  if (object) j["fields"] = object->describe()["fields"];
  if (std::isfinite(min)) j["min"] = min, j["min_exclusive"] = min_open;
  if (std::isfinite(max)) j["max"] = max, j["max_exclusive"] = max_open;
  if (!words.empty()) j["words"] = words;
  return j;
}

json KindDecl::describe() const {
  json f = json::array();
  for (auto& x : fields) f.push_back(x.describe());
  return {{"name", name}, {"display", display.empty() ? name : display}, {"doc", doc}, {"fields", f}};
}

std::vector<std::string> KindDecl::field_names() const {
  std::vector<std::string> n;
  for (auto& f : fields) n.push_back(f.name);
  return n;
}

json resolve_fields(const KindDecl& decl, const json& obj, const std::string& where, const std::string& path,
                    ErrorKind kind, const PathNamer& shown) {
  auto fail = [&](const std::string& p, const std::string& msg) -> void {
    throw Error(kind, where + ": " + (shown ? shown(p) : p) + ": " + msg);
  };
  auto sub = [&](const std::string& k) { return path.empty() ? k : path + "." + k; };
  if (!obj.is_null() && !obj.is_object())
    fail(path, "expected an object of fields (" + join(decl.field_names()) + "), got " + obj.type_name());
  const auto names = decl.field_names();
  if (obj.is_object())
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (std::find(names.begin(), names.end(), it.key()) != names.end()) continue;
      fail(sub(it.key()), "unknown field '" + it.key() + "' of " + decl.name + did_you_mean(it.key(), names) +
                              (names.empty() ? "; it has no fields" : "; known: " + join(names)));
    }
  json out = json::object();
  for (auto& f : decl.fields) {
    const std::string p = sub(f.name);
    if (!obj.is_object() || !obj.contains(f.name)) {
      if (f.def.is_null()) fail(p, "missing (" + f.range() + ": " + f.doc + ")");
      out[f.name] = f.type == FieldDecl::Type::Object ? resolve_fields(*f.object, json(), where, p, kind, shown) : f.def;
      continue;
    }
    const json& v = obj[f.name];
    auto bad = [&] {
      std::string got = v.dump();
      if (got.size() > 60) got = got.substr(0, 57) + "...";
      fail(p, "expected " + f.range() + ", got " + got);
    };
    auto in_range = [&](const json& x, bool integer) {
      if (!x.is_number() || (integer && !x.is_number_integer())) return false;
      double d = x.get<double>();
      return std::isfinite(d) && d >= f.min && d <= f.max && !(f.min_open && d == f.min) && !(f.max_open && d == f.max);
    };
    switch (f.type) {
      case FieldDecl::Type::Object:
        out[f.name] = resolve_fields(*f.object, v, where, p, kind, shown);
        continue;
      case FieldDecl::Type::IntList:
      case FieldDecl::Type::NumberList:
        if (!v.is_array() || (f.length && v.size() != f.length)) bad();
        for (auto& e : v)
          if (!in_range(e, f.type == FieldDecl::Type::IntList)) bad();
        break;
      case FieldDecl::Type::Bool:
        if (!v.is_boolean()) bad();
        break;
      case FieldDecl::Type::String:
        if (!v.is_string() ||
            (!f.words.empty() && std::find(f.words.begin(), f.words.end(), v.get<std::string>()) == f.words.end()))
          bad();
        break;
      case FieldDecl::Type::IntOrWord:
        if (v.is_string()) {
          if (std::find(f.words.begin(), f.words.end(), v.get<std::string>()) == f.words.end()) bad();
          break;
        }
        [[fallthrough]];
      case FieldDecl::Type::Int:
      case FieldDecl::Type::Number:
        if (!in_range(v, f.type != FieldDecl::Type::Number)) bad();
        break;
    }
    out[f.name] = v;
  }
  return out;
}

std::vector<std::string> kind_names(const std::vector<KindDecl>& decls) {
  std::vector<std::string> n;
  for (auto& d : decls) n.push_back(d.name);
  return n;
}

const KindDecl& find_kind(const std::vector<KindDecl>& decls, const std::string& name, const std::string& what,
                          const std::string& where, const std::string& path, ErrorKind kind, const std::string& note) {
  for (auto& d : decls)
    if (d.name == name) return d;
  throw Error(kind, where + ": " + path + ": " + unknown_name(what, name, kind_names(decls)) + note);
}

}  // namespace sgdbench
