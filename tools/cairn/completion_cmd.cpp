// `cairn completion bash|zsh` and `cairn man`: the shell completion scripts
// and the man page, generated from the CLI11 tree that --help prints, so the
// three cannot drift from the parser. The build runs these to install
// cairn.1 and the scripts (tools/cairn/generated/meson.build).

#include <CLI/CLI.hpp>
#include <array>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/records.h"
#include "cli.h"
#include "table.h"

namespace cairn::cli {
namespace {

// --- The model: what --help shows, read from the CLI11 tree --------------

struct OptionDoc {
  std::vector<std::string> names;  // "-q", "--quiet"
  std::string value;               // the value's name ("PATH"); empty for a flag
  std::string help;
  std::vector<std::string> choices;  // the values it takes, when they are a list
  std::string env;                   // the environment variable it reads, if any
};

struct PositionalDoc {
  std::string name;  // "kind"
  std::string value;
  std::string help;
  std::vector<std::string> choices;
  bool required = false;
};

struct CommandDoc {
  std::vector<std::string> path;  // {"backup", "create"}; empty for cairn itself
  std::string help;
  std::string footer;
  std::vector<OptionDoc> options;
  std::vector<PositionalDoc> positionals;
  std::vector<CommandDoc> subcommands;
};

// The names a KIND operand takes: the library's and the CLI's spellings.
std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  constexpr std::array kinds = {Kind::app,    Kind::pool,    Kind::memory_block,
                                Kind::config, Kind::torrent, Kind::torrent_session,
                                Kind::kv,     Kind::trigger};
  for (Kind kind : kinds) names.emplace_back(to_string(kind));
  for (const char* alias : {"block", "torrent-session"}) {
    static_cast<void>(parse_kind(alias, "completion"));  // throws if the vocabulary drops it
    names.emplace_back(alias);
  }
  return names;
}

const std::vector<std::string>& shell_names() {
  static const std::vector<std::string> names = {"bash", "zsh"};
  return names;
}

// The values an option or operand takes, when they are a fixed list.
std::vector<std::string> choices_for(std::string_view name) {
  if (name == "kind" || name == "--kind") return kind_names();
  if (name == "--format") return {kFormatNames.begin(), kFormatNames.end()};
  if (name == "shell") return shell_names();
  if (name == "--state") {
    std::vector<std::string> states;
    for (TorrentState s : {TorrentState::added, TorrentState::started, TorrentState::stopped,
                           TorrentState::completed, TorrentState::removed}) {
      states.emplace_back(to_string(s));
    }
    return states;
  }
  if (name == "--type") {  // pool types, then block types
    std::vector<std::string> types;
    for (PoolType t : {PoolType::local, PoolType::global, PoolType::encrypted}) {
      types.emplace_back(to_string(t));
    }
    for (BlockType t : {BlockType::binary, BlockType::json, BlockType::stream}) {
      types.emplace_back(to_string(t));
    }
    return types;
  }
  if (name == "--topic") {
    const auto topics = known_topics();
    return {topics.begin(), topics.end()};
  }
  return {};
}

// "PATH:NOT_NEGATIVE" -> "PATH": the value's name without its validators.
std::string value_name(const CLI::Option& option) {
  const std::string type = option.get_type_name();
  return type.substr(0, type.find(':'));
}

CommandDoc describe(CLI::App& app, std::vector<std::string> path) {
  CommandDoc doc;
  doc.path = path;
  doc.help = app.get_description();
  doc.footer = app.get_footer();
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_group().empty()) continue;  // hidden
    if (!option->nonpositional()) {
      doc.positionals.push_back({option->get_name(), value_name(*option), option->get_description(),
                                 choices_for(option->get_name()), option->get_required()});
      continue;
    }
    OptionDoc o;
    for (const std::string& s : option->get_snames()) o.names.push_back("-" + s);
    for (const std::string& l : option->get_lnames()) o.names.push_back("--" + l);
    if (option->get_type_size_max() > 0) o.value = value_name(*option);
    o.help = option->get_description();
    o.choices = choices_for(o.names.back());
    o.env = option->get_envname();
    doc.options.push_back(std::move(o));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_group().empty()) continue;  // hidden
    std::vector<std::string> sub_path = path;
    sub_path.push_back(sub->get_name());
    doc.subcommands.push_back(describe(*sub, sub_path));
  }
  return doc;
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const std::string& word : words) out += (out.empty() ? "" : std::string(separator)) + word;
  return out;
}

