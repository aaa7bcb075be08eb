namespace Research.Platform;

/// <summary>Finds a program the kit starts but does not ship (Chromium, ChromeDriver).</summary>
public static class Executables
{
    /// <summary>
    /// The program named by the environment variable <paramref name="variable"/> if it is set (null if it names no file:
    /// an explicit setting that points nowhere is reported, not replaced by another program), else the first of
    /// <paramref name="installed"/> that exists, else the first of <paramref name="commands"/> on the PATH.
    /// </summary>
    public static string? Find(string variable, IEnumerable<string> installed, IEnumerable<string> commands)
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(fromEnvironment)) return File.Exists(fromEnvironment) ? fromEnvironment : null;
        var suffix = OperatingSystem.IsWindows() ? ".exe" : "";
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(dir => commands.Select(c => Path.Combine(dir, c + suffix)));
        return installed.Concat(onPath).FirstOrDefault(File.Exists);
    }
}
