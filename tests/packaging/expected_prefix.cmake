# Included by the consumers after find_package(pagescan): the packaging test passes the
# prefix it installed to, so that a pagescan found anywhere else (a system install, the
# build tree) fails instead of passing silently.
if(PAGESCAN_EXPECTED_PREFIX)
  cmake_path(IS_PREFIX PAGESCAN_EXPECTED_PREFIX "${pagescan_DIR}" NORMALIZE found_in_prefix)
  if(NOT found_in_prefix)
    message(FATAL_ERROR "pagescan found in ${pagescan_DIR}, not under ${PAGESCAN_EXPECTED_PREFIX}")
  endif()
endif()