template <class Fn>
void for_each_command(const CommandDoc& command, Fn&& fn) {
  fn(command);
  for (const CommandDoc& sub : command.subcommands) for_each_command(sub, fn);
}

bool names_files(const std::string& value) {
  return value == "PATH" || value == "FILE" || value == "DIR" || value == "DEST";
}

// --- bash ----------------------------------------------------------------

// A word list for `compgen -W '...'`: our names hold no quote.
std::string words(const std::vector<std::string>& list) { return "'" + join(list, " ") + "'"; }

std::string bash_script(const CommandDoc& root) {
  std::ostringstream out;
  out << "# bash completion for cairn " << cairn::version()
      << ", generated by `cairn completion bash`.\n"
         "# Install as <datadir>/bash-completion/completions/cairn, or source it.\n\n";

  // Per command path ("backup create"): its subcommands, options, the
  // options that take a value, and the operands' values.
  out << "_cairn_subcommands() {\n  case \"$1\" in\n";
  for_each_command(root, [&](const CommandDoc& c) {
    if (c.subcommands.empty()) return;
    std::vector<std::string> names;
    for (const CommandDoc& sub : c.subcommands) names.push_back(sub.path.back());
    out << "    " << words({join(c.path, " ")}) << ") echo " << words(names) << " ;;\n";
  });
  out << "  esac\n}\n\n";

  const auto options_of = [](const CommandDoc& c, bool with_value_only) {
    std::vector<std::string> names;
    for (const OptionDoc& o : c.options) {
      if (with_value_only && o.value.empty()) continue;
      names.insert(names.end(), o.names.begin(), o.names.end());
    }
    return names;
  };
  // The root's options are accepted after any subcommand (fallthrough).
  // The root's words end in a space, not a newline: _cairn matches " $word "
  // in one line of the root's and the command's words.
  out << "_cairn_options() {\n  printf '%s ' " << words(options_of(root, false))
      << "\n  case \"$1\" in\n";
  for_each_command(root, [&](const CommandDoc& c) {
    if (c.path.empty() || c.options.empty()) return;
    out << "    " << words({join(c.path, " ")}) << ") echo " << words(options_of(c, false))
        << " ;;\n";
  });
  out << "  esac\n}\n\n";
  out << "_cairn_value_options() {\n  printf '%s ' " << words(options_of(root, true))
      << "\n  case \"$1\" in\n";
  for_each_command(root, [&](const CommandDoc& c) {
    const std::vector<std::string> names = options_of(c, true);
    if (c.path.empty() || names.empty()) return;
    out << "    " << words({join(c.path, " ")}) << ") echo " << words(names) << " ;;\n";
  });
  out << "  esac\n}\n\n";

  // $1: the command path, $2: the option; prints its values, or nothing.
  // A root option matches under any path, after the command's own.
  const auto option_values = [&](const CommandDoc& c) {
    for (const OptionDoc& o : c.options) {
      if (o.choices.empty()) continue;
      for (const std::string& name : o.names) {
        const std::string pattern =
            (c.path.empty() ? "*" : words({join(c.path, " ")})) + "':" + name + "'";
        out << "    " << pattern << ") echo " << words(o.choices) << " ;;\n";
      }
    }
  };
  out << "_cairn_option_values() {\n  case \"$1:$2\" in\n";
  for_each_command(root, [&](const CommandDoc& c) {
    if (!c.path.empty()) option_values(c);
  });
  option_values(root);
  out << "  esac\n}\n\n";
  // $1: the command path, $2: the operand's position from 0.
  out << "_cairn_operand_values() {\n  case \"$1:$2\" in\n";
  for_each_command(root, [&](const CommandDoc& c) {
    for (std::size_t i = 0; i < c.positionals.size(); ++i) {
      if (c.positionals[i].choices.empty()) continue;
      out << "    " << words({join(c.path, " ") + ":" + std::to_string(i)}) << ") echo "
          << words(c.positionals[i].choices) << " ;;\n";
    }
  });
  out << "  esac\n}\n\n";

  out << R"bash(_cairn() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" operands=0 i word
  # Walk the words before the cursor: subcommands extend the path, an option
  # that takes a value skips it, anything else is an operand.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="${COMP_WORDS[i]}"
    if [[ "$word" == -* ]]; then
      if [[ "$word" != *=* && " $(_cairn_value_options "$path") " == *" $word "* ]]; then
        i=$((i + 1))
      fi
    elif [[ $operands -eq 0 && " $(_cairn_subcommands "$path") " == *" $word "* ]]; then
      path="${path:+$path }$word"
    else
      operands=$((operands + 1))
    fi
  done
  local prev="${COMP_WORDS[COMP_CWORD-1]}"
  if [[ $COMP_CWORD -gt 1 && "$prev" == -* && " $(_cairn_value_options "$path") " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -W "$(_cairn_option_values "$path" "$prev")" -- "$cur"))
    return 0
  fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_cairn_options "$path")" -- "$cur"))
  elif [[ $operands -eq 0 && -n "$(_cairn_subcommands "$path")" ]]; then
    COMPREPLY=($(compgen -W "$(_cairn_subcommands "$path")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_cairn_operand_values "$path" "$operands")" -- "$cur"))
  fi
  return 0
}
complete -o bashdefault -o default -F _cairn cairn
)bash";
  return out.str();
}

