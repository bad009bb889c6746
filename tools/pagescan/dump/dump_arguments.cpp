#include "dump/dump_arguments.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pagescan::cli {

Parsed<OutputName> OutputName::parse(std::string_view text) {
  const std::string given(text);
  if (text == "-") {
    return {std::nullopt, UsageError{"bad -o '-': a core is written to a file (it has holes and "
                                     "is renamed into place when complete), not to standard "
                                     "output"}};
  }
  if (text.empty()) return {std::nullopt, UsageError{"bad -o '': expected a file name"}};
  OutputName name;
  name.text_ = given;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') continue;
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (next == 'n') {
      name.numbered_ = true;
    } else if (next != '%') {
      return {std::nullopt,
              UsageError{"bad -o '" + given + "': '%" + std::string(next ? 1 : 0, next) +
                         "' is not a placeholder (expected %n for the dump number, %% for %)"}};
    }
    ++i;
  }
  return {name, std::nullopt};
}

std::string OutputName::for_dump(std::uint64_t number) const {
  std::string out;
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '%' && i + 1 < text_.size()) {
      out += text_[i + 1] == 'n' ? std::to_string(number) : "%";
      ++i;
    } else {
      out += text_[i];
    }
  }
  return out;
}

Parsed<std::uint32_t> parse_coredump_filter(std::string_view text) {
  std::string_view digits = text;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
  }
  std::uint32_t mask = 0;
  bool good = !digits.empty() && digits.size() <= 8;
  for (char c : digits) {
    const int v = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (v < 0) good = false;
    mask = mask * 16 + static_cast<std::uint32_t>(v < 0 ? 0 : v);
  }
  if (!good || mask > 0x1ff) {
    return {std::nullopt, UsageError{"bad --filter '" + std::string(text) +
                                     "': expected a hexadecimal coredump_filter mask of bits "
                                     "0-8 (0 to 0x1ff), e.g. 0x33 (see core(5))"}};
  }
  return {mask, std::nullopt};
}

OutputCheck check_output_path(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    const char* what = S_ISDIR(st.st_mode)                          ? "a directory"
                       : S_ISFIFO(st.st_mode)                       ? "a FIFO"
                       : S_ISSOCK(st.st_mode)                       ? "a socket"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                    : "not a regular file";
    return {UsageError{"bad -o '" + path + "': it is " + what +
                       " (expected a file name; a core is written as a regular file)"},
            std::nullopt};
  }
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    const ErrorKind kind =
        err == EACCES || err == EROFS ? ErrorKind::permission : ErrorKind::kernel_failure;
    return {std::nullopt,
            Error::from_errno(err, kind, "cannot write a core in directory '" + dir + "'")};
  }
  return {};
}

}  // namespace pagescan::cli
