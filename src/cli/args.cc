#include "cli/args.h"

#include <cstdio>

#include <charconv>
#include <sstream>

#include "cli/commands.h"
#include "common/address.h"

namespace zbuild::cli {

Result<Args> parse_args(int argc, char** argv, int first, const ArgSpec& spec) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-h" || s == "--help") {
      a.help = true;
      continue;
    }
    if (s.size() > 1 && s[0] == '-') {
      std::string key = s, val;
      bool has_eq = false;
      if (auto eq = s.find('='); eq != std::string::npos) {
        key = s.substr(0, eq);
        val = s.substr(eq + 1);
        has_eq = true;
      }
      if (spec.flags.count(key) && !has_eq) {
        a.flags.insert(key);
        continue;
      }
      if (spec.with_value.count(key)) {
        if (!has_eq) {
          if (i + 1 >= argc) return make_error("option " + key + " needs a value");
          val = argv[++i];
        }
        a.values[key] = val;
        a.repeated[key].push_back(val);
        continue;
      }
      return make_error("unknown option " + key);
    }
    a.positional.push_back(s);
  }
  return a;
}

ArgSpec options_in_help(const std::string& help) {
  ArgSpec spec;
  std::istringstream lines(help);
  std::string line;
  while (std::getline(lines, line)) {
    size_t start = line.find_first_not_of(' ');
    if (start == std::string::npos || start == 0 || start > 4 || line[start] != '-') continue;
    std::istringstream words(line.substr(start, line.find("  ", start) - start));
    std::vector<std::string> names;
    bool value = false, another = true;
    std::string w;
    while (!value && another && words >> w) {
      another = w.back() == ',';   // "-o, --output": another name follows
      if (another) w.pop_back();
      if (auto eq = w.find('='); eq != std::string::npos) {   // "--sandbox=auto|none"
        w.resize(eq);
        value = true;
      }
      names.push_back(w);
    }
    if (!another && words >> w) value = true;   // a word after the names: the value's placeholder
    for (const auto& n : names) (value ? spec.with_value : spec.flags).insert(n);
  }
  return spec;
}

Result<int> to_int(const std::string& opt, const std::string& v) {
  int out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size()) return make_error("option " + opt + ": '" + v + "' is not a number");
  return out;
}

int usage_error(const CommandSpec& spec, const std::string& message) {
  std::string program = std::string(spec.name).rfind("zbuild", 0) == 0 ? spec.name : "zbuild " + std::string(spec.name);
  std::fprintf(stderr, "%s: %s\n%s", program.c_str(), message.c_str(), spec.help);
  return 2;
}

std::optional<Args> read_command_line(const CommandSpec& spec, int argc, char** argv, int first, int* exit) {
  auto args = parse_args(argc, argv, first, spec.args);
  if (!args.ok()) {
    *exit = usage_error(spec, args.error().message);
    return std::nullopt;
  }
  if (args->help) {
    std::fputs(spec.help, stdout);
    *exit = 0;
    return std::nullopt;
  }
  return std::move(args.value());
}

std::string daemon_address(const std::string& flag) { return daemon_address_from(flag); }

}  // namespace zbuild::cli
