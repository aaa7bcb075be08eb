using static TorchSharp.torch;

namespace Research.Training;

/// <summary>Memory of the process at one step.</summary>
/// <param name="WorkingSetMegabytes">Resident memory of the whole process (managed and libtorch's native heap).</param>
/// <param name="LiveTensors">TorchSharp tensors alive: a leak shows here before it shows in megabytes.</param>
public sealed record MemorySample(int Step, double WorkingSetMegabytes, long LiveTensors)
{
    /// <summary>The process's memory now, labelled with <paramref name="step"/>.</summary>
    public static MemorySample Now(int step)
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return new MemorySample(step, Math.Round(process.WorkingSet64 / 1048576.0, 1), Tensor.TotalCount);
    }
}
