#!/bin/bash
# Installs a built pagescan into a temporary prefix and checks that it can be consumed:
# the installed headers include only the standard library, Linux headers and each other;
# each header compiles on its own (the C headers as C99 with -pedantic under gcc and
# clang, and as C++); a C++ consumer and a C consumer (consumer/, consumer_c/) build and
# run with find_package(pagescan) and with pkg-config, the C one with the build's C
# compiler (gcc) and with clang.
# The library installed may be static or shared: the test finds which, links each
# consumer as that kind requires (pkg-config --static for a static one) and checks the
# consumer holds the library that way (no DT_NEEDED on libpagescan.so, or one).
set -euo pipefail

usage() {
  echo "usage: $0 --build-dir DIR --work-dir DIR --consumer DIR --c-consumer DIR" \
    "[--libdir lib] [--includedir include] [--cxx c++] [--cc cc] [--clang clang]" \
    "[--cmake cmake] [--generator G] [--sanitize LIST]" >&2
  exit 2
}

build_dir="" work_dir="" consumer="" c_consumer="" libdir="lib" includedir="include"
cxx="c++" cc="cc" clang="clang" cmake="cmake" generator="" sanitize=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2 ;;
    --work-dir) work_dir=$2 ;;
    --consumer) consumer=$2 ;;
    --c-consumer) c_consumer=$2 ;;
    --libdir) libdir=$2 ;;
    --includedir) includedir=$2 ;;
    --cxx) cxx=$2 ;;
    --cc) cc=$2 ;;
    --clang) clang=$2 ;;
    --cmake) cmake=$2 ;;
    --generator) generator=$2 ;;
    --sanitize) sanitize=$2 ;;
    *) usage ;;
  esac
  [ $# -ge 2 ] || usage
  shift 2
done
if [ -z "$build_dir" ] || [ -z "$work_dir" ] || [ -z "$consumer" ] || [ -z "$c_consumer" ]; then
  usage
fi

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

# Static or shared: whichever is installed, never both (a consumer would get either).
if [ -f "$prefix/$libdir/libpagescan.a" ] && [ -e "$prefix/$libdir/libpagescan.so" ]; then
  fail "both libpagescan.a and libpagescan.so are installed in $prefix/$libdir"
elif [ -f "$prefix/$libdir/libpagescan.a" ]; then
  kind=static
elif [ -e "$prefix/$libdir/libpagescan.so" ]; then
  kind=shared
else
  fail "no libpagescan.a or libpagescan.so in $prefix/$libdir"
fi
echo "   installed library: $kind"

# C compilers for the C consumer: clang is required (scripts/bootstrap installs clang-14).
command -v "$clang" >/dev/null ||
  fail "no clang to build the C consumer with ('$clang'; scripts/bootstrap installs clang-14)"
c_compilers=("$cc" "$clang")
if [ -n "$sanitize" ]; then
  # The library's sanitizer instrumentation needs its own compiler's runtimes.
  echo "   -fsanitize=$sanitize: C consumers built with $cc only"
  echo "   (clang's sanitizer runtimes do not link with GCC-instrumented code)"
  c_compilers=("$cc")
fi

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

step "each installed header compiles on its own (C headers: C99 under ${c_compilers[*]}, and C++)"
strict=(-fsyntax-only -Wall -Wextra -pedantic -Werror -I"$prefix/$includedir" -)
while IFS= read -r header; do
  include=$(printf '#include <%s>\n' "${header#"$prefix/$includedir/"}")
  case "$header" in
    *.h)
      for compiler in "${c_compilers[@]}"; do
        printf '%s\n' "$include" | "$compiler" -x c -std=c99 "${strict[@]}" ||
          fail "$header does not compile as C99 with $compiler"
      done
      ;;
  esac
  printf '%s\n' "$include" | "$cxx" -x c++ -std=c++20 "${strict[@]}" ||
    fail "$header does not compile as C++20 on its own"
done < <(find "$header_dir" -type f \( -name '*.h' -o -name '*.hpp' \) | sort)

run_consumer() {
  local what=$1
  shift
  "$@" || fail "$what: consumer exited with status $?"
}

# The consumer must hold the library as installed: copied in when static, a DT_NEEDED
# entry when shared.
check_linkage() {
  local what=$1 binary=$2
  if readelf -d "$binary" | grep -q 'NEEDED.*\[libpagescan\.so'; then
    [ "$kind" = shared ] || fail "$what: needs libpagescan.so, but the static library is installed"
  else
    [ "$kind" = static ] || fail "$what: does not need libpagescan.so, but it is installed shared"
  fi
}

