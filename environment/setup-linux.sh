#!/usr/bin/env bash
# Sets up the kit on Linux: checks the .NET SDK, installs Chromium for the browser tests and Jupyter for the
# notebooks' Jupyter route (apt, when available), restores the pinned .NET Interactive kernel and registers its
# Jupyter kernelspec (.net-csharp-research), then restores and builds the solution for the chosen TorchSharp backend.
# Usage: environment/setup-linux.sh [cpu|cuda-linux|cuda-windows]   (default: cpu)
set -euo pipefail

backend=${1:-cpu}
# Checked here, before anything slow, so a typo fails at once instead of after apt and a restore.
case "$backend" in
  cpu|cuda-linux|cuda-windows) ;;
  *) echo "error: unknown backend '$backend'; allowed values: cpu, cuda-linux, cuda-windows" >&2; exit 2 ;;
esac
if [ "$backend" = cuda-windows ]; then
  echo "note: cuda-windows restores the Windows CUDA build; it cannot run on Linux."
fi

cd "$(dirname "$0")/.."

# net10.0 projects need SDK 10 or newer (global.json rolls forward to later majors).
if ! command -v dotnet >/dev/null; then
  echo "error: dotnet not found; install the .NET 10 SDK: https://dotnet.microsoft.com/download" >&2; exit 1
fi
sdk=$(dotnet --version)
if [ "${sdk%%.*}" -lt 10 ]; then
  echo "error: .NET SDK $sdk found; the kit needs 10 or newer" >&2; exit 1
fi
echo "dotnet $sdk"

# Optional: the browser tests skip without Chromium, so a failed install only warns.
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  chromium --version
elif command -v apt-get >/dev/null; then
  sudo=()
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=(sudo); fi
  { "${sudo[@]}" apt-get update &&
    "${sudo[@]}" apt-get install -y --no-install-recommends chromium chromium-driver; } ||
    echo "warning: could not install chromium/chromium-driver; the browser tests will be skipped" >&2
fi
# Optional too: without Jupyter the notebooks still run in VS Code and with `research notebooks run`.
if ! command -v jupyter-nbconvert >/dev/null && command -v apt-get >/dev/null; then
  sudo=()
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo=(sudo); fi
  "${sudo[@]}" apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbclient jupyter-client ||
    echo "warning: could not install Jupyter; the Jupyter notebook tests will be skipped" >&2
else
  echo "note: no apt-get; install Chromium and ChromeDriver yourself (or set RESEARCH_CHROMIUM and" \
       "RESEARCH_CHROMEDRIVER) to run the browser tests; they are skipped otherwise."
fi

environment/install-kernel.sh
dotnet restore Research.sln "-p:ResearchBackend=$backend"
dotnet build Research.sln --no-restore "-p:ResearchBackend=$backend"

opt=""
if [ "$backend" != cpu ]; then opt=" -p:ResearchBackend=$backend"; fi
echo
echo "Built with backend '$backend'. Next steps:"
printf '  %-44s # %s\n' \
  "dotnet test$opt" "run the tests" \
  "dotnet run --project lib/Research.Cli$opt -- doctor" "check TorchSharp: versions, devices, self-checks" \
  "dotnet run --project lib/Research.Cli$opt -c Release -- reproduce" "reproduce every experiment into out/" \
  "dotnet run --project lib/Research.Cli$opt -- notebooks run notebooks" "run every notebook headless" \
  "environment/README.md" "backends, libstdc++ note, browser tests"
