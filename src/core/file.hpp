// Reading small text inputs (specs, model descriptions) with an explicit size limit: a FIFO, a
// device or a huge file is refused before anything is read or allocated.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.hpp"

namespace sgdbench {

constexpr size_t kMaxTextFileBytes = size_t(16) << 20;  // 16 MiB: specs and model descriptions

// What `path` is when it is not a regular file with content, in words for an error message, or
// "" when it is one: "not found", "a dangling symbolic link (to T)", "a symbolic link loop",
// "a directory", "a FIFO (named pipe)", "a character device", "a block device", "a socket",
// "a /proc or /sys file (not data on disk)", "an empty file", or strerror's words.
std::string input_file_problem(const std::string& path);

// Whole file as a string; Error(kind) "<path>: <problem>" when it is missing, not a regular
// file, larger than max_bytes or unreadable. `what` names it in messages ("spec file").
std::string read_text_file(const std::string& path, ErrorKind kind, const std::string& what,
                           size_t max_bytes = kMaxTextFileBytes);

// Deepest JSON nesting accepted anywhere (specs, models, --set values, result files): deeper
// documents are refused while parsing, before anything walks them recursively (a 100k-deep list
// would overflow the stack in the error path's re-serialisation).
constexpr int kMaxJsonDepth = 64;

// A parser callback that throws Error(kind) "<where>: JSON nested deeper than 64 levels".
template <class J>
typename J::parser_callback_t json_depth_limit(const std::string& where, ErrorKind kind) {
  return [where, kind](int depth, typename J::parse_event_t, J&) {
    if (depth > kMaxJsonDepth)
      throw Error(kind, where + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return true;
  };
}

// Parses JSON text; Error(kind) "<where>: invalid JSON at line L, column C: ..." on a syntax error
// or nesting deeper than kMaxJsonDepth.
nlohmann::ordered_json parse_json(const std::string& text, const std::string& where, ErrorKind kind);

}  // namespace sgdbench