# Configures, builds and runs one find_package(pagescan) project.
cmake_consumer() {
  local what=$1 source=$2 build=$3 binary=$4
  shift 4
  local args=(-S "$source" -B "$build" -DCMAKE_PREFIX_PATH="$prefix"
    -DPAGESCAN_EXPECTED_PREFIX="$prefix" -DCMAKE_BUILD_TYPE=Release "$@")
  [ -n "$generator" ] && args+=(-G "$generator")
  if [ -n "$sanitize" ]; then
    args+=(-DCMAKE_C_FLAGS="${san_flags[*]}" -DCMAKE_CXX_FLAGS="${san_flags[*]}"
      -DCMAKE_EXE_LINKER_FLAGS="${san_flags[*]}")
  fi
  "$cmake" "${args[@]}" >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; fail "$what: configuring failed"; }
  "$cmake" --build "$build" || fail "$what: building failed"
  check_linkage "$what" "$build/$binary"
  # No LD_LIBRARY_PATH: the imported target must be usable as installed (CMake's rpath).
  run_consumer "$what" "$build/$binary"
}

step "find_package(pagescan): C++ consumer"
cmake_consumer "find_package C++" "$consumer" "$work_dir/cmake-consumer" consumer \
  -DCMAKE_CXX_COMPILER="$cxx"
for compiler in "${c_compilers[@]}"; do
  name=$(basename "$compiler")
  step "find_package(pagescan): C consumer (project(... C), $name)"
  cmake_consumer "find_package C ($name)" "$c_consumer" "$work_dir/cmake-c-consumer-$name" \
    c_consumer -DCMAKE_C_COMPILER="$compiler"
done

export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
pc_includedir=$(pkg-config --variable=includedir pagescan) || fail "pkg-config cannot read pagescan.pc"
# The .pc must describe where it was installed, not the configure-time prefix.
if [ "$(realpath -m "$pc_includedir")" != "$(realpath -m "$prefix/$includedir")" ]; then
  fail "pagescan.pc installed under $prefix points at includedir=$pc_includedir: the .pc" \
    "hard-codes the configure-time CMAKE_INSTALL_PREFIX and breaks 'cmake --install --prefix'" \
    "(make it relocatable: prefix=\${pcfiledir}/<relative path from libdir/pkgconfig to the prefix>)"
fi
pc_cflags=$(pkg-config --cflags pagescan)
# A static library's own dependencies come only with --static (Libs.private).
pc_static=()
[ "$kind" = static ] && pc_static=(--static)
pc_libs=$(pkg-config "${pc_static[@]}" --libs pagescan)
echo "   pkg-config --cflags: $pc_cflags"
echo "   pkg-config ${pc_static[*]:+${pc_static[*]} }--libs: $pc_libs"
case " $pc_cflags " in
  *" -std="*) fail "pkg-config --cflags names a language standard ($pc_cflags): C consumers break" ;;
esac
# pkg-config adds no rpath; a shared library is found through LD_LIBRARY_PATH.
run_env=(env "LD_LIBRARY_PATH=$prefix/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")

step "pkg-config: C++ consumer, $cxx -std=c++20"
# shellcheck disable=SC2086  # pkg-config output is a list of words
"$cxx" -std=c++20 "${san_flags[@]}" $pc_cflags "$consumer/main.cpp" $pc_libs \
  -o "$work_dir/pkgconfig-consumer" || fail "building the C++ consumer with pkg-config failed"
check_linkage "pkg-config C++" "$work_dir/pkgconfig-consumer"
run_consumer "pkg-config C++" "${run_env[@]}" "$work_dir/pkgconfig-consumer"

for compiler in "${c_compilers[@]}"; do
  name=$(basename "$compiler")
  step "pkg-config: C consumer, $name -std=c99 -pedantic -Werror"
  binary=$work_dir/pkgconfig-c-consumer-$name
  # shellcheck disable=SC2086  # pkg-config output is a list of words
  "$compiler" -std=c99 -Wall -Wextra -pedantic -Werror "${san_flags[@]}" $pc_cflags \
    "$c_consumer/main.c" $pc_libs -o "$binary" ||
    fail "building the C consumer with $name and pkg-config failed"
  check_linkage "pkg-config C ($name)" "$binary"
  run_consumer "pkg-config C ($name)" "${run_env[@]}" "$binary"
done

echo "install_test: PASS ($kind library)"
