using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.DotNet.Interactive.Formatting;
using Plotly.NET;
using Research.Charts;
using Research.Experiments;

namespace Research.Interactive;

/// <summary>
/// The runtime of a notebook exported as a C# file-based app (<c>research notebooks export --to app</c>). The app
/// calls <see cref="Start"/>, then, in the notebook's order, <see cref="Markdown"/> for each markdown cell (its text is
/// the comment block right above the call) and <see cref="Cell"/> before each code cell's statements, with
/// <c>Display</c> where the kernel would have shown the cell's value, and <see cref="End"/>. Run, it prints the
/// markdown, the displayed values and what the cells write to the console; <see cref="End"/> writes the notebook's
/// page beside the app (<see cref="NotebookHtml"/>, as <c>research notebooks run --html</c> draws a kernel run).
/// </summary>
/// <remarks>
/// Markdown and code are read back from the app's own source, so the file holds each text once. The state is one run
/// per process, as a kernel holds one session: the app's top-level statements call these as plain functions
/// (<c>using static</c>), which keeps the app reading like its notebook.
/// </remarks>
public static class NotebookApp
{
    private static Run? _current;

    /// <summary>
    /// Starts the run of the app whose source is <paramref name="sourcePath"/> (found by the compiler; <c>dotnet run
    /// app.cs</c> names the file it ran, which wins if the app was built elsewhere) and keeps what the cells write to
    /// the console for the page.
    /// </summary>
    public static void Start(string title, [CallerFilePath] string sourcePath = "")
    {
        ArgumentNullException.ThrowIfNull(title);
        var path = AppContext.GetData("EntryPointFilePath") as string ?? sourcePath;
        if (!File.Exists(path))
            throw new FileNotFoundException($"NotebookApp reads the notebook's text from the app's source, {path}, which is not there", path);
        _current = new Run(title, path);
    }

    /// <summary>A markdown cell: prints the comment block right above this call as text and puts it on the page as HTML.</summary>
    public static void Markdown([CallerLineNumber] int line = 0) => Current.Markdown(line);

    /// <summary>A code cell starts: its code, the lines after this call up to the next cell, goes on the page.</summary>
    public static void Cell([CallerLineNumber] int line = 0) => Current.Cell(line);

    /// <summary>Shows a cell's value as the kernel would: its plain text on the console, its preferred form on the page.</summary>
    public static void Display<T>(T value) => Current.Show(value, typeof(T));

    /// <summary>Shows the value of an expression that has one (a call returning a value).</summary>
    public static void Display<T>(Func<T> expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        Current.Show(expression(), typeof(T));
    }

    /// <summary>Runs an expression that has no value (a void call): the kernel shows nothing for it, and neither does the app.</summary>
    public static void Display(Action expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        expression();
    }

    /// <summary>Shows the value of an expression with <c>await</c> in it.</summary>
    public static async Task Display<T>(Func<Task<T>> expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        Current.Show(await expression().ConfigureAwait(false), typeof(T));
    }

    /// <summary>Runs an expression with <c>await</c> in it and no value.</summary>
    public static async Task Display(Func<Task> expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        await expression().ConfigureAwait(false);
    }

    /// <summary>Ends the run: writes the page beside the app (atomically) and prints its path.</summary>
    public static void End()
    {
        Current.End();
        _current = null;
    }

    private static Run Current => _current ?? throw new InvalidOperationException("NotebookApp.Start must come first: the app calls it before any cell");

    private sealed class Run
    {
        private readonly string _title;
        private readonly string[] _source;
        private readonly string _pagePath;
        private readonly TextWriter _stdout = Console.Out;
        private readonly TextWriter _stderr = Console.Error;
        private readonly List<string> _parts = [];
        // Console text of the current cell not yet on the page, as (stream, text) runs in the order written.
        private readonly List<(string Stream, StringBuilder Text)> _written = [];

        public Run(string title, string sourcePath)
        {
            _title = title;
            _source = File.ReadAllLines(sourcePath);
            _pagePath = Path.ChangeExtension(Path.GetFullPath(sourcePath), ".html");
            Console.SetOut(new Tee(_stdout, text => Keep("stdout", text)));
            Console.SetError(new Tee(_stderr, text => Keep("stderr", text)));
        }

