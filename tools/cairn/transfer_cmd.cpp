// `cairn export` and `cairn import`: the registry's durable records as JSON
// Lines (Registry::export_records / import_records), for moving them between
// registries and machines and for other tools to read.
//
// export writes the data and nothing else on stdout (or into --output FILE,
// which appears whole or not at all: a 0600 temp file in the same directory,
// fsynced, then renamed); its summary goes to stderr. import is all or
// nothing, and prints what it wrote on stdout like init does.

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <streambuf>
#include <string>
#include <vector>

#include "cairn/backup.h"
#include "cairn/events.h"
#include "cli.h"
#include "progress.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

// --- export --------------------------------------------------------------

struct ExportArgs {
  std::vector<std::string> kinds{};
  std::string output = "-";
};

// The exported kinds, by any of their names (vocabulary.cpp).
Kind export_kind(const std::string& name) {
  const Kind kind = parse_kind(name, "export");
  if (kind == Kind::trigger) fail_usage("export: triggers live in memory only and are not exported");
  if (kind == Kind::registry) fail_usage("export: registry is not a kind of record");
  return kind;
}

[[noreturn]] void fail_io(const std::string& what, const fs::path& path) {
  throw Error(errc::io_error, what + " " + path.string() + ": " + std::strerror(errno));
}

// A 0600 temp file beside the destination, removed unless commit() renamed it.
class TempOutput {
 public:
  explicit TempOutput(const fs::path& destination) : destination_(destination) {
    const fs::path dir =
        destination.parent_path().empty() ? fs::path(".") : destination.parent_path();
    std::string pattern = (dir / ("." + destination.filename().string() + ".tmp-XXXXXX")).string();
    fd_ = ::mkstemp(pattern.data());  // mode 0600
    if (fd_ < 0) fail_io("cannot create a temp file in", dir);
    path_ = pattern;
  }
  TempOutput(const TempOutput&) = delete;
  TempOutput& operator=(const TempOutput&) = delete;
  ~TempOutput() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  const fs::path& path() const { return path_; }

  // fsyncs the temp file, renames it over the destination and fsyncs the
  // directory, so the file is there whole after a crash, or not at all.
  void commit() {
    if (::fsync(fd_) != 0) fail_io("cannot sync", path_);
    if (::rename(path_.c_str(), destination_.c_str()) != 0) fail_io("cannot write", destination_);
    committed_ = true;
    const fs::path dir = path_.parent_path();
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0) fail_io("cannot open", dir);
    const int synced = ::fsync(dir_fd);
    ::close(dir_fd);
    if (synced != 0) fail_io("cannot sync", dir);
  }

 private:
  fs::path destination_;
  fs::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

ExitCode run_export(const Globals& globals, const ExportArgs& args) {
  ExportOptions options;
  for (const std::string& name : args.kinds) options.kinds.push_back(export_kind(name));
  const Registry reg = open_existing_registry(globals, Access::read_only);
  std::size_t records = 0;
  std::string where = "stdout";
  {
    Progress progress(globals, "exporting");
    options.progress = [&progress](std::size_t written) {
      progress.update(written, 0, written == 1 ? "record" : "records");
    };
    if (args.output == "-") {
      records = reg.export_records(std::cout, options);
    } else {
      TempOutput temp(args.output);
      {
        std::ofstream out(temp.path(), std::ios::binary | std::ios::trunc);
        if (!out) fail_io("cannot write", temp.path());
        records = reg.export_records(out, options);
        out.close();
        if (!out) fail_io("cannot write", temp.path());
      }
      temp.commit();
      where = args.output;
    }
  }
  if (!globals.quiet) {
    std::cerr << "cairn: exported " << records << (records == 1 ? " record" : " records") << " to "
              << where << '\n';
  }
  return ExitCode::ok;
}

// --- import --------------------------------------------------------------

struct ImportArgs {
  std::string input = "-";
};

// stdin as a std::istream, read in large blocks (std::cin, tied to C stdio,
// reads a character at a time).
class StdinBuffer : public std::streambuf {
 protected:
  int_type underflow() override {
    ssize_t n = 0;
    do {
      n = ::read(STDIN_FILENO, buffer_, sizeof buffer_);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
      throw Error(errc::io_error, std::string("cannot read stdin: ") + std::strerror(errno));
    if (n == 0) return traits_type::eof();
    setg(buffer_, buffer_, buffer_ + n);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  char buffer_[64 * 1024];
};

ImportResult import_from(Registry& reg, const Globals& globals, const std::string& input) {
  // Reading and checking every line comes first, then the writes, in one transaction.
  Progress progress(globals, "importing");
  ImportOptions options;
  options.progress = [&progress](std::size_t done, std::size_t total) {
    progress.update(done, total, total == 0 ? "lines read" : "records written");
  };
  if (input == "-") {
    if (::isatty(STDIN_FILENO) && !globals.quiet) {
      std::cerr << "cairn: reading an export from stdin (end with Ctrl-D)\n";
    }
    StdinBuffer buffer;
    std::istream in(&buffer);
    in.exceptions(std::ios::badbit);  // a read error reaches the caller as the Error thrown
    return reg.import_records(in, options);
  }
  std::ifstream in(input, std::ios::binary);
  if (!in) fail_io("cannot read", input);
  return reg.import_records(in, options);
}

ExitCode run_import(const Globals& globals, const ImportArgs& args) {
  std::error_code ec;  // when the check itself fails, opening the file reports why
  if (args.input != "-" && !fs::exists(args.input, ec) && !ec) {
    fail_usage("import: no file at " + args.input);
  }
  if (args.input != "-" && fs::is_directory(args.input, ec)) {
    fail_usage("import: " + args.input + " is a directory");
  }
  Registry reg = open_existing_registry(globals);
  const ImportResult result = import_from(reg, globals, args.input);
  if (globals.quiet) return ExitCode::ok;
  const nlohmann::json summary = {
      {"records", result.records}, {"lines", result.lines}, {"revision", result.revision}};
  if (globals.json) {
    print_document(summary);
  } else {
    print_fields(summary, {"records", "lines", "revision"});
  }
  return ExitCode::ok;
}

}  // namespace

void add_transfer_commands(CLI::App& app, const Globals& globals, std::vector<Command>& commands) {
  auto exp = std::make_shared<ExportArgs>();
  CLI::App* export_cmd = app.add_subcommand(
      "export", "Write the records as JSON Lines (triggers are in memory: not exported)");
  export_cmd
      ->add_option("--kind", exp->kinds,
                   "Only these kinds: app, pool, block, config, torrent, torrent-session, kv "
                   "(repeat it or separate with commas; default: all)")
      ->type_name("K")
      ->delimiter(',');
  export_cmd
      ->add_option("--output,-o", exp->output,
                   "Write to FILE (0600, replaced whole: temp file then rename); -: stdout")
      ->type_name("FILE");
  commands.push_back({export_cmd, [&globals, exp] { return run_export(globals, *exp); }});

  auto imp = std::make_shared<ImportArgs>();
  CLI::App* import_cmd = app.add_subcommand(
      "import", "Write an export's records in one transaction (all or nothing); print how many");
  import_cmd->footer(
      "Records replace those with the same key and keep their timestamps and versions. A bad\n"
      "line exits 2 (4 for a broken reference) with \"line N: ...\" and imports nothing.\n");
  import_cmd->add_option("file", imp->input, "The export; absent or -: read stdin")
      ->type_name("FILE");
  commands.push_back({import_cmd, [&globals, imp] { return run_import(globals, *imp); }});
}

}  // namespace cairn::cli
