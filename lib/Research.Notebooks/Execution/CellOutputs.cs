using System.Text;

namespace Research.Notebooks.Execution;

/// <summary>One rendered value: a MIME type and its text.</summary>
internal sealed record FormattedValue(string MimeType, string Text);

/// <summary>An output of a cell, in the order it was produced.</summary>
internal abstract class CellOutput;

/// <summary>Console text; consecutive writes to the same stream are merged, as Jupyter front ends do.</summary>
internal sealed class StreamOutput(string name) : CellOutput
{
    public string Name { get; } = name;
    public StringBuilder Text { get; } = new();
}

/// <summary>A <c>display(...)</c> value, or the cell's trailing expression when <see cref="ExecutionCount"/> is set.</summary>
internal sealed class DisplayOutput(FormattedValue value, int? executionCount = null) : CellOutput
{
    public FormattedValue Value { get; set; } = value;
    public int? ExecutionCount { get; } = executionCount;
}

/// <summary>Collects the outputs of the cell that is running; thread-safe because cells may start tasks that print.</summary>
internal sealed class CellOutputs(TextWriter? echo, string chartIdPrefix)
{
    private readonly List<CellOutput> _items = [];
    private readonly Lock _lock = new();
    private int _charts;

    /// <summary>Formats a value for this cell; charts get ids <c>prefix-1</c>, <c>prefix-2</c>, ... in display order.</summary>
    public FormattedValue Format(object? value) =>
        OutputFormatter.Format(value, () => $"{chartIdPrefix}-{Interlocked.Increment(ref _charts)}");

    public IReadOnlyList<CellOutput> Snapshot()
    {
        lock (_lock) return [.. _items];
    }

    public void Write(string stream, string text)
    {
        if (text.Length == 0) return;
        lock (_lock)
        {
            if (_items.Count > 0 && _items[^1] is StreamOutput last && last.Name == stream) last.Text.Append(text);
            else
            {
                var output = new StreamOutput(stream);
                output.Text.Append(text);
                _items.Add(output);
            }
            echo?.Write(text);
        }
    }

    public DisplayOutput Add(FormattedValue value, int? executionCount = null)
    {
        var output = new DisplayOutput(value, executionCount);
        lock (_lock) _items.Add(output);
        return output;
    }

    public void Replace(DisplayOutput output, FormattedValue value)
    {
        lock (_lock) output.Value = value;
    }
}
