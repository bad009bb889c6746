// Real memory layouts for the emulated-vs-kernel differential tests.
#include "support/scenarios.hpp"

#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <map>

#include "support/scenario_recipes.hpp"

namespace pagescan::test {

Scenario::~Scenario() {
  // Closing the lifeline ends the COW holder, whatever credentials either side has now.
  if (cow_lifeline_ >= 0) ::close(cow_lifeline_);
  if (cow_holder_ > 0) ::waitpid(cow_holder_, nullptr, 0);
  for (void* a : shm_) ::shmdt(a);
  mappings_.clear();
  uffd_.reset();
}

void Scenario::skip(std::string reason) {
  if (skip_reason_.empty()) skip_reason_ = std::move(reason);
}

void Scenario::add_part(std::string label, std::uint64_t start, std::uint64_t end) {
  parts_.push_back(ScenarioPart{std::move(label), start, end});
}

void Scenario::add_huge_page(std::string label, std::uint64_t start, std::uint64_t end) {
  huge_pages_.push_back(ScenarioPart{std::move(label), start, end});
}

std::string Scenario::describe() const {
  std::string out = name_ + " window [0x";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%" PRIx64 ", 0x%" PRIx64 "):", window_start_, window_end_);
  out += buf;
  for (const ScenarioPart& p : parts_) {
    std::snprintf(buf, sizeof buf, " %s[+0x%" PRIx64 ",+0x%" PRIx64 ")", p.label.c_str(),
                  p.start - window_start_, p.end - window_start_);
    out += buf;
  }
  for (const std::string& o : omitted_) out += " (omitted: " + o + ")";
  return out;
}

namespace {

using recipes::Recipe;

std::unique_ptr<Scenario> build_from(const std::map<std::string, Recipe>& recipes,
                                     const std::string& name) {
  auto s = std::make_unique<Scenario>(name);
  auto it = recipes.find(name);
  if (it == recipes.end()) {
    s->skip("no scenario named '" + name + "'");
    return s;
  }
  it->second.build(*s);
  return s;
}

std::vector<std::string> names_of(const std::map<std::string, Recipe>& recipes) {
  std::vector<std::string> out;
  for (const auto& [name, recipe] : recipes) out.push_back(name);
  return out;
}

}  // namespace

std::vector<std::string> scan_scenario_names() {
  return names_of(recipes::scan_recipes());
}

std::unique_ptr<Scenario> build_scenario(const std::string& name) {
  return build_from(recipes::scan_recipes(), name);
}

std::vector<std::string> write_protect_scenario_names() {
  return names_of(recipes::write_protect_recipes());
}

std::unique_ptr<Scenario> build_write_protect_scenario(const std::string& name) {
  return build_from(recipes::write_protect_recipes(), name);
}

std::uint64_t hugetlb_pages_needed(const std::string& name) {
  for (const auto* recipes : {&recipes::scan_recipes(), &recipes::write_protect_recipes()}) {
    auto it = recipes->find(name);
    if (it != recipes->end()) return it->second.hugetlb_pages;
  }
  return 0;
}

}  // namespace pagescan::test
