using Research.Experiments;

namespace Research.Accounting;

/// <summary>A training or inference machine as the accounting needs it: per-device dense tensor-core peaks, memory and
/// memory bandwidth, and how many devices a node holds.</summary>
/// <param name="PeakBf16">Dense BF16 tensor-core FLOP/s per device (0: not a training accelerator).</param>
/// <param name="PeakFp8">Dense FP8 tensor-core FLOP/s per device (0: none).</param>
/// <param name="MemoryBytes">Memory one device holds (unified memory for an SoC).</param>
/// <param name="BandwidthBytesPerSecond">Memory bandwidth per device.</param>
/// <param name="Devices">Devices that pool their memory and bandwidth (8 in a DGX/HGX node, 1 otherwise).</param>
public sealed record Hardware(string Name, double PeakBf16, double PeakFp8, double MemoryBytes, double BandwidthBytesPerSecond, int Devices, string Source)
{
    public double TotalMemoryBytes => MemoryBytes * Devices;
    public double TotalBandwidth => BandwidthBytesPerSecond * Devices;

    private const string HopperSource = "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column: FP8 3,958 and BF16 1,979 TFLOPS " +
        "with sparsity (dense: half), 80 GB HBM3 at 3.35 TB/s";

    /// <summary>NVIDIA H100 SXM (80 GB): what Meta trained Llama 3.1 on.</summary>
    public static Hardware H100 { get; } = new("h100", 989.5e12, 1979e12, 80e9, 3.35e12, 1, HopperSource);

    /// <summary>NVIDIA H800 SXM, DeepSeek-V3's training GPU (V3 §3.1): the H100's tensor cores and memory with NVLink cut to
    /// 400 GB/s for export (unverified: no H800 datasheet is in the kit's reference; peaks taken as the H100's).</summary>
    public static Hardware H800 { get; } = H100 with { Name = "h800", Source = HopperSource + "; H800 = H100 compute and memory with 400 GB/s NVLink (unverified)" };

    /// <summary>One 8-GPU H800 node (V3 §3.1: 8 GPUs per node over NVLink/NVSwitch).</summary>
    public static Hardware H800Node { get; } = H800 with { Name = "h800-node", Devices = 8, Source = "8 × " + H800.Source + "; 8 GPUs per node: V3 §3.1" };

    /// <summary>Apple M2 Ultra with its largest memory, the consumer machine of the seed essays.</summary>
    public static Hardware M2Ultra { get; } = new("m2-ultra", 0, 0, 192e9, 800e9, 1,
        "Apple Newsroom, \"Apple introduces M2 Ultra\" (5 June 2023): 800 GB/s unified memory bandwidth, up to 192 GB unified memory");

    /// <summary>NVIDIA GeForce RTX 4090, a consumer GPU.</summary>
    public static Hardware Rtx4090 { get; } = new("rtx-4090", 0, 0, 24e9, 1008e9, 1,
        "NVIDIA GeForce RTX 4090 specifications: 24 GB GDDR6X, 1,008 GB/s (unverified: not in the kit's reference)");

    public static IReadOnlyList<Hardware> All { get; } = [H800, H100, H800Node, M2Ultra, Rtx4090];

    public static IReadOnlyList<string> Names => [.. All.Select(h => h.Name)];

    /// <summary>Training GPUs (those with a BF16 peak).</summary>
    public static IReadOnlyList<string> GpuNames => [.. All.Where(h => h.PeakBf16 > 0 && h.Devices == 1).Select(h => h.Name)];

    public static Hardware Find(string name) =>
        All.FirstOrDefault(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ConfigException($"unknown hardware '{name}'; known: {string.Join(", ", Names)}");

    /// <summary>A training GPU by name; the others are an error listing the training GPUs.</summary>
    public static Hardware FindGpu(string name) =>
        All.FirstOrDefault(h => h.PeakBf16 > 0 && h.Devices == 1 && string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ConfigException($"gpu must be one of {string.Join(", ", GpuNames)} (got '{name}')");
}
