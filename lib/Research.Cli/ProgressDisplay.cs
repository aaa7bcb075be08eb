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

    // A log line when the stage changes, at the end, and otherwise at most every few seconds: a training run reports
    // every step, and thousands of lines would bury the log.
    private sealed class PlainLines(string label, TextWriter writer) : IProgress<ExperimentProgress>
    {
        private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
        private string? _stage;
        private long _last;

        public void Report(ExperimentProgress value)
        {
            bool due = value.Stage != _stage || value.Done >= value.Total || System.Diagnostics.Stopwatch.GetElapsedTime(_last) >= Interval;
            if (!due) return;
            _stage = value.Stage;
            _last = System.Diagnostics.Stopwatch.GetTimestamp();
            writer.WriteLine($"[{label}] {value.Stage} ({value.Done}/{value.Total})");
        }
    }
}
