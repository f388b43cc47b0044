// `cairn completion bash|zsh` and `cairn man`, run through the built tool:
// every subcommand and option that --help lists reaches the scripts and the
// page (the test reads --help itself, so a new option that the generator
// misses fails here), the bash script completes real command lines, and the
// outputs pass `bash -n`, `zsh -n` and groff where those are installed.

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;

using Result = test::ProcessResult;

Result run_cairn(std::vector<std::string> args) {
  args.insert(args.begin(), CAIRN_CLI_PATH);
  return test::run_process(args);
}

std::string output_of(const std::vector<std::string>& args) {
  const Result r = run_cairn(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return r.out;
}

bool have_program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/bin", "/usr/local/bin"}) {
    if (::access((fs::path(dir) / name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string program_path(const std::string& name) {
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    const fs::path path = fs::path(dir) / name;
    if (::access(path.c_str(), X_OK) == 0) return path.string();
  }
  return name;
}

// One command as its --help shows it.
struct HelpPage {
  std::vector<std::string> path;         // {"backup", "create"}
  std::vector<std::string> options;      // "-h", "--help", "--db", ...
  std::vector<std::string> subcommands;  // "create", "list", ...
};

// The first word of each line of the "Options:" and "Subcommands:" sections
// of CLI11's help; option words are split at commas ("-q,--quiet").
HelpPage parse_help(const std::vector<std::string>& path) {
  std::vector<std::string> args = path;
  args.push_back("--help");
  std::istringstream lines(output_of(args));
  HelpPage page{path, {}, {}};
  std::string section;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) {
      section.clear();
    } else if (line == "Options:" || line == "Subcommands:") {
      section = line;
    } else if (!section.empty() && line.starts_with("  ") && line[2] != ' ') {
      const std::string word = line.substr(2, line.find(' ', 2) - 2);
      if (section == "Subcommands:") {
        page.subcommands.push_back(word);
        continue;
      }
      std::istringstream names(word);
      for (std::string name; std::getline(names, name, ',');) page.options.push_back(name);
    }
  }
  return page;
}

// cairn's page and every subcommand's, depth first.
std::vector<HelpPage> all_help_pages() {
  std::vector<HelpPage> pages;
  std::vector<std::vector<std::string>> todo = {{}};
  while (!todo.empty()) {
    const std::vector<std::string> path = todo.back();
    todo.pop_back();
    pages.push_back(parse_help(path));
    for (const std::string& sub : pages.back().subcommands) {
      std::vector<std::string> sub_path = path;
      sub_path.push_back(sub);
      todo.push_back(sub_path);
    }
  }
  return pages;
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

bool has_word(const std::vector<std::string>& words, std::string_view word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// The words bash completes for the command line `line`, the cursor at its
// end (a line ending in a space completes a new word).
std::vector<std::string> bash_complete(const fs::path& script, const std::string& line) {
  const std::string program =
      "source \"$1\"; read -ra COMP_WORDS <<< \"$2\"; "
      "[[ \"$2\" == *' ' ]] && COMP_WORDS+=(''); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
      "_cairn; printf '%s\\n' \"${COMPREPLY[@]}\"";
  const Result r =
      test::run_process({program_path("bash"), "-c", program, "bash", script.string(), line});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK_MESSAGE(r.err.empty(), r.err);
  std::vector<std::string> words;
  std::istringstream lines(r.out);
  for (std::string word; std::getline(lines, word);) {
    if (!word.empty()) words.push_back(word);
  }
  return words;
}

// How the man page writes an option: roff needs \- for a hyphen.
std::string roff_name(const std::string& option) {
  std::string out;
  for (char c : option) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

struct Generated {
  test::TempDir dir;
  fs::path bash = dir / "cairn.bash";
  fs::path zsh = dir / "_cairn";
  fs::path man = dir / "cairn.1";
  Generated() {
    test::write_bytes(bash, output_of({"completion", "bash"}));
    test::write_bytes(zsh, output_of({"completion", "zsh"}));
    test::write_bytes(man, output_of({"man"}));
  }
};

}  // namespace

TEST_CASE("completion: every subcommand and option of --help is in the scripts and the man page") {
  const Generated out;
  const std::string bash = test::read_bytes(out.bash), zsh = test::read_bytes(out.zsh),
                    man = test::read_bytes(out.man);
  const std::vector<HelpPage> pages = all_help_pages();
  REQUIRE(pages.size() > 20);  // cairn, its commands, backup's and migrate's
  std::size_t checked = 0;
  for (const HelpPage& page : pages) {
    const std::string path = joined(page.path);
    CAPTURE(path);
    // bash: completing an option word after the path offers all its options
    const std::vector<std::string> options =
        bash_complete(out.bash, "cairn " + path + (path.empty() ? "-" : " -"));
    for (const std::string& option : page.options) {
      CAPTURE(option);
      CHECK(has_word(options, option));
      CHECK(test::contains(zsh, option));
      CHECK(test::contains(man, "\\fB" + roff_name(option) + "\\fR"));
      ++checked;
    }
    if (page.subcommands.empty()) continue;
    const std::vector<std::string> subcommands =
        bash_complete(out.bash, "cairn " + path + (path.empty() ? "" : " "));
    CHECK(subcommands == page.subcommands);
    for (const std::string& sub : page.subcommands) {
      CAPTURE(sub);
      CHECK(test::contains(zsh, "'" + sub + ":"));  // _describe's name:description
      CHECK(test::contains(man, ".SS \"cairn " + roff_name(path.empty() ? sub : path + " " + sub)));
    }
  }
  CHECK(checked > 40);
}

TEST_CASE("completion: bash completes commands, nested commands, kinds and option values") {
  const Generated out;
  CHECK(bash_complete(out.bash, "cairn ba") == std::vector<std::string>{"backup"});
  CHECK(bash_complete(out.bash, "cairn backup ") ==
        std::vector<std::string>{"create", "list", "verify", "prune"});
  CHECK(bash_complete(out.bash, "cairn migrate ") ==
        std::vector<std::string>{"status", "plan", "up", "verify", "dry-run"});
  CHECK(bash_complete(out.bash, "cairn migrate st") == std::vector<std::string>{"status"});
  for (const std::string line : {"cairn ls ", "cairn get ", "cairn --db r.db rm ",
                                 "cairn --json put ", "cairn watch --kind "}) {
    CAPTURE(line);
    const std::vector<std::string> kinds = bash_complete(out.bash, line);
    for (const char* kind : {"app", "pool", "block", "memory_block", "config", "torrent",
                             "torrent-session", "kv", "trigger"}) {
      CHECK(has_word(kinds, kind));
    }
  }
  CHECK(bash_complete(out.bash, "cairn ls t") ==
        std::vector<std::string>{"torrent", "torrent_session", "trigger", "torrent-session"});
  CHECK(bash_complete(out.bash, "cairn ls app --format ") ==
        std::vector<std::string>{"table", "json", "jsonl"});
  CHECK(bash_complete(out.bash, "cairn backup list --format js") ==
        std::vector<std::string>{"json", "jsonl"});
  CHECK(bash_complete(out.bash, "cairn ls app --fo") == std::vector<std::string>{"--format"});
  CHECK(bash_complete(out.bash, "cairn completion ") == std::vector<std::string>{"bash", "zsh"});
  // A value option's value is not taken for a command: after --db r.db comes the command.
  CHECK(has_word(bash_complete(out.bash, "cairn --db backup "), "ls"));
}

TEST_CASE("completion: the scripts parse and the man page renders without warnings") {
  const Generated out;
  SUBCASE("bash -n") {
    const Result r = test::run_process({program_path("bash"), "-n", out.bash.string()});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.err.empty());
  }
  SUBCASE("zsh -n") {
    if (!have_program("zsh")) {
      MESSAGE("zsh is not installed: zsh -n skipped");
      return;
    }
    const Result r = test::run_process({program_path("zsh"), "-n", out.zsh.string()});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.err.empty());
  }
  SUBCASE("groff -man") {
    if (!have_program("groff")) {
      MESSAGE("groff is not installed: the man page check is skipped");
      return;
    }
    const Result r =
        test::run_process({program_path("groff"), "-man", "-Tutf8", "-ww", out.man.string()});
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(r.err.empty(), r.err);
    CHECK(test::contains(r.out, "NAME"));
    CHECK(test::contains(r.out, "EXIT STATUS"));
  }
  SUBCASE("unknown shell") {
    const Result r = run_cairn({"completion", "fish"});
    CHECK(r.exit_code == 2);
    CHECK(test::contains(r.err, "fish"));
  }
}
