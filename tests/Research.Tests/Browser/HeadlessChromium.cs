using System.Diagnostics;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using Xunit;

namespace Research.Tests.Browser;

/// <summary>
/// What a page did in the browser: charts found and drawn, console errors, resources it fetched, the text each
/// kit chart container shows (empty when drawn; a message when plotly.js could not be had), and how many static chart
/// pictures are on the page and decoded.
/// </summary>
public sealed record PageReport(int Charts, int ChartsDrawn, IReadOnlyList<string> SevereLogs, IReadOnlyList<string> Resources,
    IReadOnlyList<string> ChartTexts, int PicturesShown = 0)
{
    /// <summary>Resources fetched over http(s); an offline page must have none.</summary>
    public IReadOnlyList<string> NetworkResources =>
        Resources.Where(r => r.StartsWith("http:", StringComparison.OrdinalIgnoreCase)
                          || r.StartsWith("https:", StringComparison.OrdinalIgnoreCase)).ToList();
}

/// <summary>
/// Headless Chromium driven through Selenium and a local ChromeDriver, for checking that chart pages really draw.
/// Paths come from RESEARCH_CHROMIUM / RESEARCH_CHROMEDRIVER or the usual install locations; Selenium Manager is
/// never used (it would try to download a driver), because the driver path is always given explicitly.
/// </summary>
public sealed class HeadlessChromium : IDisposable
{
    private readonly ChromeDriverService _service;
    private readonly ChromeDriver _driver;
    private readonly string _profile;

    private HeadlessChromium(string browser, string driver)
    {
        // A fresh profile per run: no state leaks between tests, and a root user's default profile is never touched.
        _profile = Directory.CreateTempSubdirectory("research-chromium-").FullName;
        _service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
        _service.SuppressInitialDiagnosticInformation = true;
        _service.HideCommandPromptWindow = true;

        var options = new ChromeOptions { BinaryLocation = browser };
        options.AddArguments(
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            // Without these Chromium phones home at start-up (refused connections on an offline machine).
            "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync",
            // Belt and braces: no host name resolves, so a page can never reach a real server.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
            "--user-data-dir=" + _profile);
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);   // sent as goog:loggingPrefs
        try
        {
            _driver = new ChromeDriver(_service, options, TimeSpan.FromSeconds(60));
        }
        catch
        {
            _service.Dispose();
            TryDelete(_profile);
            throw;
        }
    }

    /// <summary>Skips the calling test without Chromium (fails under CI, which installs it).</summary>
    public static void RequireChromium()
    {
        if (Research.Charts.ChartImages.FindChromium() is not null) return;
        const string Reason = "Chromium not found";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail($"{Reason} (CI=true: .ci/run installs chromium)");
        Assert.Skip($"{Reason}; install chromium (apt) or set RESEARCH_CHROMIUM");
    }

    /// <summary>
    /// Starts the browser, or skips the calling test when Chromium or ChromeDriver is missing. Under CI
    /// (<c>CI=true</c>) a missing browser fails the test instead, since CI installs it (.ci/run).
    /// </summary>
    public static HeadlessChromium StartOrSkip()
    {
        var (browser, driver, reason) = Locate();
        if (reason is not null)
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
                Assert.Fail($"{reason} (CI=true: the browser tests must run; .ci/run installs chromium and chromium-driver)");
            Assert.Skip($"{reason}; install chromium and chromium-driver (apt) or set RESEARCH_CHROMIUM / RESEARCH_CHROMEDRIVER");
        }
        return new HeadlessChromium(browser!, driver!);
    }

    /// <summary>Chromium and ChromeDriver paths, or a reason why they were not found.</summary>
    public static (string? Browser, string? Driver, string? Reason) Locate()
    {
        // The browser the kit itself draws chart pictures with, found the same way.
        var browser = Research.Charts.ChartImages.FindChromium();
        var driver = Research.Platform.Executables.Find("RESEARCH_CHROMEDRIVER", ["/usr/bin/chromedriver"], ["chromedriver"]);
        string? reason = (browser, driver) switch
        {
            (null, null) => "Chromium and ChromeDriver not found",
            (null, _) => "Chromium not found",
            (_, null) => "ChromeDriver not found",
            _ => null,
        };
        return (browser, driver, reason);
    }

    /// <summary>
    /// Opens a local HTML file and waits (at most <paramref name="timeout"/>, default 30 s) until the page has loaded
    /// and every chart container holds Plotly's <c>svg.main-svg</c>. Returns what it saw even if that never happens,
    /// so a test can assert on a page that fails to draw.
    /// </summary>
    public PageReport Open(string htmlFile, TimeSpan? timeout = null)
    {
        // The driver hands out each log entry once; drop what an earlier page left so this report is this page's.
        _driver.Manage().Logs.GetLog(LogType.Browser);
        _driver.Navigate().GoToUrl(new Uri(Path.GetFullPath(htmlFile)).AbsoluteUri);

        // Containers: the kit's fragments (.research-chart) and anything Plotly took over (.js-plotly-plot).
        const string Probe = """
            var all = new Set([...document.querySelectorAll('.research-chart, .js-plotly-plot')]);
            var drawn = [...all].filter(e => e.querySelector('svg.main-svg')).length;
            return [document.readyState === 'complete', all.size, drawn];
            """;
        var limit = Stopwatch.StartNew();
        var deadline = timeout ?? TimeSpan.FromSeconds(30);
        long charts, drawn;
        while (true)
        {
            var state = (IReadOnlyList<object>)_driver.ExecuteScript(Probe)!;
            var loaded = (bool)state[0];
            (charts, drawn) = ((long)state[1], (long)state[2]);
            if ((loaded && drawn == charts) || limit.Elapsed > deadline) break;
            Thread.Sleep(100);
        }

        var resources = ((IReadOnlyList<object>)_driver.ExecuteScript(
                "return performance.getEntriesByType('resource').map(e => e.name);")!)
            .Select(o => (string)o).ToList();
        var texts = ((IReadOnlyList<object>)_driver.ExecuteScript(
                "return [...document.querySelectorAll('.research-chart')].map(e => e.querySelector('svg.main-svg') ? '' : e.textContent);")!)
            .Select(o => (string)o).ToList();
        var pictures = (long)_driver.ExecuteScript(
            "return [...document.querySelectorAll('.research-chart-picture')].filter(i => i.complete && i.naturalWidth > 0).length;")!;
        var severe = _driver.Manage().Logs.GetLog(LogType.Browser)
            .Where(e => e.Level == LogLevel.Severe).Select(e => e.Message).ToList();
        return new PageReport((int)charts, (int)drawn, severe, resources, texts, (int)pictures);
    }

    public void Dispose()
    {
        // Quit ends chromedriver's session and the browser processes; without it they outlive the test run.
        try { _driver.Quit(); }
        finally
        {
            _driver.Dispose();
            _service.Dispose();
            TryDelete(_profile);
        }
    }

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }          // Chromium may still be releasing files; a leftover temp dir is harmless.
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// One browser shared by a test class (start-up costs about 2 s), started on first use so that a missing browser
/// skips (or, under CI, fails) each test rather than breaking the class fixture.
/// </summary>
public sealed class SharedChromium : IDisposable
{
    private HeadlessChromium? _browser;

    public HeadlessChromium Browser => _browser ??= HeadlessChromium.StartOrSkip();

    public void Dispose() => _browser?.Dispose();
}
