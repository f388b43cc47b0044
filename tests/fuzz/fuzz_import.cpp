// Fuzz target: `cairn import` input, JSON Lines of typed records
// (Registry::import_records), on arbitrary bytes.
//
// Proves: import is all or nothing, and export/import round-trips:
//   - when import_records throws, it is a cairn::Error (invalid_argument or
//     constraint; an invalid_argument names the line, "line N:", with N a line
//     of the input), and the registry is unchanged: its export and its
//     revision are what they were before;
//   - when it succeeds, it read every line of the input, wrote one record per
//     line after the header, under one new revision (none when there was no
//     record), and exporting the registry, importing that into a fresh
//     registry and exporting again gives the same bytes.
// Anything else escaping the library, or a crash, is a finding.
//
// Input: the bytes are the import stream, as is. The registry imported into
// already holds a few records (a pool, an app in it, a block, a config
// entry), so that imports also replace records; it is reopened after every
// successful import, so each input starts from the same state.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz_common.h"

namespace {

using cairn::errc;

std::unique_ptr<cairn::Registry> fresh_registry(bool with_records) {
  auto reg =
      std::make_unique<cairn::Registry>(cairn::Registry::open_in_memory(fuzz::fuzz_options()));
  if (with_records) {
    reg->pools().put(cairn::Pool{.name = "p", .description = "the fixture's pool"});
    reg->apps().put(cairn::App{.id = "app-1", .pools = {"p"}, .meta = {{"port", 8080}}});
    reg->blocks().put(cairn::MemoryBlock{.id = "block-1", .pool = "p", .size = 42});
    reg->config().save("backupInterval", 60000);
  }
  return reg;
}

std::unique_ptr<cairn::Registry>& target() {
  static std::unique_ptr<cairn::Registry> reg = fresh_registry(true);
  return reg;
}

std::string export_of(cairn::Registry& reg, const char* what) {
  auto text = fuzz::call(what, {}, [&] {
    std::ostringstream out;
    reg.export_records(out);
    return out.str();
  });
  return *text;
}

// The N of an error message "line N: ...", or 0 when it has none.
std::size_t line_number(std::string_view message) {
  constexpr std::string_view kPrefix = "line ";
  if (message.substr(0, kPrefix.size()) != kPrefix) return 0;
  std::size_t n = 0;
  std::size_t i = kPrefix.size();
  for (; i < message.size() && message[i] >= '0' && message[i] <= '9' && n < 1'000'000'000; ++i) {
    n = n * 10 + static_cast<std::size_t>(message[i] - '0');
  }
  return i < message.size() && message[i] == ':' ? n : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  cairn::Registry& reg = *target();
  const std::string before = export_of(reg, "export before import");
  const cairn::Revision revision_before = reg.revision();

  // Lines as import_records counts them: each ended by '\n', plus a last
  // one without it.
  std::size_t lines_in_input = 0;
  for (char c : input) lines_in_input += c == '\n' ? 1 : 0;
  if (!input.empty() && input.back() != '\n') ++lines_in_input;
  // Lines after the header that hold only blanks: import skips them.
  std::size_t blank_lines = 0;
  {
    std::istringstream lines(input);
    std::string line;
    for (std::size_t n = 1; std::getline(lines, line); ++n) {
      if (n > 1 && line.find_first_not_of(" \t\r") == std::string::npos) ++blank_lines;
    }
  }

  cairn::ImportResult result;
  try {
    std::istringstream in(input);
    result = reg.import_records(in);
  } catch (const cairn::Error& e) {
    fuzz::check(
        e.code_value() == errc::invalid_argument || e.code_value() == errc::constraint,
        std::string("import failed with ") + cairn::to_string(e.code_value()) + ": " + e.what());
    if (e.code_value() == errc::invalid_argument) {
      const std::size_t n = line_number(e.what());
      fuzz::check(n >= 1 && n <= std::max<std::size_t>(lines_in_input, 1),
                  "an invalid_argument from import does not name a line of the input: " +
                      std::string(e.what()));
    }
    fuzz::check(reg.revision() == revision_before, "a failed import took a revision");
    const std::string after = export_of(reg, "export after a failed import");
    fuzz::check(after == before, "a failed import changed the registry (" + std::string(e.what()) +
                                     ")\nbefore:\n" + before + "\nafter:\n" + after);
    return 0;
  } catch (const std::exception& e) {
    fuzz::finding(std::string("a non-cairn exception escaped import_records: ") + e.what());
  }

  fuzz::check(result.lines == lines_in_input, "import read " + std::to_string(result.lines) +
                                                  " lines of " + std::to_string(lines_in_input));
  fuzz::check(result.records + 1 + blank_lines == result.lines,
              "import wrote " + std::to_string(result.records) + " records from " +
                  std::to_string(result.lines) + " lines (" + std::to_string(blank_lines) +
                  " blank)");
  fuzz::check(result.records == 0
                  ? reg.revision() == revision_before && result.revision == 0
                  : result.revision == reg.revision() && result.revision > revision_before,
              "the import's revision is not the registry's new one");

  // A successful import round-trips through a fresh registry.
  const std::string first = export_of(reg, "export after import");
  auto copy = fresh_registry(false);
  fuzz::call("import of an export", {}, [&] {
    std::istringstream in(first);
    return copy->import_records(in);
  });
  const std::string second = export_of(*copy, "export of the copy");
  fuzz::check(first == second,
              "export -> import -> export differs\nfirst:\n" + first + "\nsecond:\n" + second);

  target() = fresh_registry(true);
  return 0;
}
