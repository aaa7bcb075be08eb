using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Platform;

/// <summary>One self-check: what was computed against what it must equal.</summary>
public sealed record DoctorCheck(string Name, bool Passed, string Detail);

/// <summary>What <c>research doctor</c> reports: versions, backend, devices, threads, the libstdc++ fix and self-checks.</summary>
public sealed record DoctorReport(
    string Os, string Architecture, string DotNet, string TorchSharp, string LibTorch, string Backend,
    IReadOnlyList<string> Devices, int Threads, int InteropThreads, TorchRuntimeStatus CompatibilityFix,
    IReadOnlyList<DoctorCheck> Checks)
{
    /// <summary>True when TorchSharp loaded and every self-check passed.</summary>
    public bool Healthy => Checks.Count > 0 && Checks.All(c => c.Passed);
}

/// <summary>Collects the <see cref="DoctorReport"/>; the first thing a workshop participant runs.</summary>
public static class Doctor
{
    /// <summary>float8 dtypes libtorch has and TorchSharp 0.107's ScalarType does not name (c10 ScalarType order).</summary>
    public const ScalarType Float8E5M2 = (ScalarType)23, Float8E4M3FN = (ScalarType)24;

    public static DoctorReport Run()
    {
        var fix = TorchRuntime.EnsureLoaded();
        var torchSharp = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
        var backend = typeof(Doctor).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "ResearchBackend")?.Value ?? "?";
        string libTorch = "not loaded";
        var devices = new List<string>();
        int threads = 0, interop = 0;
        var checks = new List<DoctorCheck>();
        try
        {
            libTorch = torch.__version__;
            threads = torch.get_num_threads();
            interop = torch.get_num_interop_threads();
            devices.Add("cpu");
            if (torch.cuda.is_available())
                devices.AddRange(Enumerable.Range(0, torch.cuda.device_count()).Select(i => $"cuda:{i}"));
            checks.Add(Check("matmul", MatmulCheck));
            checks.Add(Check("autograd", AutogradCheck));
            checks.Add(Check("float8", Float8Check));
        }
        catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException or ExternalException)
        {
            checks.Add(new DoctorCheck("load", false, $"TorchSharp did not load: {(e.InnerException ?? e).Message.Split('\n')[0]}"));
        }
        return new DoctorReport(RuntimeInformation.OSDescription, RuntimeInformation.ProcessArchitecture.ToString(),
            RuntimeInformation.FrameworkDescription, torchSharp, libTorch, backend, devices, threads, interop, fix, checks);
    }

    private static DoctorCheck Check(string name, Func<(bool, string)> check)
    {
        using var scope = NewDisposeScope();
        try
        {
            var (ok, detail) = check();
            return new DoctorCheck(name, ok, detail);
        }
        catch (Exception e) when (e is ExternalException or InvalidOperationException or ArgumentException)
        {
            return new DoctorCheck(name, false, e.Message.Split('\n')[0]);
        }
    }

    // [[1,2],[3,4]]·[[5,6],[7,8]] = [[1·5+2·7, 1·6+2·8], [3·5+4·7, 3·6+4·8]] = [[19,22],[43,50]], worked by hand.
    private static (bool, string) MatmulCheck()
    {
        var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var b = tensor(new float[] { 5, 6, 7, 8 }).reshape(2, 2);
        var c = a.matmul(b).data<float>().ToArray();
        return (c.SequenceEqual([19f, 22f, 43f, 50f]), $"[[1,2],[3,4]]·[[5,6],[7,8]] = [[{c[0]},{c[1]}],[{c[2]},{c[3]}]] (expected [[19,22],[43,50]])");
    }

    // d/dx Σ x³ = 3x²: at x = [1, 2, 3] the gradient is [3, 12, 27].
    private static (bool, string) AutogradCheck()
    {
        var x = tensor(new float[] { 1, 2, 3 }, requires_grad: true);
        x.pow(3).sum().backward();
        var g = x.grad!.data<float>().ToArray();
        return (g.SequenceEqual([3f, 12f, 27f]), $"∇ Σx³ at [1,2,3] = [{string.Join(",", g)}] (expected [3,12,27])");
    }

    // 0.3 = 1.2·2⁻²; with 3 (e4m3) or 2 (e5m2) mantissa bits the nearest value is 1.25·2⁻² = 0.3125.
    // 448 is e4m3's largest finite value and 57344 e5m2's (OCP FP8 spec), so both survive exactly.
    private static (bool, string) Float8Check()
    {
        var e4m3 = tensor(new float[] { 1f, 0.3f, 448f }).to_type(Float8E4M3FN).to_type(ScalarType.Float32).data<float>().ToArray();
        var e5m2 = tensor(new float[] { 1f, 0.3f, 57344f }).to_type(Float8E5M2).to_type(ScalarType.Float32).data<float>().ToArray();
        bool ok = e4m3.SequenceEqual([1f, 0.3125f, 448f]) && e5m2.SequenceEqual([1f, 0.3125f, 57344f]);
        return (ok, $"e4m3fn [1,0.3,448] → [{string.Join(",", e4m3)}]; e5m2 [1,0.3,57344] → [{string.Join(",", e5m2)}]");
    }
}
