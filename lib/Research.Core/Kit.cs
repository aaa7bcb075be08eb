using Research.Platform;
using TorchSharp;

namespace Research;

/// <summary>Entry point for notebooks: one call that loads TorchSharp and picks the device.</summary>
public static class Kit
{
    /// <summary>
    /// Loads TorchSharp (with the Linux libstdc++ fix where needed) and returns the device named
    /// <paramref name="device"/>: "cpu" (default), "cuda" or "cuda:N" (needs a CUDA build; see environment/README.md).
    /// </summary>
    public static torch.Device Setup(string device = "cpu") => Devices.Parse(device);   // Parse loads TorchSharp first
}
