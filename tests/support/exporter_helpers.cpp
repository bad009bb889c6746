// Exporter test helpers (exporter_helpers.hpp).
#include "support/exporter_helpers.hpp"

#include <fstream>
#include <sstream>

#include "support/cli_runner.hpp"

namespace pagescan::test {

ExporterServer::ExporterServer(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> all = {"exporter"};
  all.insert(all.end(), args.begin(), args.end());
  all.insert(all.end(), {"--listen", "127.0.0.1:0"});
  static int counter = 0;
  program_ = std::make_unique<BackgroundProgram>(
      PAGESCAN_CLI_PATH, all, dir / ("exporter-" + std::to_string(++counter) + ".log"));
  if (program_->pid() > 0 && program_->wait_for_log("serving http://")) {
    port_ = served_port(program_->log());
  }
}

std::optional<Sample> parse_sample(const std::string& line) {
  if (line.empty() || line[0] == '#') return std::nullopt;
  Sample s;
  std::size_t at = line.find_first_of("{ ");
  if (at == std::string::npos) return std::nullopt;
  s.name = line.substr(0, at);
  if (line[at] == '{') {
    ++at;
    while (at < line.size() && line[at] != '}') {
      const std::size_t eq = line.find("=\"", at);
      if (eq == std::string::npos) return std::nullopt;
      std::string key = line.substr(at, eq - at), value;
      std::size_t i = eq + 2;
      for (; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] == '\\' && i + 1 < line.size()) {
          ++i;
          value += line[i] == 'n' ? '\n' : line[i];
        } else {
          value += line[i];
        }
      }
      s.labels[key] = value;
      at = i + 1;
      if (at < line.size() && line[at] == ',') ++at;
    }
    ++at;
  }
  try {
    s.value = std::stod(line.substr(at));
  } catch (...) {
    return std::nullopt;
  }
  return s;
}

std::vector<Sample> parse_samples(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (auto s = parse_sample(line)) out.push_back(*s);
  }
  return out;
}

std::optional<double> sample_value(const std::vector<Sample>& samples, const std::string& name,
                                   const std::map<std::string, std::string>& labels) {
  for (const Sample& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      all = all && it != s.labels.end() && it->second == v;
    }
    if (all) return s.value;
  }
  return std::nullopt;
}

PromtoolResult promtool_check_metrics(const TempDir& dir, const std::string& text) {
  const std::string path = dir / "scrape.prom";
  std::ofstream(path) << text;
  CliRun run = run_program("/bin/sh", {"-c", "promtool check metrics < '" + path + "'"});
  return {run.exit_code, run.out + run.err};
}

}  // namespace pagescan::test
