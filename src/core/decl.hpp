// Declarations of named things with fields (layer kinds, optimizers, schedules, data sets): one
// place gives each field's name, type, default, range and doc; parsing with errors that name the
// JSON path, canonical JSON with defaults filled, help text and the exported description all
// come from it. Not: what the fields mean (the owner of each declaration decides that).
#pragma once
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace sgdbench {

struct KindDecl;

struct FieldDecl {
  // String with no words: any string. IntList / NumberList: min/max bound each element, length
  // (0 = any) fixes the count. Object: the fields of `object` (def {} = all defaults).
  enum class Type { Int, Number, Bool, String, IntOrWord, IntList, NumberList, Object };
  std::string name;
  Type type = Type::Number;
  nlohmann::json def;  // null: required
  double min = -std::numeric_limits<double>::infinity(), max = std::numeric_limits<double>::infinity();
  bool min_open = false, max_open = false;  // (min, ...) instead of [min, ...)
  std::vector<std::string> words;           // String / IntOrWord: the allowed words
  size_t length = 0;                        // lists: exact length (0 = any)
  std::shared_ptr<const KindDecl> object;   // Object: its fields
  std::string doc;

  static FieldDecl integer(std::string name, nlohmann::json def, double min, double max, std::string doc);
  static FieldDecl number(std::string name, nlohmann::json def, double min, double max, std::string doc,
                          bool min_open = false, bool max_open = false);
  static FieldDecl boolean(std::string name, bool def, std::string doc);
  static FieldDecl word(std::string name, nlohmann::json def, std::vector<std::string> words, std::string doc);
  static FieldDecl int_or_word(std::string name, nlohmann::json def, double min, double max,
                               std::vector<std::string> words, std::string doc);
  static FieldDecl text(std::string name, nlohmann::json def, std::string doc);  // any string
  static FieldDecl list(std::string name, nlohmann::json def, bool integers, size_t length, double min, double max,
                        std::string doc);
  static FieldDecl nested(std::string name, std::shared_ptr<const KindDecl> object, std::string doc);

  std::string range() const;  // "integer >= 1", "number in [0, 1)", "one of same, valid", ...
  nlohmann::json describe() const;
};

struct KindDecl {
  std::string name, doc;
  std::vector<FieldDecl> fields;
  std::string display = {};  // the name people read in plots and labels ("Adam"); "" = name
  nlohmann::json describe() const;  // {"name", "doc", "fields": [...]}
  std::vector<std::string> field_names() const;
};

// Checks `obj` (an object; null means {}) against decl: unknown fields (with a suggestion),
// missing required ones, types and ranges. Returns the canonical object: every field in
// declaration order, defaults filled. Errors: Error(kind) "<where>: <path>.<field>: problem";
// `shown` (optional) maps a field's path to the name the message gives it (a spec's grid origin).
using PathNamer = std::function<std::string(const std::string&)>;
nlohmann::json resolve_fields(const KindDecl& decl, const nlohmann::json& obj, const std::string& where,
                              const std::string& path, ErrorKind kind, const PathNamer& shown = {});

// The declaration named `name` in `decls`, or Error(kind) "<where>: <path>: unknown <what> 'x'
// (did you mean 'y'?); known: a, b".
const KindDecl& find_kind(const std::vector<KindDecl>& decls, const std::string& name, const std::string& what,
                          const std::string& where, const std::string& path, ErrorKind kind,
                          const std::string& note = "");
std::vector<std::string> kind_names(const std::vector<KindDecl>& decls);

// Closest of `known` to `s` by edit distance, or "" when nothing is close.
std::string suggest(const std::string& s, const std::vector<std::string>& known);
// " (did you mean 'x'?)" with x = suggest(s, known), or "" when nothing is close.
std::string did_you_mean(const std::string& s, const std::vector<std::string>& known);
// The one wording of an unknown name: "unknown <what> '<s>' (did you mean 'x'?); known: a, b".
std::string unknown_name(const std::string& what, const std::string& s, const std::vector<std::string>& known);
// "a, b, c"
std::string join(const std::vector<std::string>& v, const std::string& sep = ", ");

}  // namespace sgdbench
