namespace Research.Notebooks;

/// <summary>The kernel's <c>value.Display()</c> form of <see cref="NotebookGlobals.display"/>.</summary>
public static class DisplayExtensions
{
    /// <summary>Shows <paramref name="value"/> as an output of the running cell.</summary>
    public static DisplayedValue Display(this object? value) =>
        (NotebookGlobals.Current ?? throw new InvalidOperationException("Display() was called outside a running notebook"))
            .display(value);
}
