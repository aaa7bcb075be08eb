using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace Research.Notebooks.Execution;

/// <summary>What went wrong in a cell: where (cell and line) and what.</summary>
internal sealed record CellError(int Cell, int Line, string Message);

/// <summary>
/// One Roslyn scripting session for a notebook: each cell is a submission continuing the previous one, so
/// variables, types and usings carry over as in the kernel. Cells compile as they come, so the first pays
/// Roslyn's start-up (about a second) and the rest only their own compilation.
/// </summary>
internal sealed class ScriptSession(NotebookGlobals globals, string notebookPath)
{
    // The C# kernel's default usings (plus System.IO, which notebooks that read data expect).
    private static readonly string[] Imports =
    [
        "System", "System.Collections", "System.Collections.Generic", "System.IO", "System.Linq", "System.Text",
        "System.Threading.Tasks", "Research.Notebooks",
    ];

    private readonly Dictionary<string, int> _cellOfFile = new(StringComparer.Ordinal);
    private ScriptOptions? _options;
    private ScriptState<object>? _state;

    /// <summary>Runs <paramref name="cell"/> and returns its trailing expression's value; null with an error on failure.</summary>
    public async Task<(object? Value, CellError? Error)> RunAsync(int cellNumber, PreparedCell cell, CancellationToken ct)
    {
        _options ??= ScriptOptions.Default
            .WithReferences(HostAssemblies.References())
            .WithImports(Imports)
            .WithEmitDebugInformation(true)
            .WithFileEncoding(System.Text.Encoding.UTF8);
        if (cell.References.Count > 0)
            _options = _options.AddReferences(cell.References.Select(HostAssemblies.Reference));
        // A file name per cell puts the cell into stack frames, so exceptions map back to cell and line.
        var file = $"{notebookPath}#cell{cellNumber}.csx";
        _cellOfFile[file] = cellNumber;
        var options = _options.WithFilePath(file);
        // Exceptions are the cell's failure, except a cancellation the caller asked for, which stops the run.
        bool cellFailure(Exception e) => e is not OperationCanceledException || !ct.IsCancellationRequested;
        try
        {
            _state = _state is null
                ? await CSharpScript.Create(cell.Code, options, typeof(NotebookGlobals))
                    .RunAsync(globals, catchException: cellFailure, ct).ConfigureAwait(false)
                : await _state.ContinueWithAsync(cell.Code, options, catchException: cellFailure, ct).ConfigureAwait(false);
        }
        catch (CompilationErrorException e)
        {
            return (null, CompileError(cellNumber, e.Diagnostics));
        }
        return _state.Exception is { } exception ? (null, RuntimeError(cellNumber, exception)) : (_state.ReturnValue, null);
    }

    private static CellError CompileError(int cellNumber, IEnumerable<Diagnostic> diagnostics)
    {
        var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)
            .OrderBy(d => d.Location.SourceSpan.Start).ToList();
        var first = errors[0];
        var line = first.Location.IsInSource ? first.Location.GetLineSpan().StartLinePosition.Line + 1 : 0;
        var more = errors.Count > 1 ? $" (and {errors.Count - 1} more error{(errors.Count > 2 ? "s" : "")})" : "";
        return new CellError(cellNumber, line, $"{first.Id}: {first.GetMessage(CultureInfo.InvariantCulture)}{more}");
    }

    private CellError RuntimeError(int runningCell, Exception exception)
    {
        while (exception is TargetInvocationException { InnerException: { } inner }) exception = inner;
        if (exception is AggregateException { InnerExceptions.Count: 1 } aggregate) exception = aggregate.InnerExceptions[0];
        var message = $"{exception.GetType().FullName}: {exception.Message}";
        // The deepest frame in notebook code is where the claim failed or the bad call was made; it may be a method
        // an earlier cell defined.
        foreach (var frame in new StackTrace(exception, fNeedFileInfo: true).GetFrames())
        {
            if (frame.GetFileName() is { } file && _cellOfFile.TryGetValue(file, out var cell) && frame.GetFileLineNumber() > 0)
            {
                var where = cell == runningCell ? "" : $" (called from cell {runningCell})";
                return new CellError(cell, frame.GetFileLineNumber(), message + where);
            }
        }
        return new CellError(runningCell, 0, message);
    }
}
