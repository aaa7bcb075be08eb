using Research.Platform;
using TorchSharp;
var s = TorchRuntime.EnsureLoaded();
Console.WriteLine(s);
using var a = torch.ones(2, 2);
Console.WriteLine(a.matmul(a).sum().item<float>());
