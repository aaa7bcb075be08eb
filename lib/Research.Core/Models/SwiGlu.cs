using Research.Fp8;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// SwiGLU feed-forward (Shazeer 2020), the FFN of LLaMA and of DeepSeek's dense layers and experts:
/// W₂ (SiLU(W₁ x) ⊙ W₃ x).
/// </summary>
public sealed class SwiGlu : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate;     // W₁ [hidden, d]
    private readonly Linear up;       // W₃ [hidden, d]
    private readonly Linear output;   // W₂ [d, hidden]; a residual projection for TinyLm's init

    /// <param name="gemms">Precision of the layer's GEMMs (<see cref="Fp8TrainingRecipe"/>, e.g. V3's E4M3 with 1×128
    /// tiles and 128×128 blocks); null: FP32.</param>
    public SwiGlu(int dim, int hidden, Device device, Fp8TrainingRecipe? gemms = null) : base(nameof(SwiGlu))
    {
        Gemms = gemms?.Validated();
        gate = nn.Linear(dim, hidden, hasBias: false, device: device);
        up = nn.Linear(dim, hidden, hasBias: false, device: device);
        output = nn.Linear(hidden, dim, hasBias: false, device: device);
        RegisterComponents();
    }

    /// <summary>The GEMMs' precision; null: FP32.</summary>
    public Fp8TrainingRecipe? Gemms { get; }

    public override Tensor forward(Tensor x)   // [..., d] → [..., d]
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.silu(gate.Apply(x, Gemms)) * up.Apply(x, Gemms);   // [..., hidden]
        return output.Apply(h, Gemms).MoveToOuterDisposeScope();
    }
}
