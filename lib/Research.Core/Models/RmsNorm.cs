using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>RMSNorm (Zhang &amp; Sennrich 2019): x / √(mean(x²) + ε) · g, with a learned gain g and no bias.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;   // g [d]
    private readonly double epsilon;

    public RmsNorm(int dim, double epsilon, Device device) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(dim, device: device));
        this.epsilon = epsilon;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Normalize(x, weight, epsilon);   // [..., d] → [..., d]

    /// <summary>The pure function: x · rsqrt(mean(x², last dim) + ε) · g.</summary>
    public static Tensor Normalize(Tensor x, Tensor gain, double epsilon)
    {
        using var scope = NewDisposeScope();
        var rms = (x.square().mean([-1], keepdim: true) + epsilon).rsqrt();   // [..., 1]
        return (x * rms * gain).MoveToOuterDisposeScope();
    }
}
