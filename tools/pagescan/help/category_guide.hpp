// `pagescan help categories`: the nine page categories, one line each, in the words a
// person needs to read scan and map output (the kernel's meaning, not a guess at it).
#pragma once

#include <string>

namespace pagescan::cli {

// The guide wrapped at `width` columns.
std::string category_guide(unsigned width);

}  // namespace pagescan::cli