        public void Markdown(int line)
        {
            var text = string.Join('\n', CommentAbove(line));
            if (_parts.Count > 0) _stdout.WriteLine();   // set apart from the output above it
            _stdout.WriteLine(text);
            _stdout.WriteLine();
            Add(NotebookHtml.Markdown(text));
        }

        public void Cell(int line)
        {
            var code = string.Join('\n', CodeAfter(line));
            Add(code.Length == 0 ? null : NotebookHtml.Code(code, "csharp"));
        }

        public void Show(object? value, Type declared)
        {
            if (value is GenericChart chart)
            {
                _stdout.WriteLine($"(a chart: on the page, {Path.GetFileName(_pagePath)})");
                Add(NotebookHtml.Displayed("text/html", ChartHtml.Fragment(chart, loader: PlotlyLoader.WaitForPage)));   // the page carries plotly.js
                return;
            }
            if (value is ResultTable table)   // as in the kernel (KernelIntegration): the table's own HTML
            {
                _stdout.WriteLine($"(table {table.Name}: on the page, {Path.GetFileName(_pagePath)})");
                Add(NotebookHtml.Displayed("text/html", table.ToHtml()));
                return;
            }
            _stdout.WriteLine(value.ToDisplayString(PlainTextFormatter.MimeType));
            // The kernel's choice: the MIME type preferred for the value's type (text/plain for strings, HTML for
            // records and collections), the default (HTML) when none is registered.
            var mime = Formatter.GetPreferredMimeTypesFor(value?.GetType() ?? declared).FirstOrDefault() ?? Formatter.DefaultMimeType;
            Add(NotebookHtml.Displayed(mime, value.ToDisplayString(mime)));
        }

        public void End()
        {
            Add(null);
            Console.SetOut(_stdout);
            Console.SetError(_stderr);
            var page = NotebookHtml.Page(_title, _parts);
            AtomicFile.Write(_pagePath, partial => File.WriteAllText(partial, page));
            _stdout.WriteLine($"page: {_pagePath}");
        }

        // Console text written so far belongs before whatever comes next on the page.
        private void Add(string? part)
        {
            lock (_written)
            {
                _parts.AddRange(_written.Select(w => NotebookHtml.Stream(w.Text.ToString(), w.Stream)));
                _written.Clear();
            }
            if (part is not null) _parts.Add(part);
        }

        private void Keep(string stream, string text)
        {
            lock (_written)
            {
                if (_written.Count == 0 || _written[^1].Stream != stream) _written.Add((stream, new StringBuilder()));
                _written[^1].Text.Append(text);
            }
        }

        // The markdown of `Markdown();` on line `line` (1-based): the `//` lines right above it, without the `// `.
        private IEnumerable<string> CommentAbove(int line)
        {
            var first = line - 1;
            while (first > 0 && _source[first - 1].TrimStart().StartsWith("//", StringComparison.Ordinal)) first--;
            return _source[first..(line - 1)].Select(l => l.TrimStart() is var t && t.StartsWith("// ", StringComparison.Ordinal) ? t[3..] : t[2..]);
        }

        // The code of `Cell();` on line `line`: the lines after it up to the next segment (a cell, the comment block
        // of a markdown cell, or the end), without the blank lines that separate segments.
        private IEnumerable<string> CodeAfter(int line)
        {
            var next = line;
            while (next < _source.Length && _source[next].Trim() is not ("Cell();" or "Markdown();" or "End();")) next++;
            if (next < _source.Length && _source[next].Trim() == "Markdown();")
                while (next > line && _source[next - 1].TrimStart().StartsWith("//", StringComparison.Ordinal)) next--;
            var code = _source[line..next];
            var start = Array.FindIndex(code, l => l.Trim().Length > 0);
            var end = Array.FindLastIndex(code, l => l.Trim().Length > 0);
            return start < 0 ? [] : code[start..(end + 1)];
        }
    }

    // Writes through to the console and hands every write to `keep`, as the kernel shows a cell's console output.
    private sealed class Tee(TextWriter through, Action<string> keep) : TextWriter
    {
        public override Encoding Encoding => through.Encoding;

        public override void Write(char value)
        {
            through.Write(value);
            keep(value.ToString());
        }

        public override void Write(string? value)
        {
            through.Write(value);
            if (!string.IsNullOrEmpty(value)) keep(value);
        }

        public override void Write(char[] buffer, int index, int count)
        {
            through.Write(buffer, index, count);
            keep(new string(buffer, index, count));
        }

        public override void Flush() => through.Flush();
    }
}
