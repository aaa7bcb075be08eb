using System.Text.Json;
using Plotly.NET;
using PuppeteerSharp;
using Research.Platform;

namespace Research.Charts;

/// <summary>A static picture of a chart could not be made (no browser, or the browser failed); the message says why.</summary>
public sealed class ChartImageException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Static pictures (PNG) of charts, drawn by plotly.js itself in headless Chromium, offline: the kit's own copy of
/// plotly.js is loaded once into one page, and every chart is one <c>Plotly.toImage</c> call there. For wherever no
/// JavaScript runs: stored notebook outputs seen on GitHub or in nbconvert's markdown and PDF exports, and the
/// README's gallery. The browser talks to the kit over a pipe, so it opens no port.
/// </summary>
/// <remarks>
/// Why not Plotly.NET.ImageExport: with Plotly.NET 6 its pages load plotly.js from the CDN (no picture offline),
/// and it starts a browser for every picture (about 3.5 s each here, against 0.3 s in one page).
/// </remarks>
public sealed class ChartImages : IAsyncDisposable
{
    /// <summary>The environment variable naming the Chromium (or Chrome) executable to use.</summary>
    public const string BrowserVariable = "RESEARCH_CHROMIUM";

    // Plotly's own default figure size, for charts that set none.
    private const int DefaultWidth = 700, DefaultHeight = 450;

    private static readonly Lock SharedGate = new();
    private static ChartImages? shared;

    private readonly IBrowser browser;
    private readonly IPage page;
    private readonly SemaphoreSlim oneAtATime = new(1, 1);

    private ChartImages(IBrowser browser, IPage page) => (this.browser, this.page) = (browser, page);

    /// <summary>Starts headless Chromium (<see cref="FindChromium"/>) with plotly.js loaded, ready to draw.</summary>
    /// <exception cref="ChartImageException">No Chromium was found, or it did not start.</exception>
    public static async Task<ChartImages> StartAsync(CancellationToken ct = default)
    {
        var executable = FindChromium() ?? throw new ChartImageException(
            "static chart pictures need Chromium or Chrome, and none was found: install it (Debian/Ubuntu: apt-get install chromium) " +
            $"or set {BrowserVariable} to its executable");
        IBrowser? started = null;
        try
        {
            started = await Puppeteer.LaunchAsync(new LaunchOptions
            {
                ExecutablePath = executable,
                Headless = true,
                Pipe = true,
                Args =
                [
                    // Chromium refuses to run as root inside its sandbox.
                    .. Environment.IsPrivilegedProcess ? ["--no-sandbox"] : Array.Empty<string>(),
                    "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    // Nothing here needs the network: no background requests. (--host-resolver-rules would be the
                    // next step, but with it Chromium never answers on the pipe.)
                    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
                ],
            }).WaitAsync(ct).ConfigureAwait(false);
            var page = await started.NewPageAsync().ConfigureAwait(false);
            await page.SetContentAsync(
                $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><script>{ChartHtml.PlotlyJs}</script></head><body></body></html>").ConfigureAwait(false);
            return new ChartImages(started, page);
        }
        catch (Exception e) when (e is not OperationCanceledException)   // PuppeteerSharp's start-up failures share no base type
        {
            if (started is not null) await started.DisposeAsync().ConfigureAwait(false);
            throw new ChartImageException($"Chromium ({executable}) did not start for static chart pictures: {e.Message}", e);
        }
    }

    /// <summary>
    /// One renderer for the whole process, started at first use (blocking, about 3 s) and closed when the process ends:
    /// for callers that draw now and then (the kernel's chart formatter, one picture per displayed chart).
    /// </summary>
    /// <exception cref="ChartImageException">As <see cref="StartAsync"/>; the next call tries again.</exception>
    public static ChartImages Shared
    {
        get
        {
            lock (SharedGate)
            {
                if (shared is null)
                {
                    // Off the caller's context: a formatter runs synchronously on the kernel's thread.
                    shared = Task.Run(() => StartAsync()).GetAwaiter().GetResult();
                    var closing = shared;
                    AppDomain.CurrentDomain.ProcessExit += (_, _) => closing.DisposeAsync().AsTask().GetAwaiter().GetResult();
                }
                return shared;
            }
        }
    }

    /// <summary>The chart as a PNG at its own size (its layout's width and height; Plotly's 700 × 450 where unset).</summary>
    public Task<byte[]> PngAsync(GenericChart chart, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(chart);
        return PngAsync(GenericChart.toFigureJson(chart), ct);
    }

    /// <summary>A figure (plotly.js's <c>data</c> and <c>layout</c> as JSON, as Plotly.NET writes it) as a PNG at its own size.</summary>
    public async Task<byte[]> PngAsync(string figureJson, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(figureJson);
        using var figure = JsonDocument.Parse(figureJson);
        var (width, height) = SizeOf(figure.RootElement);
        await oneAtATime.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var url = await page.EvaluateFunctionAsync<string>(
                "(figure, width, height) => Plotly.toImage(figure, { format: 'png', width: width, height: height })",
                figure.RootElement, width, height).WaitAsync(ct).ConfigureAwait(false);
            // A data URL: "data:image/png;base64,<bytes>".
            return Convert.FromBase64String(url[(url.IndexOf(',', StringComparison.Ordinal) + 1)..]);
        }
        catch (PuppeteerException e) { throw new ChartImageException($"plotly.js could not draw the chart: {e.Message}", e); }
        finally { oneAtATime.Release(); }
    }

    /// <summary>The width and height a chart is drawn at: its layout's, else Plotly's default.</summary>
    public static (int Width, int Height) SizeOf(GenericChart chart)
    {
        using var figure = JsonDocument.Parse(GenericChart.toFigureJson(chart));
        return SizeOf(figure.RootElement);
    }

    /// <summary>
    /// The browser to draw with: <c>RESEARCH_CHROMIUM</c> if set (null if it names no file), else the usual install
    /// locations, else <c>chromium</c>, <c>chromium-browser</c>, <c>google-chrome</c> on the PATH; null if none.
    /// </summary>
    public static string? FindChromium() => Executables.Find(BrowserVariable,
        OperatingSystem.IsWindows()
            ? [Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles), @"Google\Chrome\Application\chrome.exe")]
            : ["/usr/bin/chromium", "/usr/bin/chromium-browser",
               "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", "/Applications/Chromium.app/Contents/MacOS/Chromium"],
        ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]);

    /// <summary>Closes the browser.</summary>
    public async ValueTask DisposeAsync()
    {
        await browser.DisposeAsync().ConfigureAwait(false);
        oneAtATime.Dispose();
    }

    private static (int, int) SizeOf(JsonElement figure)
    {
        int Dimension(string name, int fallback) =>
            figure.TryGetProperty("layout", out var layout) && layout.TryGetProperty(name, out var value) && value.TryGetInt32(out var pixels)
                ? pixels : fallback;
        return (Dimension("width", DefaultWidth), Dimension("height", DefaultHeight));
    }
}