// --- zsh -----------------------------------------------------------------

// Text inside a single-quoted _arguments spec's [description].
std::string zsh_help(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c == '[' || c == ']' || c == ':' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string zsh_action(const std::vector<std::string>& choices, const std::string& value) {
  if (!choices.empty()) return "(" + join(choices, " ") + ")";
  return names_files(value) ? "_files" : " ";
}

std::string zsh_function_name(const CommandDoc& c) {
  std::string name = "_cairn";
  for (const std::string& part : c.path) {
    name += "_";
    for (char ch : part) name += (ch == '-' ? '_' : ch);
  }
  return name;
}

void zsh_function(std::ostringstream& out, const CommandDoc& c, const CommandDoc& root) {
  out << zsh_function_name(c) << "() {\n";
  if (!c.subcommands.empty()) out << "  local curcontext=\"$curcontext\" state line\n";
  out << "  _arguments -s";
  if (!c.subcommands.empty()) out << " -C";
  std::vector<OptionDoc> options = c.options;
  if (!c.path.empty()) options.insert(options.end(), root.options.begin(), root.options.end());
  for (const OptionDoc& o : options) {
    const std::string spec =
        "[" + zsh_help(o.help) + "]" +
        (o.value.empty() ? "" : ":" + o.value + ":" + zsh_action(o.choices, o.value));
    out << " \\\n    ";
    if (o.names.size() == 1) {
      out << "'" << o.names.front() << spec << "'";
    } else {
      out << "'(" << join(o.names, " ") << ")'{" << join(o.names, ",") << "}'" << spec << "'";
    }
  }
  for (std::size_t i = 0; i < c.positionals.size(); ++i) {
    const PositionalDoc& p = c.positionals[i];
    out << " \\\n    '" << (i + 1) << (p.required ? ":" : "::") << p.name << ":"
        << zsh_action(p.choices, p.value) << "'";
  }
  if (!c.subcommands.empty()) {
    out << " \\\n    '1:command:->command' \\\n    '*::argument:->argument'\n";
    out << "  case $state in\n    command)\n      local -a commands\n      commands=(";
    for (const CommandDoc& sub : c.subcommands) {
      out << "\n        '" << sub.path.back() << ":" << zsh_help(sub.help) << "'";
    }
    out << "\n      )\n      _describe -t commands 'cairn command' commands ;;\n";
    out << "    argument)\n      case $line[1] in\n";
    for (const CommandDoc& sub : c.subcommands) {
      out << "        " << sub.path.back() << ") " << zsh_function_name(sub) << " ;;\n";
    }
    out << "      esac ;;\n  esac\n";
  } else {
    out << "\n";
  }
  out << "}\n\n";
}

std::string zsh_script(const CommandDoc& root) {
  std::ostringstream out;
  out << "#compdef cairn\n# zsh completion for cairn " << cairn::version()
      << ", generated by `cairn completion zsh`.\n"
         "# Install as _cairn in a directory of $fpath (<datadir>/zsh/vendor-completions).\n\n";
  for_each_command(root, [&](const CommandDoc& c) { zsh_function(out, c, root); });
  out << "_cairn \"$@\"\n";
  return out.str();
}

// --- man -----------------------------------------------------------------

// Roff text: backslashes and hyphens escaped, a leading . or ' defused, and
// anything beyond ASCII as a \[uXXXX] glyph, so groff needs no preconv.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      const int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
      std::uint32_t code = c & (0x3F >> extra);
      for (int k = 0; k < extra && i + 1 < text.size(); ++k) {
        code = (code << 6) | (static_cast<unsigned char>(text[++i]) & 0x3F);
      }
      char glyph[16];
      std::snprintf(glyph, sizeof glyph, "\\[u%04X]", static_cast<unsigned>(code));
      out += glyph;
    }
  }
  return out;
}

