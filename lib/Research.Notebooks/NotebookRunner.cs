using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;
using Research.Interactive;
using Research.Notebooks.Html;
using Research.Notebooks.Kernel;

namespace Research.Notebooks;

/// <summary>
/// Runs Polyglot (.NET Interactive) notebooks in the real .NET Interactive kernel, over the stdio protocol VS Code
/// Polyglot Notebooks uses: one fresh kernel per notebook, its code cells in order, stopping at the first failure.
/// </summary>
/// <remarks>
/// Runs are serialised: two kernels each running libtorch on the same cores slow each other by an order of magnitude.
/// </remarks>
public static partial class NotebookRunner
{
    private static readonly SemaphoreSlim OneAtATime = new(1, 1);

    // Reviewers open notebooks in diffs and on GitHub; past this size that becomes painful.
    private const int LargeNotebook = 1_500_000;

    /// <summary>The kernels a Polyglot notebook may name (their aliases as the kernel registers them).</summary>
    public static KernelInfoCollection KnownKernels()
    {
        var kernels = new KernelInfoCollection
        {
            new("csharp", "C#", ["c#", "C#", "cs"]),
            new("fsharp", "F#", ["f#", "F#", "fs"]),
            new("pwsh", "PowerShell", ["powershell"]),
            new("javascript", "JavaScript", ["js"]),
            new("html", "HTML"),
            new("markdown", "Markdown", ["md"]),
            new("mermaid", "Mermaid"),
            new("sql", "SQL"),
            new("kql", "KQL"),
            new("http", "HTTP"),
            new("value", "Value"),
        };
        kernels.DefaultKernelName = "csharp";
        return kernels;
    }

