// Reading back the JSON text that cairn itself wrote.
//
// Every JSON column and change-log image holds nlohmann's compact dump, and
// reading it back was the largest cost of a read: nlohmann's lexer copies each
// character into a token buffer and its DOM builder keeps a stack of its own
// (40% of the instructions of "apps in a pool", callgrind). This reader takes
// the compact form in one pass. Anything outside that form (whitespace, a
// number it cannot convert exactly, deep nesting, damaged text) goes to
// nlohmann::json::parse, so the result is always what nlohmann::json::parse
// gives for the same text, errors included.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace cairn::detail {

nlohmann::json parse_stored_json(std::string_view text);

// The fast path alone: true and `out` set when `text` is in the compact form
// it reads; false otherwise (then parse_stored_json asks nlohmann). For tests
// that must know the fast path ran.
bool read_compact_json(std::string_view text, nlohmann::json& out);

// One JSON string at `p` (its opening quote), unescaped into `out` (which it
// appends to), leaving `p` past the closing quote. False, with `p` anywhere,
// for text nlohmann would refuse or read otherwise, and for surrogate \u
// escapes, which are left to nlohmann.
bool read_json_string(const char*& p, const char* end, std::string& out);

// Values are built without nlohmann's parent pointers: a build with
// JSON_DIAGNOSTICS=1 (cairn sets none) would name no path in its messages
// about values read here.

}  // namespace cairn::detail
