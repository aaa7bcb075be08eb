using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Research.Notebooks.Ipynb;

namespace Research.Notebooks.Execution;

/// <summary>Runs the C# cells of one parsed notebook in order, stopping at the first failure.</summary>
internal sealed class NotebookExecution(NotebookDocument notebook, string displayPath, string fullPath, TextWriter log)
{
    // Chart element ids derive from the notebook's name, cell and position, not chance: re-running an unchanged
    // notebook then rewrites identical outputs, and ids stay unique within its page.
    private readonly string _notebookId =
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Path.GetFileName(fullPath))))[..8];

    public KernelNames Kernels { get; } = KernelNames.For(notebook);

    public Dictionary<int, CellRun> Runs { get; } = [];

    public int CellsRun { get; private set; }

    /// <summary>Runs the cells with the notebook's folder as working directory, as the kernel does, so relative data paths resolve.</summary>
    public async Task<NotebookFailure?> RunAsync(CancellationToken ct)
    {
        var previous = Environment.CurrentDirectory;
        Environment.CurrentDirectory = Path.GetDirectoryName(fullPath)!;
        try { return await RunCellsAsync(ct).ConfigureAwait(false); }
        finally { Environment.CurrentDirectory = previous; }
    }

    private async Task<NotebookFailure?> RunCellsAsync(CancellationToken ct)
    {
        var globals = new NotebookGlobals { Cancellation = ct };
        var session = new ScriptSession(globals, fullPath);
        var directives = new CellDirectives(Kernels, Path.GetDirectoryName(fullPath)!);
        int executionCount = 0;
        foreach (var cell in notebook.Cells.Where(c => c.CellType == "code"))
        {
            ct.ThrowIfCancellationRequested();
            var language = Kernels.LanguageOf(cell);
            PreparedCell prepared;
            try
            {
                prepared = directives.Prepare(cell.Source, language);
            }
            catch (CellDirectiveException e)
            {
                return Fail(new CellError(cell.Number, e.Line, e.Message));
            }
            foreach (var note in prepared.Notes) log.WriteLine($"  cell {cell.Number}: {note}");
            if (!prepared.HasCSharp)
            {
                Runs[cell.Number] = new CellRun(cell.Number, null, [], $"{language} cell");
                log.WriteLine($"  cell {cell.Number}: skipped ({language}; only C# runs)");
                continue;
            }

            var outputs = new CellOutputs(log, $"chart-{_notebookId}-{cell.Number}");
            var started = Stopwatch.GetTimestamp();
            var count = ++executionCount;
            var error = await RunCellAsync(session, globals, outputs, cell.Number, prepared, count, ct).ConfigureAwait(false);
            Runs[cell.Number] = new CellRun(cell.Number, count, outputs.Snapshot(), null);
            if (error is not null) return Fail(error);
            CellsRun++;
            log.WriteLine($"  cell {cell.Number}: ok ({Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms)");
        }
        return null;
    }

    /// <summary>Puts this run's outputs into the notebook's cells; cells that did not run keep theirs.</summary>
    public void StoreOutputs()
    {
        foreach (var cell in notebook.Cells)
            if (Runs.TryGetValue(cell.Number, out var run) && run.ExecutionCount is { } count)
                cell.SetOutputs(OutputJson.ToJson(run.Outputs), count);
    }

    private static async Task<CellError?> RunCellAsync(ScriptSession session, NotebookGlobals globals, CellOutputs outputs,
        int cellNumber, PreparedCell prepared, int executionCount, CancellationToken ct)
    {
        globals.Outputs = outputs;
        NotebookGlobals.Current = globals;
        try
        {
            object? value;
            CellError? error;
            using (new ConsoleCapture(outputs))
                (value, error) = await session.RunAsync(cellNumber, prepared, ct).ConfigureAwait(false);
            if (error is not null) return error;
            // display(...) as the last expression already showed its value; the handle itself is not a result.
            if (value is not null and not DisplayedValue)
            {
                try { outputs.Add(outputs.Format(value), executionCount); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    return new CellError(cellNumber, 0, $"formatting the cell's value failed: {e.GetType().FullName}: {e.Message}");
                }
            }
            return null;
        }
        finally
        {
            globals.Outputs = null;
            NotebookGlobals.Current = null;
        }
    }

    private NotebookFailure Fail(CellError error)
    {
        var failure = new NotebookFailure(displayPath, error.Cell, error.Line, error.Message);
        log.WriteLine($"  cell {error.Cell}: FAILED");
        return failure;
    }
}