    /// <summary>
    /// The notebooks named by <paramref name="filesOrDirs"/>, in order: files as given, folders as the <c>*.ipynb</c>
    /// files below them (hidden folders such as <c>.ipynb_checkpoints</c> excluded), sorted by path. Duplicates are dropped.
    /// </summary>
    /// <exception cref="NotebookException">A path that is neither a file nor a folder; the message names it.</exception>
    public static IReadOnlyList<string> Expand(IEnumerable<string> filesOrDirs)
    {
        ArgumentNullException.ThrowIfNull(filesOrDirs);
        var notebooks = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in filesOrDirs)
        {
            IEnumerable<string> found;
            if (File.Exists(path)) found = [path];
            else if (Directory.Exists(path)) found = NotebooksUnder(path).Order(StringComparer.Ordinal);
            else throw new NotebookException($"{path}: no such file or directory");
            foreach (var notebook in found)
                if (seen.Add(Path.GetFullPath(notebook))) notebooks.Add(notebook);
        }
        return notebooks;
    }

    /// <summary>Reads a notebook as the kernel's document model.</summary>
    /// <exception cref="NotebookException">A missing or unreadable file, malformed JSON, or not an nbformat 4 notebook.</exception>
    public static InteractiveDocument Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string json;
        try { json = File.ReadAllText(path); }
        catch (FileNotFoundException) { throw new NotebookException($"{path}: no such notebook"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NotebookException($"{path}: cannot read: {e.Message}", e);
        }
        // Documents' parser accepts some non-notebook JSON silently; check the nbformat shape first.
        JsonNode? root;
        try { root = JsonNode.Parse(json); }
        catch (System.Text.Json.JsonException e)
        {
            throw new NotebookException($"{path}: not valid JSON (line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}): {FirstLine(e.Message)}", e);
        }
        if (root is not JsonObject notebook || notebook["cells"] is not JsonArray || (int?)notebook["nbformat"] is not 4)
            throw new NotebookException($"{path}: not an nbformat 4 notebook (needs \"nbformat\": 4 and a \"cells\" array)");
        try { return Notebook.Parse(json, KnownKernels()); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new NotebookException($"{path}: not a notebook the kernel can read: {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>
    /// Runs the notebook at <paramref name="path"/> in a fresh kernel whose working folder is the notebook's,
    /// logging each cell's time and the kernel's messages to <paramref name="log"/>. A failing cell stops the run and
    /// is reported in <see cref="NotebookRunResult.Failure"/>; then nothing is written.
    /// </summary>
    /// <exception cref="NotebookException">
    /// A missing or malformed notebook, no kernel to run it in, or an output that cannot be written.
    /// </exception>
    public static async Task<NotebookRunResult> RunAsync(string path, NotebookRunOptions options, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        var started = Stopwatch.GetTimestamp();
        var fullPath = Path.GetFullPath(path);
        var document = Read(path);
        // Checked before running: a long notebook should not fail at the end for want of an output folder.
        var htmlDirectory = options.HtmlDirectory is null ? null : PrepareDirectory(options.HtmlDirectory);
        var folder = Path.GetDirectoryName(fullPath)!;
        var tool = options.Kernel ?? KernelTool.Find(folder);

        var cells = document.Elements;
        var code = cells.Select((cell, i) => (cell, number: i + 1)).Where(c => IsCode(c.cell)).ToList();
        log.WriteLine($"{path}: {code.Count} code cells of {cells.Count}, in the .NET Interactive kernel");
        NotebookFailure? failure = null;
        var timings = new List<CellTiming>();
        await OneAtATime.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var environment = new Dictionary<string, string>(options.Environment ?? new Dictionary<string, string>());
            if (options.Plotly is { } plotly) environment[NotebookCharts.EnvironmentVariable] = PlotlySourceNames.Name(plotly);
            if (options.Pictures) environment[NotebookCharts.PicturesVariable] = "png";
            await using var kernel = await StdioKernel.StartAsync(tool, folder, log, ct, environment).ConfigureAwait(false);
            log.WriteLine($"{path}: kernel ready after {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
            var executionOrder = 0;
            foreach (var (cell, number) in code)
            {
                var cellStarted = Stopwatch.GetTimestamp();
                var events = await kernel.SubmitCodeAsync(cell.Contents, cell.KernelName ?? "csharp", ct).ConfigureAwait(false);
                var elapsed = Stopwatch.GetElapsedTime(cellStarted);
                timings.Add(new CellTiming(number, elapsed));
                var outputs = CellOutputs.From(events, ++executionOrder);
                foreach (var text in outputs.OfType<TextElement>())
                    log.Write(text.Text.EndsWith('\n') ? text.Text : text.Text + "\n");
                if (events[^1].Type == "CommandFailed")
                {
                    failure = new NotebookFailure(path, number, LineOf(events), FailureMessage(events));
                    break;
                }
                log.WriteLine($"{path}: cell {number} ok in {elapsed.TotalSeconds:F1} s");
                cell.Outputs.Clear();
                cell.Outputs.AddRange(outputs);
                cell.ExecutionOrder = executionOrder;
            }
        }
        finally { OneAtATime.Release(); }

        string? htmlPath = null;
        if (failure is null)
        {
            if (options.Write)
            {
                var json = Notebook.ToJupyterJson(document);
                if (json.Length > LargeNotebook)
                    log.WriteLine($"{path}: warning: the notebook is {json.Length / 1_000_000.0:F1} MB with outputs " +
                                  $"({NotebookCharts.EnvironmentVariable}={PlotlySourceNames.Name(PlotlySource.Cdn)} keeps plotly.js out of stored outputs)");
                NotebookException.WriteAllText(fullPath, json);
            }
            if (htmlDirectory is not null)
            {
                var title = Path.GetFileNameWithoutExtension(fullPath);
                htmlPath = Path.Combine(htmlDirectory, title + ".html");
                NotebookException.WriteAllText(htmlPath, NotebookPage.Render(title, document));
            }
        }
        var total = Stopwatch.GetElapsedTime(started);
        log.WriteLine(failure is null
            ? $"{path}: ok, {timings.Count} cells in {total.TotalSeconds:F1} s" +
              (options.Write ? ", outputs written" : "") + (htmlPath is null ? "" : $", page {htmlPath}")
            : failure.ToString());
        return new NotebookRunResult(path, failure is null ? timings.Count : timings.Count - 1, total, failure, htmlPath, timings);
    }

    /// <summary>Code cells the kernel runs: every cell whose kernel is not markdown (raw cells are not code).</summary>
    internal static bool IsCode(InteractiveDocumentElement cell) =>
        cell.KernelName is { } k && k is not ("markdown" or "md" or "raw") && !string.IsNullOrWhiteSpace(cell.Contents);

    private static string FailureMessage(IReadOnlyList<KernelEvent> events)
    {
        var message = (string?)events[^1].Body["message"] ?? "the cell failed";
        // A thrown exception also arrives as ErrorProduced with the formatted error; the command's message suffices.
        return message.Trim();
    }

    // Compile errors read "(3,17): error CS0103: ..."; the first one's line is the cell's line.
    private static int LineOf(IReadOnlyList<KernelEvent> events)
    {
        var match = DiagnosticPosition().Match((string?)events[^1].Body["message"] ?? "");
        return match.Success ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"^\((\d+),\d+\): error", RegexOptions.Multiline)]
    private static partial Regex DiagnosticPosition();

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();

    private static IEnumerable<string> NotebooksUnder(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder, "*.ipynb")) yield return file;
        foreach (var sub in Directory.EnumerateDirectories(folder))
            if (!Path.GetFileName(sub).StartsWith('.'))
                foreach (var file in NotebooksUnder(sub)) yield return file;
    }

    private static string PrepareDirectory(string directory)
    {
        try
        {
            var full = Directory.CreateDirectory(directory).FullName;
            // Creating a folder is not writing into it (read-only mounts, permissions): try a file now.
            var probe = Path.Combine(full, $".write-probe.{Environment.ProcessId}.{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            return full;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new NotebookException($"{directory}: cannot write HTML pages there: {e.Message}", e);
        }
    }
}
