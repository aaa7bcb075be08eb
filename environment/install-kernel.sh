#!/usr/bin/env bash
# Installs the notebook kernel the kit pins: restores the Microsoft.dotnet-interactive tool from
# .config/dotnet-tools.json (what VS Code Polyglot and `research notebooks run` start over stdio) and, when Jupyter
# is installed, registers the kit's own Jupyter kernelspec, .net-csharp-research, so that JupyterLab, VS Code's
# Jupyter extension and `jupyter nbconvert --execute` run the notebooks in that kernel without its HTTP API on the
# network (environment/jupyter/launch.sh says why and how). Kernelspecs of other names, the stock .net-csharp
# among them, are left as they are. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
readonly name=.net-csharp-research

dotnet tool restore
dotnet tool run dotnet-interactive -- --version
if ! command -v jupyter >/dev/null; then
  echo "note: jupyter not found; only the stdio kernel (VS Code Polyglot, research notebooks run) is set up." \
       "On Debian/Ubuntu: apt-get install jupyter-nbconvert python3-nbclient jupyter-client, then run this again."
  exit 0
fi

# The restored tool itself, by absolute path: the kernelspec then starts the pinned version from any folder, not only
# from inside the kit where `dotnet tool run` finds the manifest.
version=$(dotnet tool list --local | awk 'tolower($1) == "microsoft.dotnet-interactive" { print $2 }')
packages=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: *//')
settings=$(ls "${packages%/}"/microsoft.dotnet-interactive/"$version"/tools/*/any/DotnetToolSettings.xml | head -n 1)
entry=$(sed -n 's/.*EntryPoint="\([^"]*\)".*/\1/p' "$settings")
kernel="$(dirname "$settings")/$entry"
[ -f "$kernel" ] || { echo "error: the restored kernel $kernel is missing" >&2; exit 1; }

spec=$(mktemp -d)
trap 'rm -rf "$spec"' EXIT
sed -e "s|@DOTNET@|$(command -v dotnet)|" -e "s|@KERNEL_DLL@|$kernel|" environment/jupyter/launch.sh > "$spec/launch.sh"
sed -e "s|@VERSION@|$version|" environment/jupyter/kernel.json > "$spec/kernel.json"
jupyter kernelspec install --user --name "$name" "$spec"

stock=$(jupyter kernelspec list --json | grep -o '"\.net-[a-z]*"' | grep -v "\"$name\"" | tr -d '"' | tr '\n' ' ' || true)
if [ -n "$stock" ]; then
  echo "note: also installed: ${stock% } (kernelspecs from 'dotnet interactive jupyter install', left as they are)." \
       "They start the kernel's HTTP API on every network interface with no authentication; the kit's notebooks" \
       "use $name instead. Remove them with 'jupyter kernelspec remove ${stock% }' unless you need them."
fi
jupyter kernelspec list
