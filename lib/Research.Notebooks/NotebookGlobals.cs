using Research.Notebooks.Execution;

namespace Research.Notebooks;

/// <summary>
/// The globals of a notebook's C# session: what Polyglot's C# kernel offers cells (<c>display</c>, <c>HTML</c>),
/// so notebooks run unchanged in VS Code and in the runner.
/// </summary>
public sealed class NotebookGlobals
{
    // Extension-method Display() has no globals object at hand; runs are serialised, so one current session suffices.
    private static NotebookGlobals? s_current;

    internal NotebookGlobals() { }

    internal CellOutputs? Outputs { get; set; }

    /// <summary>
    /// Cancelled when the run is (Ctrl+C in the CLI). The runner only checks it between cells; long loops in a cell
    /// should pass it on or check it themselves.
    /// </summary>
    public CancellationToken Cancellation { get; internal set; }

    internal static NotebookGlobals? Current
    {
        get => Volatile.Read(ref s_current);
        set => Volatile.Write(ref s_current, value);
    }

    /// <summary>Shows <paramref name="value"/> as an output of the running cell (charts as HTML, others as text).</summary>
    /// <returns>A handle whose <see cref="DisplayedValue.Update"/> replaces what was shown.</returns>
#pragma warning disable IDE1006 // the Polyglot kernel's name, kept so notebooks run in both places
    public DisplayedValue display(object? value)
#pragma warning restore IDE1006
    {
        var outputs = Outputs ?? throw new InvalidOperationException("display() was called outside a running cell");
        return new DisplayedValue(outputs, outputs.Add(outputs.Format(value)));
    }

    /// <summary>Same as <see cref="display"/>.</summary>
    public DisplayedValue Display(object? value) => display(value);

    /// <summary>Marks <paramref name="html"/> as HTML to show as is, like the kernel's <c>HTML(...)</c>.</summary>
#pragma warning disable CA1822 // an instance member so cells can call it unqualified, as in the kernel
    public HtmlContent HTML(string html) => new(html);
#pragma warning restore CA1822
}
