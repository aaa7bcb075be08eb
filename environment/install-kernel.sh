#!/usr/bin/env bash
# Installs the notebook kernel the kit pins: restores the Microsoft.dotnet-interactive tool from
# .config/dotnet-tools.json (what VS Code Polyglot and `research notebooks run` start) and, when Jupyter
# is installed, registers its .NET kernelspecs (`dotnet interactive jupyter install`) so that
# `jupyter nbconvert --execute` and JupyterLab can run the notebooks too. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet tool restore
dotnet tool run dotnet-interactive -- --version
if command -v jupyter >/dev/null; then
  dotnet tool run dotnet-interactive -- jupyter install
  jupyter kernelspec list
else
  echo "note: jupyter not found; only the stdio kernel (VS Code Polyglot, research notebooks run) is set up." \
       "On Debian/Ubuntu: apt-get install jupyter-nbconvert python3-nbclient jupyter-client, then run this again."
fi
