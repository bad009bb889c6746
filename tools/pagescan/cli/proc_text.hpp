// Reading a small /proc file whole, for commands that look at other processes. Never
// through a std::ifstream: a process reaped between the open and the read makes read()
// fail with ESRCH, and libstdc++'s filebuf turns that into an exception (an exporter
// scrape during process churn answered 500 from it).
#pragma once

#include <optional>
#include <string>

namespace pagescan::cli {

// The whole file, or nullopt when it cannot be opened or read (the process is gone).
std::optional<std::string> read_proc_text(const std::string& path);

}  // namespace pagescan::cli
