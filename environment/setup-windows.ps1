# Sets up the kit on Windows: checks the .NET SDK, then restores and builds the solution.
# Usage: powershell -ExecutionPolicy Bypass -File environment\setup-windows.ps1 [cpu|cuda-linux|cuda-windows]
# (default: cpu). The browser tests use Google Chrome plus a matching chromedriver.exe on PATH.
param([string]$Backend = 'cpu')
$ErrorActionPreference = 'Stop'

# Checked by hand (not ValidateSet) so the message names the allowed values and the exit code is ours.
$allowed = 'cpu', 'cuda-linux', 'cuda-windows'
if ($allowed -notcontains $Backend) {
    [Console]::Error.WriteLine("error: unknown backend '$Backend'; allowed values: $($allowed -join ', ')")
    exit 2
}
if ($Backend -eq 'cuda-linux') { Write-Host "note: cuda-linux restores the Linux CUDA build; it cannot run on Windows." }

Set-Location (Split-Path -Parent $PSScriptRoot)

if (-not (Get-Command dotnet -ErrorAction SilentlyContinue)) {
    [Console]::Error.WriteLine('error: dotnet not found; install the .NET 10 SDK: https://dotnet.microsoft.com/download')
    exit 1
}
$sdk = (& dotnet --version).Trim()
if ([int]($sdk.Split('.')[0]) -lt 10) {
    [Console]::Error.WriteLine("error: .NET SDK $sdk found; the kit needs 10 or newer")
    exit 1
}
Write-Host "dotnet $sdk"

# Optional: the browser tests skip when Chrome or chromedriver is missing.
$chrome = Join-Path $env:ProgramFiles 'Google\Chrome\Application\chrome.exe'
if (-not ((Test-Path $chrome) -and (Get-Command chromedriver -ErrorAction SilentlyContinue))) {
    Write-Host 'optional, for the browser tests: install Google Chrome and a matching chromedriver.exe on PATH'
    Write-Host '  (or set RESEARCH_CHROMIUM and RESEARCH_CHROMEDRIVER); the tests are skipped otherwise.'
}

# $LASTEXITCODE, because a failing native command does not stop the script by itself.
# The pinned .NET Interactive kernel (.config/dotnet-tools.json), and the kit's Jupyter kernelspec when Jupyter is there.
& dotnet tool restore
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
if (Get-Command jupyter -ErrorAction SilentlyContinue) {
    # The kit's own kernelspec, .net-csharp-research, not the one `dotnet interactive jupyter install` writes: that one
    # serves the kernel's HTTP API (code execution, no authentication) on every network interface. On Linux and macOS
    # environment/jupyter/launch.sh moves the API onto a private Unix socket per kernel; Windows has no /bin/sh to
    # run it, so here the same Kestrel setting moves it to a random port on 127.0.0.1: off the network, though other
    # programs of this machine can still reach it. Kernelspecs of other names are left as they are.
    $version = (& dotnet tool list --local) | Where-Object { $_ -match '^microsoft\.dotnet-interactive\s' } | ForEach-Object { ($_ -split '\s+')[1] }
    $packages = ((& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
    $settings = Get-ChildItem (Join-Path $packages "microsoft.dotnet-interactive\$version\tools\*\any\DotnetToolSettings.xml") | Select-Object -First 1
    $kernel = Join-Path $settings.DirectoryName ([xml](Get-Content $settings.FullName)).DotNetCliTool.Commands.Command.EntryPoint
    $spec = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) ('research-kernelspec-' + [guid]::NewGuid()))
    $json = @{
        argv = @((Get-Command dotnet).Source, $kernel, 'jupyter', '--http-local-only', '--default-kernel', 'csharp', '{connection_file}')
        env = @{ Kestrel__Endpoints__Private__Url = 'http://127.0.0.1:0'; DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT = '1'; DOTNET_CLI_TELEMETRY_OPTOUT = '1' }
        display_name = "C# (research kit: pinned .NET Interactive $version)"
        language = 'C#'
    } | ConvertTo-Json
    [IO.File]::WriteAllText((Join-Path $spec.FullName 'kernel.json'), $json)   # UTF-8 without a BOM, which Jupyter's JSON reader refuses
    & jupyter kernelspec install --user --name .net-csharp-research $spec.FullName
    $installed = $LASTEXITCODE
    Remove-Item -Recurse -Force $spec
    if ($installed -ne 0) { exit $installed }
}
& dotnet restore Research.sln "-p:ResearchBackend=$Backend"
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
& dotnet build Research.sln --no-restore "-p:ResearchBackend=$Backend"
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }

$opt = if ($Backend -ne 'cpu') { " -p:ResearchBackend=$Backend" } else { '' }
Write-Host ""
Write-Host "Built with backend '$Backend'. Next steps:"
foreach ($step in @(("dotnet test$opt", 'run the tests'),
                    ("dotnet run --project lib\Research.Cli$opt -- doctor", 'check TorchSharp: versions, devices, self-checks'),
                    ("dotnet run --project lib\Research.Cli$opt -c Release -- reproduce", 'reproduce every experiment into out/'),
                    ('environment\README.md', 'backends and browser tests'))) {
    Write-Host ('  {0,-44} # {1}' -f $step[0], $step[1])
}
