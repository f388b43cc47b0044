#include "stores/export.h"

#include <algorithm>
#include <array>
#include <istream>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "db/transaction.h"
#include "stores/transfer.h"
#include "stores/validate.h"

namespace cairn::detail {
namespace {

constexpr const char* kFormat = "cairn-export";
constexpr int kVersion = 1;
// A line holds one record; the largest is a torrent with 16 MiB of metainfo
// (about 22 MiB as base64).
constexpr std::size_t kMaxLineBytes = 32u << 20;
// Lines nest a record inside {"record": ...}; free-form fields go deeper.
constexpr int kLineDepthAllowance = 4;

// Referenced kinds come before the kinds that name them (pools, then blocks).
const std::array<const KindTransfer*, 7> kExportOrder = {
    &kConfigTransfer,        &kPoolTransfer,    &kAppTransfer, &kMemoryBlockTransfer,
    &kTorrentSessionTransfer, &kTorrentTransfer, &kKvTransfer,
};

// By any of the kind's names (kind_from_string: "memory_block" or "block").
const KindTransfer* transfer_for(std::string_view name) {
  Kind kind{};
  try {
    kind = kind_from_string(name);
  } catch (const Error&) {
    return nullptr;
  }
  for (const KindTransfer* t : kExportOrder) {
    if (kind == t->kind) return t;
  }
  return nullptr;
}

bool wanted(const ExportOptions& options, Kind kind) {
  return options.kinds.empty() ||
         std::find(options.kinds.begin(), options.kinds.end(), kind) != options.kinds.end();
}

nlohmann::json header() { return {{"format", kFormat}, {"version", kVersion}}; }

[[noreturn]] void bad_line(std::size_t line, std::string_view problem) {
  throw Error(errc::invalid_argument, fmt::format("line {}: {}", line, problem));
}

// Deepest nesting of arrays and objects in JSON text, counted without
// parsing: a hostile line is refused before any recursive work is done.
int nesting_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// nlohmann::json::parse keeps the last of two equal keys in an object
// without a word; a line that says two things for one field is refused
// instead, naming the key. One set of keys per open object or array.
nlohmann::json parse_refusing_duplicates(const std::string& text) {
  std::vector<std::set<std::string>> open;
  const auto check = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start || event == Event::array_start) {
      open.emplace_back();
    } else if (event == Event::object_end || event == Event::array_end) {
      if (!open.empty()) open.pop_back();
    } else if (event == Event::key && !open.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open.back().insert(key).second) {
        throw Error(errc::invalid_argument,
                    fmt::format("duplicate key \"{}\"", key.substr(0, 48)));
      }
    }
    return true;
  };
  return nlohmann::json::parse(text, check);
}

struct Line {
  std::size_t number = 0;
  const KindTransfer* transfer = nullptr;
  nlohmann::json record{};
};

// Reads one line (without its '\n'); false at the end of input.
bool read_line(std::istream& in, std::string& line, std::size_t number) {
  line.clear();
  char c = 0;
  bool any = false;
  while (in.get(c)) {
    any = true;
    if (c == '\n') return true;
    if (line.size() == kMaxLineBytes) {
      bad_line(number, fmt::format("longer than {} bytes", kMaxLineBytes));
    }
    line += c;
  }
  return any;
}

Line parse_line(std::size_t number, const std::string& text, int max_depth) {
  if (nesting_depth(text) > max_depth + kLineDepthAllowance) {
    bad_line(number, fmt::format("nested deeper than {} levels", max_depth));
  }
  nlohmann::json j;
  try {
    j = parse_refusing_duplicates(text);
  } catch (const nlohmann::json::exception& e) {
    bad_line(number, fmt::format("not valid JSON: {}", e.what()));
  } catch (const Error& e) {
    bad_line(number, e.what());
  }
  if (!j.is_object() || j.size() != 2 || !j.contains("kind") || !j.contains("record") ||
      !j["kind"].is_string() || !j["record"].is_object()) {
    bad_line(number, "expected {\"kind\": \"...\", \"record\": {...}}");
  }
  const KindTransfer* transfer = transfer_for(j["kind"].get_ref<const std::string&>());
  if (transfer == nullptr) {
    bad_line(number, fmt::format("unknown kind \"{}\"",
                                 j["kind"].get_ref<const std::string&>().substr(0, 32)));
  }
  return Line{number, transfer, std::move(j["record"])};
}

}  // namespace

std::size_t export_jsonl(StoreContext& ctx, std::ostream& out, const ExportOptions& options) {
  std::size_t records = 0;
  const Timestamp now = ctx.now();
  ctx.read([&](db::Connection& conn) {
    // One read transaction: the export is one snapshot while writers go on.
    db::Transaction read(conn, db::Begin::deferred, db::Nesting::join);
    out << header().dump() << '\n';
    for (const KindTransfer* t : kExportOrder) {
      if (!wanted(options, t->kind)) continue;
      t->export_all(conn, now, [&](nlohmann::json&& record) {
        out << nlohmann::json{{"kind", to_string(t->kind)}, {"record", std::move(record)}}.dump()
            << '\n';
        ++records;
        if (options.progress) options.progress(records);
      });
    }
    read.commit();
  });
  out.flush();
  if (!out) throw Error(errc::io_error, "export: the output could not be written");
  return records;
}

ImportResult import_jsonl(StoreContext& ctx, std::istream& in, const ImportOptions& options) {
  ImportResult result;
  std::string text;
  if (!read_line(in, text, 1)) bad_line(1, "empty input: expected the export header");
  result.lines = 1;
  nlohmann::json first;
  try {
    first = parse_refusing_duplicates(text);
  } catch (const nlohmann::json::exception&) {
    bad_line(1, "not a cairn export (no header line)");
  } catch (const Error& e) {
    bad_line(1, e.what());
  }
  if (first != header()) bad_line(1, "not a cairn export of a version this library reads");

  // Everything is read and checked before the transaction starts.
  std::vector<Line> lines;
  while (read_line(in, text, result.lines + 1)) {
    ++result.lines;
    // A blank line (an editor's trailing newline) carries nothing.
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    lines.push_back(parse_line(result.lines, text, ctx.options().max_json_depth));
    if (options.progress) options.progress(result.lines, 0);
  }
  if (in.bad()) throw Error(errc::io_error, "import: the input could not be read");

  ctx.write([&](Writer& w) {
    std::size_t written = 0;
    for (const Line& line : lines) {
      try {
        line.transfer->import_one(w, line.record);
      } catch (const Error& e) {
        throw Error(e.code_value(), fmt::format("line {}: {}", line.number, e.what()),
                    e.sqlite_code());
      } catch (const nlohmann::json::exception& e) {
        bad_line(line.number, e.what());
      }
      if (options.progress) options.progress(++written, lines.size());
    }
    result.records = lines.size();
    if (!lines.empty()) result.revision = w.revision();
  });
  return result;
}

}  // namespace cairn::detail
