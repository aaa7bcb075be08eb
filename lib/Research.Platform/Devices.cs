using TorchSharp;

namespace Research.Platform;

/// <summary>Choosing and waiting on devices. Library code takes a <see cref="torch.Device"/>; only this parses names.</summary>
public static class Devices
{
    /// <summary>Names accepted by <see cref="Parse"/>.</summary>
    public const string Allowed = "cpu, cuda, cuda:<index>";

    /// <summary>The device named <paramref name="name"/>; an unknown or unavailable device is an error naming it.</summary>
    public static torch.Device Parse(string name)
    {
        TorchRuntime.EnsureLoaded();
        var n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return torch.CPU;
        if (n == "cuda" || (n.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(n[5..], out _)))
        {
            if (!torch.cuda.is_available())
                throw new ArgumentException($"device '{name}' is not available: this build or machine has no CUDA " +
                                            "(build with -p:ResearchBackend=cuda-linux or cuda-windows; see environment/README.md)");
            return torch.device(n);
        }
        throw new ArgumentException($"device '{name}' is not known; allowed values: {Allowed}");
    }

    /// <summary>Waits until queued work on <paramref name="device"/> is done, so timings measure the work itself.</summary>
    public static void Synchronize(torch.Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
    }
}
