using Research.Experiments;
using Spectre.Console;

namespace Research.Cli;

/// <summary>Result tables on the console: Spectre.Console tables, sized for a terminal and never wrapped in a file or pipe.</summary>
public static class ConsoleTables
{
    // Wide enough for the widest result table; Spectre only takes the width a table needs, so lines are not padded.
    private const int FileWidth = 1000;

    /// <summary>A console writing to <paramref name="stdout"/>: colour and the terminal's width when it is the terminal,
    /// plain text at <see cref="FileWidth"/> columns otherwise (a file, a pipe, a test's writer).</summary>
    public static IAnsiConsole For(TextWriter stdout)
    {
        bool terminal = ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
        });
        if (!terminal) console.Profile.Width = FileWidth;
        return console;
    }

    /// <summary>The table as Spectre draws it: its name as title, numbers right-aligned.</summary>
    public static Table Of(ResultTable table)
    {
        var t = new Table().Title(Markup.Escape(table.Name));
        for (int i = 0; i < table.Columns.Count; i++)
            t.AddColumn(new TableColumn(Markup.Escape(table.Columns[i])) { Alignment = table.IsNumeric(i) ? Justify.Right : Justify.Left });
        foreach (var row in table.DisplayRows()) t.AddRow(row.Select(Markup.Escape).ToArray());
        return t;
    }

    /// <summary>Writes <paramref name="tables"/> to <paramref name="stdout"/>.</summary>
    public static void Write(TextWriter stdout, params IEnumerable<ResultTable> tables)
    {
        var console = For(stdout);
        foreach (var table in tables) console.Write(Of(table));
    }
}
