#!/bin/bash
# Installs a built pagescan into a temporary prefix and checks that it can be consumed:
# the installed headers include only the standard library, Linux headers and each other;
# each header compiles on its own; a consumer builds and runs with find_package(pagescan)
# and again with plain g++ and pkg-config.
set -euo pipefail

usage() {
  echo "usage: $0 --build-dir DIR --work-dir DIR --consumer DIR [--libdir lib]" \
    "[--includedir include] [--cxx c++] [--cmake cmake] [--generator G] [--sanitize LIST]" >&2
  exit 2
}

build_dir="" work_dir="" consumer="" libdir="lib" includedir="include"
cxx="c++" cmake="cmake" generator="" sanitize=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2 ;;
    --work-dir) work_dir=$2 ;;
    --consumer) consumer=$2 ;;
    --libdir) libdir=$2 ;;
    --includedir) includedir=$2 ;;
    --cxx) cxx=$2 ;;
    --cmake) cmake=$2 ;;
    --generator) generator=$2 ;;
    --sanitize) sanitize=$2 ;;
    *) usage ;;
  esac
  [ $# -ge 2 ] || usage
  shift 2
done
if [ -z "$build_dir" ] || [ -z "$work_dir" ] || [ -z "$consumer" ]; then usage; fi

fail() {
  echo "install_test: FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

# A fresh work dir each run: stale installs must not hide a broken one.
rm -rf "$work_dir"
mkdir -p "$work_dir"
prefix=$work_dir/prefix

san_flags=()
if [ -n "$sanitize" ]; then
  san_flags=("-fsanitize=$sanitize" -fno-omit-frame-pointer)
fi

step "cmake --install $build_dir --prefix $prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" >"$work_dir/install.log" 2>&1 ||
  {
    tail -n 20 "$work_dir/install.log" >&2
    fail "cmake --install failed (every installed target must be built first:" \
      "cmake --build $build_dir)"
  }

header_dir=$prefix/$includedir/pagescan
[ -d "$header_dir" ] || fail "no headers installed in $header_dir"
[ -f "$prefix/$libdir/cmake/pagescan/pagescanConfig.cmake" ] ||
  fail "no pagescanConfig.cmake in $prefix/$libdir/cmake/pagescan"
[ -f "$prefix/$libdir/pkgconfig/pagescan.pc" ] || fail "no pagescan.pc in $prefix/$libdir/pkgconfig"

step "installed headers include only the standard library, Linux headers and pagescan/"
bad=0
while IFS= read -r line; do
  target=$(printf '%s\n' "$line" | sed -E 's/^[^:]*:[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*([<"][^>"]*[>"]).*/\1/')
  name=${target:1:${#target}-2}
  case "$name" in
    fmt/* | nlohmann/* | CLI/* | gtest/* | gmock/* | benchmark/* | src/* | kernel/* | proc/* | \
      emulate/* | support/* | watch/* | snapshot/*)
      echo "  $line: third-party or internal header" >&2
      bad=1
      continue
      ;;
  esac
  if [[ "$name" == pagescan/* ]]; then
    # Our own headers must themselves be installed.
    [ -f "$prefix/$includedir/$name" ] || { echo "  $line: $name is not installed" >&2; bad=1; }
  elif [[ "$target" == \"* ]]; then
    echo "  $line: quoted include of a header that is not pagescan/ (internal?)" >&2
    bad=1
  elif [[ "$name" == */* ]] && [[ ! "$name" =~ ^(linux|asm|asm-generic|sys|bits|netinet|arpa)/ ]]; then
    echo "  $line: <$name> is neither the standard library nor a Linux header" >&2
    bad=1
  fi
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include' "$header_dir" | sed "s|^$prefix/||")
[ "$bad" -eq 0 ] || fail "installed headers include files a consumer does not have"

step "each installed header compiles on its own"
while IFS= read -r header; do
  case "$header" in
    *.h) lang=(-x c -std=c99) ;;
    *) lang=(-x c++ -std=c++20) ;;
  esac
  printf '#include <%s>\n' "${header#"$prefix/$includedir/"}" |
    "$cxx" "${lang[@]}" -fsyntax-only -Wall -Wextra -Werror -I"$prefix/$includedir" - ||
    fail "$header does not compile on its own"
done < <(find "$header_dir" -type f \( -name '*.h' -o -name '*.hpp' \) | sort)

run_consumer() {
  local what=$1
  shift
  "$@" || fail "$what: consumer exited with status $?"
}

step "find_package(pagescan) consumer"
cmake_args=(-S "$consumer" -B "$work_dir/cmake-consumer" -DCMAKE_PREFIX_PATH="$prefix"
  -DPAGESCAN_EXPECTED_PREFIX="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release)
[ -n "$generator" ] && cmake_args+=(-G "$generator")
if [ -n "$sanitize" ]; then
  cmake_args+=(-DCMAKE_CXX_FLAGS="${san_flags[*]}" -DCMAKE_EXE_LINKER_FLAGS="${san_flags[*]}")
fi
"$cmake" "${cmake_args[@]}" >"$work_dir/consumer-configure.log" ||
  { cat "$work_dir/consumer-configure.log" >&2; fail "configuring the consumer failed"; }
"$cmake" --build "$work_dir/cmake-consumer" ||
  fail "building the find_package consumer failed"
# No LD_LIBRARY_PATH: the imported target must be usable as installed (CMake's rpath).
run_consumer "find_package" "$work_dir/cmake-consumer/consumer"

step "pkg-config consumer: g++ \$(pkg-config --cflags --libs pagescan)"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
pc_includedir=$(pkg-config --variable=includedir pagescan) || fail "pkg-config cannot read pagescan.pc"
# The .pc must describe where it was installed, not the configure-time prefix.
if [ "$(realpath -m "$pc_includedir")" != "$(realpath -m "$prefix/$includedir")" ]; then
  fail "pagescan.pc installed under $prefix points at includedir=$pc_includedir: the .pc" \
    "hard-codes the configure-time CMAKE_INSTALL_PREFIX and breaks 'cmake --install --prefix'" \
    "(make it relocatable: prefix=\${pcfiledir}/<relative path from libdir/pkgconfig to the prefix>)"
fi
pc_flags=$(pkg-config --cflags --libs pagescan)
echo "   pkg-config: $pc_flags"
# shellcheck disable=SC2086  # pkg-config output is a list of words
"$cxx" "${san_flags[@]}" "$consumer/main.cpp" $pc_flags -o "$work_dir/pkgconfig-consumer" ||
  fail "building with pkg-config flags failed"
# The library may be shared (BUILD_SHARED_LIBS) and pkg-config adds no rpath.
LD_LIBRARY_PATH=$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
  run_consumer "pkg-config" "$work_dir/pkgconfig-consumer"

echo "install_test: PASS"
