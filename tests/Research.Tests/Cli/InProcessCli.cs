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
}
