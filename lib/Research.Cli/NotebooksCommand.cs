using System.CommandLine;
using Research.Charts;
using Research.Interactive;
using Research.Notebooks;
using Research.Notebooks.Export;
using Research.Notebooks.Kernel;

namespace Research.Cli;

/// <summary>
/// <c>research notebooks run &lt;files|dirs&gt; [--write [--no-pictures]] [--html DIR] [--plotly-js embedded|cdn]</c> and
/// <c>research notebooks export &lt;files|dirs&gt; --to app [--out DIR]</c>.
/// </summary>
public static class NotebooksCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var paths = new Argument<string[]>("paths") { Description = "Notebooks (.ipynb) or folders holding them.", Arity = ArgumentArity.OneOrMore };
        var write = new Option<bool>("--write")
        {
            Description = "Store the outputs back into each .ipynb (only when every cell succeeded), each chart with a static picture (image/png) for viewers without JavaScript.",
        };
        var noPictures = new Option<bool>("--no-pictures") { Description = "With --write: store charts without their static pictures (no headless Chromium needed)." };
        var html = new Option<string?>("--html") { Description = "Write one standalone offline page per notebook into this folder." };
        var plotly = new Option<string?>("--plotly-js")
        {
            Description = "Where charts get plotly.js: embedded (default: the kit's copy, once per notebook; works offline) or cdn (smaller outputs).",
        };
        plotly.Validators.Add(result =>
        {
            // System.CommandLine's own AcceptOnlyFromAmong message does not name the option.
            if (result.Tokens is [{ Value: var value }] && !PlotlySourceNames.TryParse(value, out _))
                result.AddError($"--plotly-js: unknown value '{value}'; allowed: {string.Join(", ", PlotlySourceNames.All)}");
        });
        var run = new Command("run",
            "Run Polyglot notebooks in the .NET Interactive kernel (stdio, as VS Code does), one kernel per notebook; fails at the first failing cell.")
        { paths, write, noPictures, html, plotly };
        run.SetAction(async (parse, cancellation) =>
        {
            var notebooks = NotebookRunner.Expand(parse.GetValue(paths)!);
            var htmlDir = parse.GetValue(html);
            if (htmlDir is not null) RejectPageNameClashes(notebooks);
            // One kernel install serves every notebook; a missing one is reported once, before anything runs.
            var kernel = KernelTool.Find(notebooks.Select(n => Path.GetDirectoryName(Path.GetFullPath(n))!).ToArray());
            await kernel.EnsureRestoredAsync(cancellation);
            PlotlySource? source = PlotlySourceNames.TryParse(parse.GetValue(plotly), out var parsed) ? parsed : null;
            var pictures = parse.GetValue(write) && !parse.GetValue(noPictures);
            if (pictures && ChartImages.FindChromium() is null)
                throw new NotebookException($"--write draws a static picture of every chart in headless Chromium, and none was found: install it " +
                                            $"(Debian/Ubuntu: apt-get install chromium), set {ChartImages.BrowserVariable} to its executable, or pass --no-pictures");
            var options = new NotebookRunOptions(parse.GetValue(write), htmlDir, kernel, source, Pictures: pictures);

            int failed = 0, badInput = 0;
            foreach (var notebook in notebooks)
            {
                try
                {
                    var result = await NotebookRunner.RunAsync(notebook, options, stderr, cancellation);
                    if (result.Failure is { } failure)
                    {
                        failed++;
                        stderr.WriteLine($"research: {failure}");
                        stdout.WriteLine($"FAIL {notebook} ({result.CellsRun} cells ran, {result.Elapsed.TotalSeconds:F1} s)");
                    }
                    else
                    {
                        var page = result.HtmlPath is { } p ? $", page {p}" : "";
                        stdout.WriteLine($"ok   {notebook} ({result.CellsRun} cells, {result.Elapsed.TotalSeconds:F1} s{page})");
                    }
                }
                catch (NotebookException e)
                {
                    // A malformed notebook is bad input, but the others still run and report.
                    badInput++;
                    stderr.WriteLine($"research: {e.Message}");
                }
            }
            return badInput > 0 ? ExitCodes.BadInput : failed > 0 ? ExitCodes.Failed : ExitCodes.Ok;
        });
        return new Command("notebooks", "Work with the Polyglot notebooks.") { run, Export(stdout) };
    }

    private static Command Export(TextWriter stdout)
    {
        var paths = new Argument<string[]>("paths") { Description = "Notebooks (.ipynb) or folders holding them.", Arity = ArgumentArity.OneOrMore };
        var to = new Option<string>("--to") { Description = "What to write: app (a C# file-based app per notebook, for dotnet run).", Required = true };
        to.Validators.Add(result =>
        {
            if (result.Tokens is [{ Value: var value }] && !AppExport.Formats.Contains(value))
                result.AddError($"--to: unknown value '{value}'; allowed: {string.Join(", ", AppExport.Formats)}");
        });
        var output = new Option<string>("--out") { Description = "Folder for the apps (default: apps in the current folder).", DefaultValueFactory = _ => "apps" };
        var export = new Command("export",
            "Write each notebook as a C# file-based app (<out>/<name>.cs) that runs its cells without the kernel: dotnet run <out>/<name>.cs. " +
            "Writes nothing if any notebook has a cell an app cannot hold.")
        { paths, to, output };
        export.SetAction(parse =>
        {
            var notebooks = NotebookRunner.Expand(parse.GetValue(paths)!);
            var apps = AppExport.Export(notebooks, parse.GetValue(output)!);
            foreach (var (notebook, app) in notebooks.Zip(apps)) stdout.WriteLine($"app  {notebook} -> {app}");
            if (apps.Count > 0) stdout.WriteLine($"run one with: dotnet run {apps[0]}");
            return ExitCodes.Ok;
        });
        return export;
    }

    // Pages are named after the notebook file; two notebooks called x.ipynb would overwrite each other's page.
    private static void RejectPageNameClashes(IReadOnlyList<string> notebooks)
    {
        var clash = notebooks.GroupBy(n => Path.GetFileNameWithoutExtension(n), StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new NotebookException($"--html: notebooks {string.Join(" and ", clash)} would both be written as {clash.Key}.html; run them separately");
    }
}
