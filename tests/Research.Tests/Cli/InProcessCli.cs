using Research.Cli;
using Xunit;

namespace Research.Tests.Cli;

/// <summary>Runs the <c>research</c> command in the test process, capturing what it prints.</summary>
internal static class InProcessCli
{
    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        int exit = CliApp.RunAsync(args, stdout, stderr, TestContext.Current.CancellationToken).GetAwaiter().GetResult();
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The bad-input contract: exit code 2, nothing on stdout, one line on stderr starting "research: " that
    /// contains <paramref name="named"/>.</summary>
    public static void AssertBadInput((int Exit, string Out, string Err) run, string named)
    {
        Assert.Equal(ExitCodes.BadInput, run.Exit);
        Assert.Equal("", run.Out);
        Assert.Single(run.Err.TrimEnd().Split('\n'));
        Assert.StartsWith("research: ", run.Err);
        Assert.Contains(named, run.Err);
    }

    /// <summary>Runs <c>research run <paramref name="experimentId"/></c> with <paramref name="json"/> as its --config file
    /// and checks the bad-input contract (<see cref="AssertBadInput"/>) and that no output folder was written.</summary>
    public static void AssertBadConfig(string experimentId, string json, string named)
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "bad.json");
        File.WriteAllText(path, json);
        var output = Path.Combine(folder, "out");
        AssertBadInput(Run("run", experimentId, "--config", path, "--out", output), named);
        Assert.False(Directory.Exists(Path.Combine(output, experimentId)));
    }
}
