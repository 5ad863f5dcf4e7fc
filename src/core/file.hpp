// Reading small text inputs (specs, model descriptions) with an explicit size limit: a FIFO, a
// device or a huge file is refused before anything is read or allocated.
#pragma once
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.hpp"

namespace sgdbench {

constexpr size_t kMaxTextFileBytes = size_t(16) << 20;  // 16 MiB: specs and model descriptions

// Whole file as a string; Error(kind) "<path>: <problem>" when it is missing, not a regular
// file, larger than max_bytes or unreadable. `what` names it in messages ("spec file").
std::string read_text_file(const std::string& path, ErrorKind kind, const std::string& what,
                           size_t max_bytes = kMaxTextFileBytes);

// Parses JSON text; Error(kind) "<where>: invalid JSON at line L, column C: ..." on a syntax error.
nlohmann::ordered_json parse_json(const std::string& text, const std::string& where, ErrorKind kind);

}  // namespace sgdbench
