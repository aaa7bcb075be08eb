using Research.Notebooks.Kernel;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>
/// What <c>research doctor</c> says of the Jupyter route, against kernelspecs made by the test: the user's own live
/// under the home folder (<c>~/.local/share/jupyter</c>, also searched when <c>JUPYTER_DATA_DIR</c> is set), so the
/// test gives Jupyter a home folder of its own.
/// </summary>
public sealed class NotebookRoutesTests : IDisposable
{
    private static readonly string[] Variables = ["HOME", "JUPYTER_DATA_DIR"];
    private readonly string _home = TestPaths.TempFolder();
    private readonly Dictionary<string, string?> _before = Variables.ToDictionary(v => v, Environment.GetEnvironmentVariable);
    private string Data => Path.Combine(_home, ".local", "share", "jupyter");

    public NotebookRoutesTests()
    {
        Environment.SetEnvironmentVariable("HOME", _home);
        Environment.SetEnvironmentVariable("JUPYTER_DATA_DIR", Data);
    }

    public void Dispose()
    {
        foreach (var (name, value) in _before) Environment.SetEnvironmentVariable(name, value);
        Directory.Delete(_home, recursive: true);
    }

    // Jupyter itself must be there; the user's kernelspecs are out of sight, so ask with the real home folder.
    private void RequireJupyter()
    {
        foreach (var (name, value) in _before) Environment.SetEnvironmentVariable(name, value);
        try { JupyterCli.RequireKitKernelspec(); }
        finally
        {
            Environment.SetEnvironmentVariable("HOME", _home);
            Environment.SetEnvironmentVariable("JUPYTER_DATA_DIR", Data);
        }
    }

    private static KernelReport AKernel => new("1.0.712001", "1.0.712001", true, 1, "ok");

    private async Task<NotebookRoute> Jupyter() =>
        (await NotebookRoutes.CheckAsync(AKernel, TestContext.Current.CancellationToken)).Single(r => r.Name == "jupyter");

    private void Kernelspec(string name, string argv, string? launcher = null)
    {
        var folder = Directory.CreateDirectory(Path.Combine(Data, "kernels", name)).FullName;
        File.WriteAllText(Path.Combine(folder, "kernel.json"), $$"""{ "argv": {{argv}}, "display_name": "{{name}}", "language": "C#" }""");
        if (launcher is not null) File.WriteAllText(Path.Combine(folder, "launch.sh"), launcher);
    }

    [Fact]
    public async Task Without_the_kits_kernelspec_jupyter_does_not_work_and_the_fix_is_named()
    {
        RequireJupyter();

        var route = await Jupyter();

        Assert.False(route.Works);
        Assert.Contains("environment/install-kernel.sh", route.Detail);
    }

    [Fact]
    public async Task A_stock_kernelspec_beside_the_kits_is_named_as_exposing_the_http_api()
    {
        RequireJupyter();
        var kernel = Path.Combine(_home, "Microsoft.DotNet.Interactive.App.dll");
        File.WriteAllText(kernel, "");
        Kernelspec(NotebookRoutes.KitKernelspec, """["/bin/sh", "{resource_dir}/launch.sh", "{connection_file}"]""", $"#!/bin/sh\nkernel='{kernel}'\n");
        Kernelspec(".net-csharp", """["dotnet", "interactive", "jupyter", "{connection_file}", "--http-port-range", "2048-3000"]""");

        var route = await Jupyter();

        Assert.True(route.Works, route.Detail);
        Assert.Contains(".net-csharp,", route.Detail + ",");
        Assert.Contains("jupyter kernelspec remove .net-csharp", route.Detail);
    }

    [Fact]
    public async Task A_kit_kernelspec_whose_kernel_is_gone_does_not_work()
    {
        RequireJupyter();
        Kernelspec(NotebookRoutes.KitKernelspec, """["/bin/sh", "{resource_dir}/launch.sh", "{connection_file}"]""", "#!/bin/sh\nkernel='/nonexistent/kernel.dll'\n");

        var route = await Jupyter();

        Assert.False(route.Works);
        Assert.Contains("/nonexistent/kernel.dll", route.Detail);
    }
}
