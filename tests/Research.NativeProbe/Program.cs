// Usage: Research.NativeProbe status | warn | load-original
//   status         load TorchSharp through the kit, print the runtime status and one matmul as JSON
//   warn           also trigger one libtorch warning, which libtorch prints through std::cerr
//   load-original  dlopen the unpatched libLibTorchSharp.so and print the loader's answer (never touches TorchSharp)
using System.Runtime.InteropServices;
using System.Text.Json;
using Research.Platform;
using TorchSharp;

var mode = args.Length > 0 ? args[0] : "status";
if (mode == "load-original")
{
    var path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    try { NativeLibrary.Load(path); Console.WriteLine("loaded"); return 0; }
    catch (DllNotFoundException e) { Console.WriteLine(e.Message); return 3; }
}

var status = TorchRuntime.EnsureLoaded();
using var a = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
var product = a.matmul(a).data<float>().ToArray();
if (mode == "warn")
{
    // Writing through an expanded (stride-0) view is deprecated; libtorch says so with TORCH_WARN → std::cerr.
    using var expanded = torch.ones(1).expand(3);
    expanded.masked_fill_(torch.tensor(new[] { true, false, true }), 0f);
    Console.Error.Flush();
}
Console.WriteLine(JsonSerializer.Serialize(new { status.FixActive, status.Detail, status.PatchedLibrary, product }));
return 0;
