using Research.Experiments;
using Spectre.Console;

namespace Research.Cli;

/// <summary>
/// Shows experiment progress: a live bar when stderr is a terminal, plain lines when it is redirected
/// (CI logs, pipes). Progress always goes to stderr so stdout stays clean for --json.
/// </summary>
public static class ProgressDisplay
{
    public static T Run<T>(string label, TextWriter stderr, Func<IProgress<ExperimentProgress>, T> work)
    {
        bool interactive = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
        if (!interactive)
            return work(new PlainLines(label, stderr));

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(label), maxValue: 1);
                result = work(new Progress<ExperimentProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                    task.Description = Markup.Escape($"{label}: {p.Stage}");
                }));
                task.Value = task.MaxValue;
            });
        return result;
    }

    private sealed class PlainLines(string label, TextWriter writer) : IProgress<ExperimentProgress>
    {
        public void Report(ExperimentProgress value) => writer.WriteLine($"[{label}] {value.Stage} ({value.Done}/{value.Total})");
    }
}
