using System.Diagnostics;
using Research.Notebooks.Execution;
using Research.Notebooks.Html;
using Research.Notebooks.Ipynb;
using Research.Platform;

namespace Research.Notebooks;

/// <summary>
/// Runs Polyglot (.NET Interactive) notebooks headless: the C# cells of each notebook, in order, in one C# scripting
/// session, with the kit's libraries (TorchSharp, Plotly.NET, MathNet, Research.Core) provided by the host process.
/// </summary>
/// <remarks>
/// Runs in one process are serialised: the runner redirects the process-wide Console into the running cell's
/// outputs and sets the working directory to the notebook's folder, as the kernel does.
/// </remarks>
public static class NotebookRunner
{
    private static readonly SemaphoreSlim OneAtATime = new(1, 1);

    // Reviewers open notebooks in diffs and on GitHub; past this size that becomes painful.
    private const int LargeNotebook = 1_000_000;

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

    /// <summary>
    /// Runs the notebook at <paramref name="path"/>, logging progress and cell console output to <paramref name="log"/>.
    /// A failing cell stops the run and is reported in <see cref="NotebookRunResult.Failure"/>; then nothing is written.
    /// </summary>
    /// <exception cref="NotebookException">
    /// The file is missing, is not valid JSON or not an nbformat 4 notebook, or an output cannot be written.
    /// </exception>
    public static async Task<NotebookRunResult> RunAsync(string path, NotebookRunOptions options, TextWriter log, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        var started = Stopwatch.GetTimestamp();
        var fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath)) throw new NotebookException($"{path}: no such notebook");
        // Checked before running: a long notebook should not fail at the end for want of an output folder.
        var htmlDirectory = options.HtmlDirectory is null ? null : PrepareDirectory(options.HtmlDirectory);
        var notebook = NotebookDocument.Parse(await ReadAsync(path, fullPath, ct).ConfigureAwait(false), path);
        TorchRuntime.EnsureLoaded();

        log.WriteLine($"{path}: running {notebook.Cells.Count} cells");
        var execution = new NotebookExecution(notebook, path, fullPath, log);
        NotebookFailure? failure;
        await OneAtATime.WaitAsync(ct).ConfigureAwait(false);
        try { failure = await execution.RunAsync(ct).ConfigureAwait(false); }
        finally { OneAtATime.Release(); }

        string? htmlPath = null;
        if (failure is null)
        {
            if (options.Write)
            {
                execution.StoreOutputs();
                var json = notebook.ToJson();
                if (json.Length > LargeNotebook)
                    log.WriteLine($"{path}: warning: the notebook is {json.Length / 1_000_000.0:F1} MB with outputs; " +
                                  "plot fewer points or print less so it stays easy to review");
                AtomicFile.WriteAllText(fullPath, json);
            }
            if (htmlDirectory is not null)
            {
                var title = Path.GetFileNameWithoutExtension(fullPath);
                htmlPath = Path.Combine(htmlDirectory, title + ".html");
                AtomicFile.WriteAllText(htmlPath, NotebookPage.Render(title, notebook, execution.Kernels, execution.Runs));
            }
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        log.WriteLine(failure is null
            ? $"{path}: ok, {execution.CellsRun} cells run in {elapsed.TotalSeconds:F1} s" +
              (options.Write ? ", outputs written" : "") + (htmlPath is null ? "" : $", page {htmlPath}")
            : failure.ToString());
        return new NotebookRunResult(path, execution.CellsRun, elapsed, failure, htmlPath);
    }

    private static IEnumerable<string> NotebooksUnder(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder, "*.ipynb")) yield return file;
        foreach (var sub in Directory.EnumerateDirectories(folder))
            if (!Path.GetFileName(sub).StartsWith('.'))
                foreach (var file in NotebooksUnder(sub)) yield return file;
    }

    private static async Task<string> ReadAsync(string path, string fullPath, CancellationToken ct)
    {
        try { return await File.ReadAllTextAsync(fullPath, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NotebookException($"{path}: cannot read: {e.Message}", e);
        }
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
