// A small command-line reader shared by the subcommands: --name VALUE, --name=VALUE, flags,
// positionals. Errors name the option.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"

namespace zbuild::cli {

struct ArgSpec {
  std::set<std::string> with_value;   // e.g. "--daemon"
  std::set<std::string> flags;        // e.g. "--json"
};

struct Args {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::vector<std::string> positional;
  bool help = false;

  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  bool has(const std::string& k) const { return flags.count(k) > 0; }
  // Every value of a repeatable option, in order.
  std::vector<std::string> multi(const std::string& k) const {
    auto it = repeated.find(k);
    return it == repeated.end() ? std::vector<std::string>{} : it->second;
  }
  std::map<std::string, std::vector<std::string>> repeated;
};

Result<Args> parse_args(int argc, char** argv, int first, const ArgSpec& spec);

// The options a help text describes, which is where each option is defined: a line indented
// by 1 to 4 blanks that starts with the option's names ("-o, --output"), then its value
// ("--listen HOST:PORT", "--sandbox=auto|none") or, for a flag, a gap of two blanks before the
// description ("--json    the status as JSON"). Continuation lines (deeper) and prose do not count.
ArgSpec options_in_help(const std::string& help);
Result<int> to_int(const std::string& opt, const std::string& v);

}  // namespace zbuild::cli
