namespace Research.Experiments;

/// <summary>
/// Refuses a config whose tensors cannot fit before anything is allocated, naming the fields and the estimate: a run
/// that would be killed by the OS (or thrash swap for an hour) after minutes of setup is worse than a one-line error.
/// </summary>
/// <remarks>
/// The limit is half of the memory .NET sees as available (<c>GC.GetGCMemoryInfo().TotalAvailableMemoryBytes</c>: the
/// machine's physical memory, or the container's or job's limit when one is set). The estimates count the largest
/// tensors a config asks for, not every temporary, so the other half covers what they leave out (autograd's saved
/// activations beyond the ones counted, libtorch's allocator, the .NET runtime).
/// </remarks>
public static class MemoryLimit
{
    /// <summary>Bytes of one float32.</summary>
    public const int Float32 = 4;

    /// <summary>The memory a run may plan to use, in bytes.</summary>
    public static long Bytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;

    /// <summary>
    /// Throws a <see cref="ConfigException"/> "<paramref name="owner"/>: <paramref name="what"/> = 412 GiB exceeds the
    /// memory limit (…)" when <paramref name="bytes"/> is above <see cref="Bytes"/>. A double, so a product of large
    /// fields cannot overflow before it is compared.
    /// </summary>
    public static void Check(string owner, string what, double bytes)
    {
        long limit = Bytes;
        if (bytes > limit)
            throw new ConfigException($"{owner}: {what} = {Format(bytes)} exceeds the memory limit ({Format(limit)}, half of the " +
                                      $"{Format(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes)} this machine makes available); make them smaller");
    }

    /// <summary>Bytes as KiB, MiB, GiB or TiB with three significant digits.</summary>
    public static string Format(double bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        int unit = 0;
        while (bytes >= 1024 && unit < units.Length - 1) { bytes /= 1024; unit++; }
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{bytes:G3} {units[unit]}");
    }
}
