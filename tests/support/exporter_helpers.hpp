// Running `pagescan exporter` in the background on a loopback port it picks, and reading
// the metrics it serves, for the exporter's tests.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/background_program.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {

// The exporter with `args` plus "--listen 127.0.0.1:0", its log in `dir`. After the
// constructor, port() is the port it serves on, 0 when it did not start (log() says why).
class ExporterServer {
 public:
  ExporterServer(const TempDir& dir, const std::vector<std::string>& args);
  int port() const { return port_; }
  std::string log() const { return program_->log(); }
  BackgroundProgram& program() { return *program_; }

 private:
  std::unique_ptr<BackgroundProgram> program_;
  int port_ = 0;
};

// One sample line: "name{a="x",b="y"} 12" → name, labels, value. nullopt for comments
// and lines that do not parse.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};
std::optional<Sample> parse_sample(const std::string& line);
std::vector<Sample> parse_samples(const std::string& text);

// The value of the one sample of `name` whose labels include `labels`; nullopt if none.
std::optional<double> sample_value(const std::vector<Sample>& samples, const std::string& name,
                                   const std::map<std::string, std::string>& labels = {});

// Runs `promtool check metrics` on `text`: its exit code and output.
struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};
PromtoolResult promtool_check_metrics(const TempDir& dir, const std::string& text);

}  // namespace pagescan::test
