using System.CommandLine;
using Research.Charts;
using Research.Experiments;
using Research.Notebooks;

namespace Research.Cli;

/// <summary>Exit codes of the <c>research</c> command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The work ran and failed: a self-check, an experiment, a notebook cell.</summary>
    public const int Failed = 1;
    /// <summary>Bad input: unknown command or id, malformed file, invalid value, unwritable folder.</summary>
    public const int BadInput = 2;
    /// <summary>Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it); nothing half-written was left.</summary>
    public const int Interrupted = 130;
}

/// <summary>The <c>research</c> command line: parsing, dispatch and the one-line error contract.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellation = default)
    {
        var root = new RootCommand("research: reproduce DeepSeek-V3/R1 efficiency techniques at toy scale on CPU or GPU.")
        {
            DoctorCommand.Create(stdout),
            ExperimentCommands.List(stdout),
            ExperimentCommands.Run(stdout, stderr),
            ExperimentCommands.Reproduce(stdout, stderr),
            ExperimentCommands.Gallery(stdout),
            NotebooksCommand.Create(stdout, stderr),
            SweepCommand.Create(stdout, stderr),
            ResultsCommand.Create(stdout),
            BenchCommand.Create(stdout, stderr),
            KvCacheCommand.Create(stdout),
            AccountingCommands.ModelSizeCommand(stdout),
            AccountingCommands.CostCommand(stdout),
        };
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // Name the offending token first ("Unrecognized command or argument 'x'") rather than what is missing.
            var error = parse.Errors.OrderBy(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal) ? 0 : 1).First();
            await stderr.WriteLineAsync($"research: {error.Message} Run 'research --help' for usage.");
            return ExitCodes.BadInput;
        }
        try
        {
            // ProcessTerminationTimeout null: Program.cs owns the signal handlers and passes their token in here.
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null,
            }, cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            await stderr.WriteLineAsync("research: interrupted");
            return ExitCodes.Interrupted;
        }
        catch (OutputInUseException e)
        {
            // Not bad input: the same command succeeds once the other run is done.
            await stderr.WriteLineAsync($"research: {e.Message}");
            return ExitCodes.Failed;
        }
        catch (Exception e) when (e is ArgumentException or ConfigException or OutputException or NotebookException or ChartImageException or Sweeps.SlurmException or Sweeps.MetricException
                                      or FileNotFoundException or DirectoryNotFoundException)
        {
            await stderr.WriteLineAsync($"research: {e.Message}");
            return ExitCodes.BadInput;
        }
    }
}
