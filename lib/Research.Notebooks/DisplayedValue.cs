using Research.Notebooks.Execution;

namespace Research.Notebooks;

/// <summary>An output shown with <c>display</c>; it can be replaced while the cell runs (progress, live values).</summary>
public sealed class DisplayedValue
{
    private readonly CellOutputs _outputs;
    private readonly DisplayOutput _output;

    internal DisplayedValue(CellOutputs outputs, DisplayOutput output)
    {
        _outputs = outputs;
        _output = output;
    }

    /// <summary>Replaces the shown value with <paramref name="value"/>.</summary>
    public void Update(object? value) => _outputs.Replace(_output, _outputs.Format(value));
}
