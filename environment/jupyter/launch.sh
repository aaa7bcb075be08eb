#!/bin/sh
# Starts the kit's pinned .NET Interactive kernel for Jupyter (kernelspec .net-csharp-research), written into the
# kernelspec by environment/install-kernel.sh, which fills in the two paths below.
#
# Why not the kernelspec `dotnet interactive jupyter install` writes: in Jupyter mode the kernel always starts its HTTP
# API (the --http-port-range option defaults to 2048-3000 even when omitted) and binds it to every up network
# interface. That API includes a SignalR hub whose SubmitCommand runs any code, with no authentication and a CORS
# policy that admits any origin: anyone on the same network (or a web page in the user's browser) can run code on
# the machine while a notebook is open. --http-local-only alone would keep it to 127.0.0.1, which other users of a
# shared machine and browser pages can still reach. So the API's endpoint is moved off TCP altogether: Kestrel's own
# endpoint configuration (Kestrel__Endpoints__*, which overrides the kernel's address list) puts it on a Unix socket
# in a folder only this user can open. Jupyter itself talks to the kernel over its ZeroMQ ports on 127.0.0.1.
# Lost with it: nothing the C# notebooks use (the browser-side JavaScript bridge of the kernel, #!javascript's
# access to .NET values, cannot connect).
set -eu
dotnet='@DOTNET@'
kernel='@KERNEL_DLL@'
if [ ! -f "$kernel" ]; then
  echo "research kit kernel: $kernel is missing; run environment/install-kernel.sh in the kit again" >&2
  exit 1
fi
runtime="${TMPDIR:-/tmp}"
runtime="${runtime%/}"
# The folders of kernels that have ended (Kestrel deletes the socket on exit): a starting kernel's folder is
# younger than a minute, a running kernel's holds its socket.
find "$runtime" -maxdepth 1 -type d -name 'research-kernel.*' -user "$(id -u)" -mmin +1 -empty -delete 2>/dev/null || true
private=$(mktemp -d "$runtime/research-kernel.XXXXXX")   # mode 0700
export Kestrel__Endpoints__Private__Url="http://unix:$private/http.sock"
export DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
exec "$dotnet" "$kernel" jupyter --http-local-only --default-kernel csharp "$1"
