using Research.Charts;

namespace Research.Experiments;

/// <summary>One picture of the README's gallery: chart <paramref name="Chart"/> of experiment <paramref name="Experiment"/>,
/// written as <paramref name="File"/> (the README's captions say what each shows).</summary>
public sealed record GalleryPicture(string Experiment, string Chart, string File);

/// <summary>
/// The pictures that tell the kit's story, drawn (<see cref="ChartImages"/>) from the figures a run of the experiments
/// wrote (<c>&lt;out&gt;/&lt;id&gt;/charts/&lt;name&gt;.json</c>): the experiments' own results, not charts made by hand.
/// <c>research gallery --from out --out data/gallery</c> after <c>research reproduce --out out</c> remakes the README's.
/// </summary>
public static class Gallery
{
    /// <summary>Every picture, in the README's order.</summary>
    public static IReadOnlyList<GalleryPicture> Pictures { get; } =
    [
        new("fp8-scaling", "error-vs-gain", "fp8-tile-scaling.png"),
        new("fp8-accumulation", "error-vs-k", "fp8-accumulation.png"),
        new("fp8-training", "validation-loss", "fp8-training.png"),
        new("moe-balance", "expert-load", "moe-expert-load.png"),
        new("moe-balance", "max-vio", "moe-max-vio.png"),
        new("mla-cache", "bytes-per-token", "kv-cache-bytes.png"),
        new("r1-zero", "pass-at-1", "grpo-pass-at-1.png"),
        new("mtp", "acceptance-by-domain", "mtp-acceptance.png"),
        new("v3-mini", "loss-vs-flops", "v3-mini-loss-vs-flops.png"),
    ];

    /// <summary>
    /// Draws every picture from the figures under <paramref name="results"/> and writes them into <paramref name="outDir"/>;
    /// returns their paths. Nothing is written until every picture is drawn.
    /// </summary>
    /// <exception cref="ArgumentException">A figure is missing from <paramref name="results"/>; the message names each
    /// and the command that makes it.</exception>
    /// <exception cref="OutputException"><paramref name="outDir"/> cannot be written.</exception>
    /// <exception cref="ChartImageException">No browser to draw with.</exception>
    public static async Task<IReadOnlyList<string>> WriteAsync(string results, string outDir, CancellationToken ct = default)
    {
        var figures = Pictures.Select(p => (Picture: p, Path: ExperimentWriter.FigurePath(Path.Combine(results, p.Experiment), p.Chart))).ToList();
        var missing = figures.Where(f => !File.Exists(f.Path)).Select(f => $"{f.Picture.Experiment}/{ExperimentWriter.ChartsFolder}/{f.Picture.Chart}.json").ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"--from {results}: no figure {string.Join(", ", missing)}; make them with `research reproduce --out {results}` " +
                                        $"(or `research run <id> --out {results}` for each experiment named)");
        var root = ExperimentWriter.PrepareFolder(outDir);
        var drawn = new List<(string Path, byte[] Png)>();
        await using (var images = await ChartImages.StartAsync(ct).ConfigureAwait(false))
            foreach (var (picture, figure) in figures)
                drawn.Add((Path.Combine(root, picture.File), await images.PngAsync(await File.ReadAllTextAsync(figure, ct).ConfigureAwait(false), ct).ConfigureAwait(false)));
        foreach (var (path, png) in drawn)
            AtomicFile.Write(path, partial => File.WriteAllBytes(partial, png));
        return drawn.Select(d => d.Path).ToList();
    }
}
