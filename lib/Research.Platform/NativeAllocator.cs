using System.Runtime.InteropServices;

namespace Research.Platform;

/// <summary>
/// Keeps glibc from handing libtorch's freed buffers back to the kernel between steps. With its defaults, glibc serves
/// blocks above its mmap threshold (128 KiB, adapting up to 32 MiB) with fresh mmap calls and trims the heap top after
/// frees, so every step of a model with many mid-size temporaries (an MoE layer's gathered rows, one slice per expert)
/// pays page faults and zeroing for memory it had a moment ago: measured on this kit's MoE benchmark, 300 ms instead
/// of 165 ms per forward+backward. Raising both thresholds keeps the process at its peak footprint, which a training
/// loop reaches in its first step anyway. Only glibc Linux; elsewhere, or with RESEARCH_ALLOCATOR=default, a no-op.
/// </summary>
public static class NativeAllocator
{
    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_THRESHOLD = -3;

    /// <summary>Largest mmap threshold glibc accepts on 64-bit (HEAP_MAX_SIZE / 2).</summary>
    public const int MmapThreshold = 32 << 20;

    /// <summary>Free memory at the top of the heap kept before trimming.</summary>
    public const int TrimThreshold = 1 << 30;

    private static readonly Lazy<bool> Tuned = new(TuneCore);

    /// <summary>Applies the thresholds once; true when glibc accepted them.</summary>
    public static bool Tune() => Tuned.Value;

    private static bool TuneCore()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("RESEARCH_ALLOCATOR") == "default") return false;
        try
        {
            return mallopt(M_MMAP_THRESHOLD, MmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, TrimThreshold) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;   // musl and other C libraries: no mallopt, nothing to tune
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
