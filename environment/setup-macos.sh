#!/usr/bin/env bash
# Sets up the kit on macOS (Apple silicon: the CPU backend restores libtorch-cpu-osx-arm64):
# checks the .NET SDK, then restores and builds the solution. Chromium is optional (browser tests).
# Usage: environment/setup-macos.sh [cpu|cuda-linux|cuda-windows]   (default: cpu)
# Written for macOS's bash 3.2: no empty-array expansions under `set -u`.
set -euo pipefail

backend=${1:-cpu}
case "$backend" in
  cpu|cuda-linux|cuda-windows) ;;
  *) echo "error: unknown backend '$backend'; allowed values: cpu, cuda-linux, cuda-windows" >&2; exit 2 ;;
esac
if [ "$backend" != cpu ]; then
  echo "note: CUDA does not exist on macOS; '$backend' only restores packages for another machine."
fi

cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null; then
  echo "error: dotnet not found; install the .NET 10 SDK (https://dotnet.microsoft.com/download or 'brew install --cask dotnet-sdk')" >&2
  exit 1
fi
sdk=$(dotnet --version)
if [ "${sdk%%.*}" -lt 10 ]; then
  echo "error: .NET SDK $sdk found; the kit needs 10 or newer" >&2; exit 1
fi
echo "dotnet $sdk"

# Not installed automatically: casks are large and Homebrew may not be wanted. Tests skip without them.
if ! command -v chromedriver >/dev/null; then
  echo "optional, for the browser tests: brew install --cask chromium chromedriver"
  echo "  (or set RESEARCH_CHROMIUM and RESEARCH_CHROMEDRIVER to an existing Chrome and matching ChromeDriver)"
fi

# The pinned .NET Interactive kernel (and the kit's Jupyter kernelspec, .net-csharp-research, when Jupyter is installed).
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
  "environment/README.md" "backends and browser tests"
