using System.Diagnostics;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using Xunit;

namespace Research.Tests.Browser;

/// <summary>
/// What a page did in the browser: charts found and drawn, console errors, resources it fetched, and the text each
/// kit chart container shows (empty when drawn; a message when plotly.js could not be had).
/// </summary>
public sealed record PageReport(int Charts, int ChartsDrawn, IReadOnlyList<string> SevereLogs, IReadOnlyList<string> Resources,
    IReadOnlyList<string> ChartTexts)
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
        string[] installed = OperatingSystem.IsWindows()
            ? [Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ProgramFiles), @"Google\Chrome\Application\chrome.exe")]
            : ["/usr/bin/chromium", "/usr/bin/chromium-browser",
               "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", "/Applications/Chromium.app/Contents/MacOS/Chromium"];
        var browser = Find("RESEARCH_CHROMIUM", installed, ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]);
        var driver = Find("RESEARCH_CHROMEDRIVER", ["/usr/bin/chromedriver"], ["chromedriver"]);
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
                "return [...document.querySelectorAll('.research-chart')].map(e => e.querySelector('svg') ? '' : e.textContent);")!)
            .Select(o => (string)o).ToList();
        var severe = _driver.Manage().Logs.GetLog(LogType.Browser)
            .Where(e => e.Level == LogLevel.Severe).Select(e => e.Message).ToList();
        return new PageReport((int)charts, (int)drawn, severe, resources, texts);
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

    private static string? Find(string envVar, string[] paths, string[] pathCommands)
    {
        // An explicit setting wins; if it points nowhere, report "not found" rather than silently using another browser.
        var fromEnv = Environment.GetEnvironmentVariable(envVar);
        if (!string.IsNullOrEmpty(fromEnv)) return File.Exists(fromEnv) ? fromEnv : null;
        var existing = paths.FirstOrDefault(File.Exists);
        if (existing is not null) return existing;
        var suffix = OperatingSystem.IsWindows() ? ".exe" : "";
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return pathCommands.SelectMany(c => dirs.Select(d => Path.Combine(d, c + suffix))).FirstOrDefault(File.Exists);
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