void man_options(std::ostringstream& out, const std::vector<OptionDoc>& options) {
  for (const OptionDoc& o : options) {
    out << ".TP\n";
    for (std::size_t i = 0; i < o.names.size(); ++i) {
      out << (i == 0 ? "" : ", ") << "\\fB" << roff(o.names[i]) << "\\fR";
    }
    if (!o.value.empty()) out << " \\fI" << roff(o.value) << "\\fR";
    out << "\n" << roff(o.help);
    if (!o.choices.empty() && o.help.find(o.choices.front()) == std::string::npos) {
      out << " (" << roff(join(o.choices, ", ")) << ")";
    }
    if (!o.env.empty()) out << " (environment: \\fB" << roff(o.env) << "\\fR)";
    out << "\n";
  }
}

// A subcommand's footer is its parent's (the exit codes) unless it sets its own.
void man_command(std::ostringstream& out, const CommandDoc& c, const std::string& root_footer) {
  if (c.path.empty()) return;
  std::string synopsis = "cairn " + join(c.path, " ");
  if (!c.options.empty()) synopsis += " [OPTIONS]";
  for (const PositionalDoc& p : c.positionals) {
    synopsis += " " + std::string(p.required ? "" : "[") + p.value + (p.required ? "" : "]");
  }
  if (!c.subcommands.empty()) synopsis += " COMMAND";
  out << ".SS \"" << roff(synopsis) << "\"\n" << roff(c.help) << "\n";
  for (const PositionalDoc& p : c.positionals) {
    out << ".TP\n\\fI" << roff(p.value) << "\\fR (" << roff(p.name) << ")\n" << roff(p.help);
    if (!p.choices.empty() && p.help.find(p.choices.front()) == std::string::npos) {
      out << " (" << roff(join(p.choices, ", ")) << ")";
    }
    out << "\n";
  }
  man_options(out, c.options);
  if (!c.footer.empty() && c.footer != root_footer) {
    out << ".PP\n.nf\n" << roff(c.footer) << "\n.fi\n";
  }
}

std::string man_page(const CommandDoc& root) {
  std::ostringstream out;
  out << ".\\\" cairn(1), generated by `cairn man` from the definitions behind --help.\n"
      << ".TH CAIRN 1 \"\" \"cairn " << roff(cairn::version()) << "\" \"User Commands\"\n"
      << ".SH NAME\ncairn \\- " << roff(root.help.substr(root.help.find(": ") + 2)) << "\n"
      << ".SH SYNOPSIS\n.B cairn\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]\n"
      << ".SH DESCRIPTION\n"
      << "Data goes to stdout, diagnostics to stderr. The options below apply to every command "
         "and may also follow it.\n"
      << ".SH OPTIONS\n";
  man_options(out, root.options);
  out << ".SH COMMANDS\n";
  for_each_command(root, [&](const CommandDoc& c) { man_command(out, c, root.footer); });
  out << ".SH EXIT STATUS\n.nf\n"
      << roff(root.footer) << "\n.fi\n"
      << ".SH ENVIRONMENT\n.TP\n.B CAIRN_DB\nThe registry file when \\fB\\-\\-db\\fR is not "
         "given.\n"
      << ".SH SEE ALSO\nThe README of cairn, and \\fBcairn \\fICOMMAND\\fB \\-\\-help\\fR.\n";
  return out.str();
}

}  // namespace

void add_completion_commands(CLI::App& app, std::vector<Command>& commands) {
  auto shell = std::make_shared<std::string>();
  CLI::App* completion = app.add_subcommand(
      "completion", "Print the shell completion script for bash or zsh (see the README)");
  completion->add_option("shell", *shell, "bash or zsh")
      ->required()
      ->type_name("SHELL")
      ->check(CLI::IsMember(shell_names()));
  commands.push_back({completion, [&app, shell] {
                        const CommandDoc root = describe(app, {});
                        std::cout << (*shell == "zsh" ? zsh_script(root) : bash_script(root));
                        return ExitCode::ok;
                      }});

  CLI::App* man = app.add_subcommand("man", "Print the man page, cairn(1), as roff");
  commands.push_back({man, [&app] {
                        std::cout << man_page(describe(app, {}));
                        return ExitCode::ok;
                      }});
}

}  // namespace cairn::cli
