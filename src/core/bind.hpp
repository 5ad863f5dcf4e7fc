// Declarations bound to the members of a config struct: one line per field gives its declaration
// (name, type, default, range, doc) and the member it lives in, so parsing (resolved JSON ->
// struct) and the canonical JSON (struct -> JSON) come from the same list. Not: the checks that
// span several fields (the owner of the struct does those after reading).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "core/decl.hpp"
#include "core/shape.hpp"

namespace sgdbench {

template <class T>
struct Bound {
  using Member = std::variant<double T::*, int64_t T::*, uint64_t T::*, int T::*, bool T::*, std::string T::*,
                              std::vector<double> T::*, Shape T::*, std::shared_ptr<const std::vector<Bound>>>;
  FieldDecl decl;
  Member member;  // a nested object's fields are bound to members of the same struct
};

template <class T>
using Bindings = std::vector<Bound<T>>;

// The declaration of a kind whose fields are `b`.
template <class T>
KindDecl kind_decl(std::string name, std::string display, std::string doc, const Bindings<T>& b) {
  KindDecl k;
  k.name = std::move(name), k.display = std::move(display), k.doc = std::move(doc);
  for (auto& f : b) k.fields.push_back(f.decl);
  return k;
}

// A nested object field ("synthetic": {...}) whose fields are bound to members of T.
template <class T>
Bound<T> nested(std::string name, std::string doc, Bindings<T> fields) {
  auto sub = std::make_shared<const Bindings<T>>(std::move(fields));
  auto k = std::make_shared<KindDecl>(kind_decl<T>(name, "", doc, *sub));
  return Bound<T>{FieldDecl::nested(std::move(name), std::move(k), std::move(doc)), sub};
}

// Reads a resolved object (resolve_fields' output: every field present, checked) into `out`.
template <class T>
void read_bound(T& out, const Bindings<T>& b, const nlohmann::json& resolved) {
  for (auto& f : b) {
    const nlohmann::json& v = resolved.at(f.decl.name);
    std::visit(
        [&](auto m) {
          using M = decltype(m);
          if constexpr (std::is_same_v<M, std::shared_ptr<const Bindings<T>>>)
            read_bound(out, *m, v);
          else if constexpr (std::is_same_v<M, Shape T::*>)
            (out.*m) = Shape(v.template get<std::vector<int64_t>>());
          else {
            using V = std::remove_reference_t<decltype(out.*m)>;
            out.*m = v.template get<V>();
          }
        },
        f.member);
  }
}

// The canonical object of `in`'s bound fields, in declaration order.
template <class T>
nlohmann::json write_bound(const T& in, const Bindings<T>& b) {
  nlohmann::json j = nlohmann::json::object();
  for (auto& f : b)
    std::visit(
        [&](auto m) {
          using M = decltype(m);
          if constexpr (std::is_same_v<M, std::shared_ptr<const Bindings<T>>>)
            j[f.decl.name] = write_bound(in, *m);
          else if constexpr (std::is_same_v<M, Shape T::*>)
            j[f.decl.name] = (in.*m).dims;
          else
            j[f.decl.name] = in.*m;
        },
        f.member);
  return j;
}

// Reads {"name": ..., fields} for a family of kinds whose fields all live in T (the optimizers,
// the schedules, the data sets): the name, checked against `decls` with a suggestion, then the
// fields of that kind (`fields_of(name)` gives its bindings). Error(Spec) names where and path.
template <class T, class FieldsOf>
void read_named(T& out, std::string T::*name, const nlohmann::json& j, const std::vector<KindDecl>& decls,
                FieldsOf fields_of, const std::string& what, const std::string& where, const std::string& path,
                const PathNamer& shown) {
  auto name_of = [&](const std::string& p) { return shown ? shown(p) : p; };
  if (!j.is_object()) throw Error(ErrorKind::Spec, where + ": " + name_of(path) + ": expected a " + what + " name or object");
  if (j.contains("name")) {
    if (!j["name"].is_string())
      throw Error(ErrorKind::Spec, where + ": " + name_of(path + ".name") + ": expected one of " + join(kind_names(decls)));
    out.*name = j["name"].template get<std::string>();
  }
  const KindDecl& d = find_kind(decls, out.*name, what, where, name_of(path + ".name"), ErrorKind::Spec);
  nlohmann::json fields = j;
  fields.erase("name");
  read_bound(out, fields_of(out.*name), resolve_fields(d, fields, where, path, ErrorKind::Spec, shown));
}

// The entry of a table of {decl, ...} entries whose declaration is named `name`, or nullptr.
template <class Table>
const typename Table::value_type* find_by_name(const Table& t, const std::string& name) {
  for (auto& e : t)
    if (e.decl.name == name) return &e;
  return nullptr;
}

// The declarations of a table of {decl, ...} entries, in table order.
template <class Table>
std::vector<KindDecl> decls_of(const Table& t) {
  std::vector<KindDecl> v;
  for (auto& e : t) v.push_back(e.decl);
  return v;
}

}  // namespace sgdbench
